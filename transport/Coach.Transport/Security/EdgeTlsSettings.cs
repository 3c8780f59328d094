using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Coach.Transport.Security;

/// <summary>
/// TLS at the edge (<c>coach-edge run --tls [--tls-ca FILE] [--tls-server-name NAME] [--tls-cert FILE --tls-key FILE]</c>):
/// the edge checks that the cloud's certificate chains to <see cref="TrustedAuthorities"/> (or, when
/// null, to the system's trust store) and names the host it dialled (or <see cref="ServerName"/>);
/// with <see cref="ClientCertificate"/> it presents its own certificate for mutual TLS.
/// </summary>
public sealed class EdgeTlsSettings
{
    private readonly SslStreamCertificateContext? _clientContext;

    public EdgeTlsSettings(X509Certificate2Collection? trustedAuthorities = null, string? serverName = null, X509Certificate2? clientCertificate = null, X509Certificate2Collection? clientIntermediates = null)
    {
        if (trustedAuthorities is { Count: 0 })
        {
            throw new ArgumentException("a CA bundle to trust needs at least one certificate (or give none to use the system's trust store)", nameof(trustedAuthorities));
        }

        if (clientCertificate is { HasPrivateKey: false })
        {
            throw new ArgumentException($"the client certificate '{clientCertificate.Subject}' has no private key; give --tls-key with the key it was issued for", nameof(clientCertificate));
        }

        TrustedAuthorities = trustedAuthorities;
        ServerName = string.IsNullOrWhiteSpace(serverName) ? null : serverName;
        ClientCertificate = clientCertificate;
        if (clientCertificate is not null)
        {
            _clientContext = SslStreamCertificateContext.Create(clientCertificate, clientIntermediates ?? [], offline: true);
        }
    }

    /// <summary>CAs the cloud's certificate must chain to; null = the system's trust store.</summary>
    public X509Certificate2Collection? TrustedAuthorities { get; }

    /// <summary>Name the cloud's certificate must carry; null = the host of the cloud address.</summary>
    public string? ServerName { get; }

    /// <summary>This edge's certificate for mutual TLS (its subject CN is the client id the cloud expects), or null.</summary>
    public X509Certificate2? ClientCertificate { get; }

    /// <summary>One log line's worth.</summary>
    public string Describe => "TLS"
        + (TrustedAuthorities is null ? " (system trust store)" : $" (trusting {string.Join(", ", TrustedAuthorities.Select(c => $"'{c.Subject}'"))})")
        + (ServerName is null ? string.Empty : $", server name '{ServerName}'")
        + (ClientCertificate is null ? string.Empty : $", client certificate '{ClientCertificate.Subject}'");

    /// <summary>
    /// Loads the files: <paramref name="caPath"/> (PEM CA bundle; null = system trust store) and,
    /// for mutual TLS, <paramref name="certificatePath"/> with <paramref name="keyPath"/> (PEM).
    /// </summary>
    public static EdgeTlsSettings Load(string? caPath = null, string? serverName = null, string? certificatePath = null, string? keyPath = null, Action<string>? warn = null)
    {
        if ((certificatePath is null) != (keyPath is null))
        {
            throw new ArgumentException("mutual TLS needs both the client certificate and its key: give --tls-cert FILE and --tls-key FILE together");
        }

        X509Certificate2Collection? authorities = caPath is null ? null : TlsFiles.LoadCertificates(caPath, "CA bundle");
        X509Certificate2? certificate = null;
        X509Certificate2Collection? intermediates = null;
        if (certificatePath is not null)
        {
            certificate = TlsFiles.LoadCertificateWithKey(certificatePath, keyPath!, out intermediates, warn);
        }

        return new EdgeTlsSettings(authorities, serverName, certificate, intermediates);
    }

    /// <summary>The name the cloud's certificate is checked against when dialling <paramref name="cloud"/>.</summary>
    public string TargetHostFor(EndPoint cloud) => ServerName ?? cloud switch
    {
        DnsEndPoint dns => dns.Host,
        IPEndPoint ip => ip.Address.ToString(),
        _ => cloud.ToString() ?? string.Empty,
    };

    /// <summary>Options for one connection; <paramref name="verdict"/> receives why the cloud's certificate was refused.</summary>
    internal SslClientAuthenticationOptions CreateClientOptions(string targetHost, TlsPeerVerdict verdict)
    {
        X509Certificate2Collection? authorities = TrustedAuthorities;
        return new SslClientAuthenticationOptions
        {
            TargetHost = targetHost,
            ClientCertificateContext = _clientContext,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
            {
                if (certificate is null)
                {
                    verdict.Failure = "the cloud sent no certificate";
                    return false;
                }

                X509Certificate2 presented = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                verdict.PeerCommonName = presented.GetNameInfo(X509NameType.SimpleName, forIssuer: false);
                if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
                {
                    verdict.Failure = $"its certificate '{presented.Subject}' is not issued to '{targetHost}' (no matching subject alternative name); give --tls-server-name with a name it carries";
                    return false;
                }

                if (authorities is null)
                {
                    verdict.Failure = (errors & SslPolicyErrors.RemoteCertificateChainErrors) == 0 ? null
                        : $"its certificate '{presented.Subject}' does not chain to a CA of the system's trust store ({string.Join("; ", chain?.ChainStatus.Select(s => s.StatusInformation.Trim()) ?? [])}); give the CA with --tls-ca FILE";
                }
                else
                {
                    verdict.Failure = TlsFiles.CheckChain(presented, authorities, TlsFiles.ServerAuthenticationOid, chain);
                }

                return verdict.Failure is null;
            },
        };
    }
}
