using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Coach.Transport.Security;

/// <summary>
/// TLS at the cloud (<c>coach-cloud serve --tls-cert FILE --tls-key FILE [--tls-client-ca FILE]</c>):
/// every accepted connection completes a TLS handshake before any protocol byte is read. With
/// <see cref="ClientAuthorities"/> (mutual TLS) the edge must present a certificate that chains to
/// one of them, for client authentication; such an edge is authenticated without the pre-shared
/// key, and its Hello's client id must equal the certificate's subject common name (docs/security.md §4).
/// </summary>
public sealed class CloudTlsSettings
{
    private readonly SslStreamCertificateContext _context;

    public CloudTlsSettings(X509Certificate2 certificate, X509Certificate2Collection? clientAuthorities = null, X509Certificate2Collection? intermediates = null)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        if (!certificate.HasPrivateKey)
        {
            throw new ArgumentException($"the server certificate '{certificate.Subject}' has no private key; give --tls-key with the key it was issued for", nameof(certificate));
        }

        if (clientAuthorities is { Count: 0 })
        {
            throw new ArgumentException("mutual TLS needs at least one client CA certificate", nameof(clientAuthorities));
        }

        Certificate = certificate;
        ClientAuthorities = clientAuthorities;
        // offline: the chain is built from what is given, nothing is fetched (the cloud may have no Internet route).
        _context = SslStreamCertificateContext.Create(certificate, intermediates ?? [], offline: true);
    }

    /// <summary>The server's certificate (with its private key).</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>CAs a client certificate must chain to; null = no client certificate asked for.</summary>
    public X509Certificate2Collection? ClientAuthorities { get; }

    /// <summary>Mutual TLS: every edge must present a certificate from <see cref="ClientAuthorities"/>.</summary>
    public bool RequiresClientCertificate => ClientAuthorities is not null;

    /// <summary>One log line's worth: the certificate and whether client certificates are required.</summary>
    public string Describe => $"TLS with certificate '{Certificate.Subject}' (expires {Certificate.NotAfter:yyyy-MM-dd})"
        + (ClientAuthorities is null ? ", no client certificates" : $", mutual TLS: client certificates from {string.Join(", ", ClientAuthorities.Select(c => $"'{c.Subject}'"))} required");

    /// <summary>Loads the server certificate and key (PEM) and, for mutual TLS, the client CA bundle (PEM).</summary>
    public static CloudTlsSettings Load(string certificatePath, string keyPath, string? clientCaPath = null, Action<string>? warn = null)
    {
        X509Certificate2 certificate = TlsFiles.LoadCertificateWithKey(certificatePath, keyPath, out X509Certificate2Collection intermediates, warn);
        X509Certificate2Collection? clientAuthorities = clientCaPath is null ? null : TlsFiles.LoadCertificates(clientCaPath, "client CA bundle");
        if (certificate.NotAfter < DateTime.Now)
        {
            warn?.Invoke($"WARNING: the server certificate '{certificate.Subject}' expired on {certificate.NotAfter:yyyy-MM-dd}; edges will refuse it");
        }

        return new CloudTlsSettings(certificate, clientAuthorities, intermediates);
    }

    /// <summary>Options for one accepted connection; <paramref name="verdict"/> receives why a client certificate was refused.</summary>
    internal SslServerAuthenticationOptions CreateServerOptions(TlsPeerVerdict verdict)
    {
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = _context,
            ClientCertificateRequired = ClientAuthorities is not null,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        };
        if (ClientAuthorities is { } authorities)
        {
            options.RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
            {
                if (certificate is null)
                {
                    verdict.Failure = "the client sent no certificate; this server requires mutual TLS (start the edge with --tls-cert FILE --tls-key FILE from the CA of --tls-client-ca)";
                    return false;
                }

                X509Certificate2 presented = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                verdict.Failure = TlsFiles.CheckChain(presented, authorities, TlsFiles.ClientAuthenticationOid, chain);
                verdict.PeerCommonName = presented.GetNameInfo(X509NameType.SimpleName, forIssuer: false);
                return verdict.Failure is null;
            };
        }

        return options;
    }
}

/// <summary>What a certificate validation callback decided, for the log line of a failed TLS handshake.</summary>
internal sealed class TlsPeerVerdict
{
    public string? Failure { get; set; }

    public string? PeerCommonName { get; set; }
}
