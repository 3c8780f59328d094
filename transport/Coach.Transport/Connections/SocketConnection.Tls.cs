using System.Buffers;
using System.IO.Pipelines;
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
/// TLS under the pipes: the handshake runs on the socket before <see cref="Start"/>, then the loops
/// move the authenticated <see cref="SslStream"/>'s plaintext instead of raw socket bytes. The plain
/// loops stay as they are (no stream in between, no allocation per receive).
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

    private async Task ReceiveTlsLoopAsync(SslStream stream)
    {
        PipeWriter writer = _input.Writer;
        Exception? error = null;
        try
        {
            while (!_aborted.IsCancellationRequested)
            {
                Memory<byte> memory = writer.GetMemory(_options.MinimumSegmentSize);
                int received = await stream.ReadAsync(memory, _aborted.Token).ConfigureAwait(false);
                if (received == 0)
                {
                    break; // close_notify or the peer closed its side
                }

                writer.Advance(received);
                Interlocked.Add(ref _bytesReceived, received);
                FlushResult flush = await writer.FlushAsync().ConfigureAwait(false);
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        catch (IOException e) when (e.InnerException is SocketException socketError && IsConnectionReset(socketError))
        {
        }
        catch (IOException) when (_aborted.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            error = e; // a TLS alert (e.g. the cloud refusing this edge's certificate) reaches the reader
        }
        finally
        {
            await writer.CompleteAsync(error).ConfigureAwait(false);
        }
    }

    private async Task SendTlsLoopAsync(SslStream stream)
    {
        PipeReader reader = _output.Reader;
        Exception? error = null;
        try
        {
            while (true)
            {
                ReadResult result = await reader.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    break; // aborted
                }

                ReadOnlySequence<byte> buffer = result.Buffer;
                foreach (ReadOnlyMemory<byte> segment in buffer)
                {
                    await SendTlsSegmentAsync(stream, segment).ConfigureAwait(false);
                }

                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }

            if (!_aborted.IsCancellationRequested)
            {
                await stream.ShutdownAsync().ConfigureAwait(false); // close_notify, then the TCP FIN
                _socket.Shutdown(SocketShutdown.Send);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        catch (SocketException e) when (IsConnectionReset(e))
        {
        }
        catch (IOException e) when (e.InnerException is SocketException socketError && IsConnectionReset(socketError))
        {
        }
        catch (IOException) when (_aborted.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            error = e;
        }
        finally
        {
            await reader.CompleteAsync(error).ConfigureAwait(false);
        }
    }

    private async ValueTask SendTlsSegmentAsync(SslStream stream, ReadOnlyMemory<byte> segment)
    {
        while (!segment.IsEmpty)
        {
            ReadOnlyMemory<byte> chunk = segment;
            LinkShaper? shaper = Shaper;
            if (shaper is not null)
            {
                // Shaped on plaintext bytes: TLS adds ~30 bytes per ≤16 KiB record, under 0.2 %.
                if (chunk.Length > shaper.ChunkBytes)
                {
                    chunk = chunk[..shaper.ChunkBytes];
                }

                await shaper.AcquireAsync(chunk.Length, _aborted.Token).ConfigureAwait(false);
            }

            await stream.WriteAsync(chunk, _aborted.Token).ConfigureAwait(false);
            Interlocked.Add(ref _bytesSent, chunk.Length);
            segment = segment[chunk.Length..];
        }
    }
}
