using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Coach.Transport.Security;

/// <summary>
/// PEM certificate and key files for TLS, and the one chain check both ends use: a peer
/// certificate is good when it chains to one of the given authorities (custom root trust, not the
/// system store), is within its validity period and allows the expected use (server or client
/// authentication extended key usage, when it lists any).
/// </summary>
public static class TlsFiles
{
    /// <summary>Extended key usage "TLS web server authentication".</summary>
    public const string ServerAuthenticationOid = "1.3.6.1.5.5.7.3.1";

    /// <summary>Extended key usage "TLS web client authentication".</summary>
    public const string ClientAuthenticationOid = "1.3.6.1.5.5.7.3.2";

    /// <summary>
    /// Loads a certificate and its private key from PEM files (the key unencrypted, PKCS#8, SEC1 or
    /// PKCS#1). Further certificates in <paramref name="certificatePath"/> after the first are
    /// returned as <paramref name="intermediates"/>, sent to the peer with the leaf.
    /// </summary>
    public static X509Certificate2 LoadCertificateWithKey(string certificatePath, string keyPath, out X509Certificate2Collection intermediates, Action<string>? warn = null)
    {
        string certificate = RequireFile(certificatePath, "certificate");
        string key = RequireFile(keyPath, "private key");
        WarnIfShared(key, warn);
        X509Certificate2 loaded;
        try
        {
            loaded = X509Certificate2.CreateFromPemFile(certificate, key);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            throw new InvalidDataException($"cannot load the certificate {certificate} with the key {key}: {e.Message} (both must be PEM, the key unencrypted and the one the certificate was issued for; an encrypted key can be decrypted with `openssl pkey -in KEY -out KEY.plain`)", e);
        }

        using (loaded)
        {
            // A PKCS#12 round trip gives the certificate a key SslStream can use on every platform
            // (an ephemeral PEM key is refused by Windows' TLS stack).
            byte[] pkcs12 = loaded.Export(X509ContentType.Pkcs12);
            X509Certificate2 leaf = X509CertificateLoader.LoadPkcs12(pkcs12, null, X509KeyStorageFlags.Exportable);
            intermediates = [];
            X509Certificate2Collection all = LoadCertificates(certificate, "certificate");
            foreach (X509Certificate2 other in all)
            {
                if (other.Thumbprint != leaf.Thumbprint)
                {
                    intermediates.Add(other);
                }
                else
                {
                    other.Dispose();
                }
            }

            return leaf;
        }
    }

    /// <summary>Every certificate in a PEM bundle (a CA file); throws when it holds none.</summary>
    public static X509Certificate2Collection LoadCertificates(string path, string what = "CA bundle")
    {
        string full = RequireFile(path, what);
        var collection = new X509Certificate2Collection();
        try
        {
            collection.ImportFromPemFile(full);
        }
        catch (CryptographicException e)
        {
            throw new InvalidDataException($"{what} {full} is not a PEM certificate file: {e.Message}", e);
        }

        if (collection.Count == 0)
        {
            throw new InvalidDataException($"{what} {full} holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
        }

        return collection;
    }

    /// <summary>
    /// Null when <paramref name="certificate"/> chains to one of <paramref name="authorities"/> for
    /// the use <paramref name="usageOid"/>; otherwise why not, in words. Intermediates the peer sent
    /// (in <paramref name="presented"/>'s extra store) are used to build the chain.
    /// </summary>
    public static string? CheckChain(X509Certificate2 certificate, X509Certificate2Collection authorities, string usageOid, X509Chain? presented = null)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        ArgumentNullException.ThrowIfNull(authorities);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck; // no CRL/OCSP: the edge may have no route to a CA's distribution point
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(usageOid));
        if (presented is not null)
        {
            chain.ChainPolicy.ExtraStore.AddRange(presented.ChainPolicy.ExtraStore);
        }

        if (chain.Build(certificate))
        {
            return null;
        }

        string reasons = string.Join("; ", chain.ChainStatus.Select(s => $"{s.Status}: {s.StatusInformation.Trim()}").Distinct());
        return $"certificate '{certificate.Subject}' (issuer '{certificate.Issuer}') does not chain to the trusted CA ({string.Join(", ", authorities.Select(a => a.Subject))}): {reasons}";
    }

    private static string RequireFile(string path, string what)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new FileNotFoundException($"TLS {what} file {full} does not exist (docs/security.md §4 shows how to make one with openssl)", full);
        }

        return full;
    }

    private static void WarnIfShared(string keyPath, Action<string>? warn)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        UnixFileMode mode = File.GetUnixFileMode(keyPath);
        const UnixFileMode Shared = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite;
        if ((mode & Shared) != 0)
        {
            warn?.Invoke($"WARNING: TLS private key {keyPath} is readable or writable by group/others (mode {Convert.ToString((int)mode, 8)}); run `chmod 600 {keyPath}`");
        }
    }
}
