using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Coach.Transport.Connections;

/// <summary>What the TLS handshake of a connection settled on.</summary>
/// <param name="Protocol">TLS version.</param>
/// <param name="CipherSuite">Negotiated cipher suite.</param>
/// <param name="PeerCertificate">The certificate the peer presented and the validation callback accepted; null when none was asked for.</param>
public sealed record TlsSessionInfo(SslProtocols Protocol, TlsCipherSuite CipherSuite, X509Certificate2? PeerCertificate)
{
    public override string ToString() => $"{Protocol} {CipherSuite}" + (PeerCertificate is null ? string.Empty : $", peer '{PeerCertificate.Subject}'");
}

/// <summary>
/// TLS under the pipes: the handshake runs on the socket before <see cref="Start"/>, then the same
/// receive and send loops move the authenticated <see cref="SslStream"/>'s plaintext instead of raw
/// socket bytes. A plain connection calls the socket directly (no stream in between, no allocation
/// per receive).
/// </summary>
public sealed partial class SocketConnection
{
    private SslStream? _tlsStream;

    /// <summary>The TLS session when the connection runs over TLS; null on a plain connection.</summary>
    public TlsSessionInfo? Tls { get; private set; }

    /// <summary>Connects to <paramref name="endpoint"/>, runs the TLS client handshake when <paramref name="tls"/> is given, and starts the loops.</summary>
    public static async Task<SocketConnection> ConnectAsync(EndPoint endpoint, ConnectionOptions? options, SslClientAuthenticationOptions? tls, CancellationToken cancellationToken = default)
    {
        if (tls is null)
        {
            return await ConnectAsync(endpoint, options, cancellationToken).ConfigureAwait(false);
        }

        Socket socket = CreateSocketFor(endpoint);
        SocketConnection? connection = null;
        try
        {
            await socket.ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false);
            connection = new SocketConnection(socket, options);
            await connection.AuthenticateAsClientAsync(tls, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            if (connection is not null)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                socket.Dispose();
            }

            throw;
        }

        connection.Start();
        return connection;
    }

    /// <summary>
    /// Runs the TLS server handshake on the accepted socket (before <see cref="Start"/>). Throws
    /// <see cref="AuthenticationException"/> or <see cref="IOException"/> when it fails (the caller
    /// disposes the connection), <see cref="OperationCanceledException"/> at the deadline.
    /// </summary>
    public async Task AuthenticateAsServerAsync(SslServerAuthenticationOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        SslStream stream = CreateTlsStream();
        await stream.AuthenticateAsServerAsync(options, cancellationToken).ConfigureAwait(false);
        Tls = Describe(stream);
    }

    /// <summary>Runs the TLS client handshake on the connected socket (before <see cref="Start"/>).</summary>
    public async Task AuthenticateAsClientAsync(SslClientAuthenticationOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        SslStream stream = CreateTlsStream();
        await stream.AuthenticateAsClientAsync(options, cancellationToken).ConfigureAwait(false);
        Tls = Describe(stream);
    }

    private SslStream CreateTlsStream()
    {
        if (Volatile.Read(ref _started) != 0 || _tlsStream is not null)
        {
            throw new InvalidOperationException("TLS must be negotiated once, before the connection's loops start");
        }

        // The socket stays owned by this connection (Abort disposes it, which also ends the stream's I/O).
        _tlsStream = new SslStream(new NetworkStream(_socket, ownsSocket: false), leaveInnerStreamOpen: false);
        return _tlsStream;
    }

    private static TlsSessionInfo Describe(SslStream stream)
    {
        X509Certificate? remote = stream.RemoteCertificate;
        X509Certificate2? peer = remote is null ? null : remote as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(remote.GetRawCertData());
        return new TlsSessionInfo(stream.SslProtocol, stream.NegotiatedCipherSuite, peer);
    }
}
