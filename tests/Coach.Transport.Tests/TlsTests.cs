using System.Collections.Concurrent;
using System.Net;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Coach.Engine.Deployment;
using Coach.Transport.Cloud;
using Coach.Transport.Edge;
using Coach.Transport.Protocol;
using Coach.Transport.Security;

namespace Coach.Transport.Tests;

/// <summary>
/// A throwaway PKI written as PEM files, as an operator would make it with openssl: two CAs (the
/// trusted one and a stranger), a server certificate for localhost/127.0.0.1 and client
/// certificates whose subject CN is the edge's client id. ECDSA P-256, valid for a day.
/// </summary>
internal sealed class TestPki : IDisposable
{
    public TestPki()
    {
        Directory.CreateDirectory(Root);
        using X509Certificate2 ca = CreateAuthority("Coach Test CA");
        using X509Certificate2 otherCa = CreateAuthority("Stranger CA");
        WriteCertificate(ca, "ca.pem");
        WriteCertificate(otherCa, "other-ca.pem");
        WriteIdentity(Issue(ca, "coach-cloud", server: true), "server");
        WriteIdentity(Issue(ca, "edge-m", server: false), "edge-m");
        WriteIdentity(Issue(otherCa, "edge-m", server: false), "edge-m-stranger");
        WriteIdentity(Issue(otherCa, "coach-cloud", server: true), "server-stranger");
    }

    public string Root { get; } = Path.Combine(Path.GetTempPath(), $"coach-tls-{Guid.NewGuid():N}");

    public string this[string file] => Path.Combine(Root, file);

    public CloudTlsSettings Server(bool mutual = false) => CloudTlsSettings.Load(this["server.pem"], this["server.key"], mutual ? this["ca.pem"] : null);

    public void Dispose() => Directory.Delete(Root, recursive: true);

    private static X509Certificate2 CreateAuthority(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(2));
    }

    private static X509Certificate2 Issue(X509Certificate2 authority, string commonName, bool server)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(server ? TlsFiles.ServerAuthenticationOid : TlsFiles.ClientAuthenticationOid)], critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(authority, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        if (server)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddDnsName("localhost");
            names.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(names.Build());
        }

        byte[] serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using X509Certificate2 issued = request.Create(authority, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1), serial);
        return issued.CopyWithPrivateKey(key);
    }

    private void WriteCertificate(X509Certificate2 certificate, string file) => File.WriteAllText(this[file], certificate.ExportCertificatePem());

    private void WriteIdentity(X509Certificate2 certificate, string name)
    {
        using (certificate)
        {
            WriteCertificate(certificate, $"{name}.pem");
            File.WriteAllText(this[$"{name}.key"], certificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
            File.SetUnixFileMode(this[$"{name}.key"], UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }
}

public sealed class TlsTests : IDisposable
{
    private readonly TestPki _pki = new();
    private readonly string _plans = Path.Combine(Path.GetTempPath(), $"coach-tls-plans-{Guid.NewGuid():N}");
    private readonly ConcurrentQueue<string> _log = new();

    public TlsTests()
    {
        TinyModels.WritePlan(_plans, "split", TinyModels.Head(), TinyModels.Tail(), bits: 4);
    }

    public void Dispose()
    {
        _pki.Dispose();
        Directory.Delete(_plans, recursive: true);
    }

    private CloudServer StartServer(CloudTlsSettings? tls, EdgeKeyStore? keys = null)
    {
        CloudServer server = CloudServer.FromPlansDirectory(_plans, new CloudServerOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            LogInterval = TimeSpan.Zero,
            Log = _log.Enqueue,
            HandshakeTimeout = TimeSpan.FromSeconds(5),
            Tls = tls,
            Keys = keys,
        });
        server.Start();
        return server;
    }

    private static HelloMessage Hello(CloudServer server, string client) => new() { ClientId = client, PlanId = server.Plans[0].Id, PlanHash = server.Plans[0].PlanHash };

    private EdgeTlsSettings Edge(string? ca = "ca.pem", string? identity = null, string? serverName = null) =>
        EdgeTlsSettings.Load(ca is null ? null : _pki[ca], serverName, identity is null ? null : _pki[$"{identity}.pem"], identity is null ? null : _pki[$"{identity}.key"]);

    /// <summary>Sends <paramref name="count"/> Requests with known labels over <paramref name="client"/> and checks every answer.</summary>
    private static async Task RoundTripAsync(EdgeClient client, int count)
    {
        var sink = new RecordingSink(count);
        client.StartReceiving(sink);
        for (int i = 1; i <= count; i++)
        {
            SecurityTests.WriteRequest(client.Output, (ulong)i, label: i % 10);
        }

        await client.Output.FlushAsync();
        await sink.AllAnswered.Task.WaitAsync(TimeSpan.FromSeconds(60));
        for (int i = 1; i <= count; i++)
        {
            Assert.Equal(i % 10, sink.Labels[(ulong)i]);
            Assert.Equal(1, sink.AnswerCounts[(ulong)i]);
        }

        Assert.Empty(sink.Errors);
    }

    [Fact]
    public async Task RequestFramesRoundTripOverTlsWithTheServerCertificateCheckedAgainstTheCa()
    {
        await using CloudServer server = StartServer(_pki.Server());
        await using EdgeClient client = await EdgeClient.ConnectAsync(server.LocalEndPoint, Hello(server, "edge-t"), tls: Edge());
        Assert.NotNull(client.Connection.Tls);
        Assert.True(client.Connection.Tls!.Protocol is SslProtocols.Tls12 or SslProtocols.Tls13, $"negotiated {client.Connection.Tls}");
        Assert.Equal("CN=coach-cloud", client.Connection.Tls.PeerCertificate!.Subject);
        await RoundTripAsync(client, 200);
        Assert.Equal(200, server.Metrics.RequestsTotal);
        Assert.Equal(0, server.TlsHandshakeFailures);
        Assert.True(client.Connection.BytesSent > 200 * 16, "the request frames went through the TLS send loop");

        // The DNS name in the certificate works as well as its IP address.
        await using EdgeClient byName = await EdgeClient.ConnectAsync(new DnsEndPoint("localhost", server.LocalEndPoint.Port), Hello(server, "edge-n"), tls: Edge());
        await RoundTripAsync(byName, 20);
    }

    [Fact]
    public async Task AWholeEdgeRunOverMutualTlsAnswersEveryFrameFromTheCloud()
    {
        await using CloudServer server = StartServer(_pki.Server(mutual: true), EdgeKeyStore.Of([new("edge-other", PreSharedKey.Generate())]));
        PlanDirectory plan = PlanDirectory.Load(Path.Combine(_plans, "split"));
        var (summary, pipeline) = await EdgeRun.RunAsync(plan, new PatternSource(150), new FixedBitsScheduler(), new EdgeRunOptions
        {
            Cloud = server.LocalEndPoint,
            ClientId = "edge-m",
            Tls = Edge(identity: "edge-m"),
            Fallback = false,
            Reconnect = false,
            Log = _log.Enqueue,
        });

        Assert.Equal(150, summary.FramesAnswered);
        Assert.All(pipeline.Records.ToArray(), r => Assert.Equal(FrameDecision.Cloud, r.Decision));
        Assert.All(pipeline.Records.ToArray(), r => Assert.Equal(r.TrueLabel, r.PredictedLabel));
        Assert.Equal(0, server.AuthenticationFailures);
    }

    [Fact]
    public async Task APlainTcpClientIsRefusedByATlsServerThatKeepsServingOthers()
    {
        await using CloudServer server = StartServer(_pki.Server());
        using (RawPeer plain = await RawPeer.ConnectAsync(server.LocalEndPoint))
        {
            await plain.SendAsync(RawPeer.Bytes(Hello(server, "edge-plain").Write));
            Assert.True(await plain.ClosedWithinAsync(TimeSpan.FromSeconds(30)), "the TLS server kept a plain-TCP client open");
        }

        // The plain EdgeClient sees a closed connection or garbage, never a HelloAck.
        await Assert.ThrowsAnyAsync<Exception>(() => EdgeClient.ConnectAsync(server.LocalEndPoint, Hello(server, "edge-plain-2"), handshakeTimeout: TimeSpan.FromSeconds(10)));
        Assert.True(server.TlsHandshakeFailures >= 2);
        Assert.Contains(_log, line => line.Contains("TLS handshake failed", StringComparison.Ordinal) && line.Contains("127.0.0.1", StringComparison.Ordinal));
        Assert.Equal(0, server.Metrics.RequestsTotal);

        await using EdgeClient client = await EdgeClient.ConnectAsync(server.LocalEndPoint, Hello(server, "edge-t"), tls: Edge());
        await RoundTripAsync(client, 10);
    }

    [Fact]
    public async Task AnEdgeRefusesACloudWhoseCertificateIsFromAnotherCaOrForAnotherName()
    {
        await using CloudServer server = StartServer(_pki.Server());
        var untrusted = await Assert.ThrowsAsync<HandshakeRejectedException>(() => EdgeClient.ConnectAsync(server.LocalEndPoint, Hello(server, "edge-t"), tls: Edge(ca: "other-ca.pem")));
        Assert.Equal(ReasonCode.AuthenticationFailed, untrusted.Reason);
        Assert.Contains("does not chain to the trusted CA", untrusted.Message, StringComparison.Ordinal);
        Assert.Contains("Stranger CA", untrusted.Message, StringComparison.Ordinal);

        var wrongName = await Assert.ThrowsAsync<HandshakeRejectedException>(() => EdgeClient.ConnectAsync(server.LocalEndPoint, Hello(server, "edge-t"), tls: Edge(serverName: "cloud.example.org")));
        Assert.Contains("not issued to 'cloud.example.org'", wrongName.Message, StringComparison.Ordinal);

        // Not in the system trust store either: a self-made CA is trusted only when given with --tls-ca.
        var system = await Assert.ThrowsAsync<HandshakeRejectedException>(() => EdgeClient.ConnectAsync(server.LocalEndPoint, Hello(server, "edge-t"), tls: Edge(ca: null)));
        Assert.Contains("system's trust store", system.Message, StringComparison.Ordinal);
        Assert.Equal(0, server.Metrics.RequestsTotal);
    }

    [Fact]
    public async Task MutualTlsRefusesAClientWithoutACertificateOrWithOneFromAnotherCaAndLogsIt()
    {
        await using CloudServer server = StartServer(_pki.Server(mutual: true));
        var none = await Assert.ThrowsAsync<IOException>(() => EdgeClient.ConnectAsync(server.LocalEndPoint, Hello(server, "edge-m"), tls: Edge()));
        Assert.Contains("mutual TLS", none.Message, StringComparison.Ordinal);
        await WaitForLogAsync("the client sent no certificate");

        var stranger = await Assert.ThrowsAsync<IOException>(() => EdgeClient.ConnectAsync(server.LocalEndPoint, Hello(server, "edge-m"), tls: Edge(identity: "edge-m-stranger")));
        Assert.Contains("mutual TLS", stranger.Message, StringComparison.Ordinal);
        await WaitForLogAsync("does not chain to the trusted CA");

        Assert.Equal(2, server.TlsHandshakeFailures);
        Assert.Equal(2, server.AuthenticationFailures);
        Assert.All(_log.Where(line => line.Contains("TLS handshake failed", StringComparison.Ordinal)), line => Assert.Contains("127.0.0.1", line, StringComparison.Ordinal));
        Assert.Equal(0, server.Metrics.RequestsTotal);
    }

    [Fact]
    public async Task MutualTlsAuthenticatesAnEdgeWithoutAPreSharedKeyUnderItsCertificateName()
    {
        // The server also holds keys (for other edges): the certificate is the alternative to a key.
        await using CloudServer server = StartServer(_pki.Server(mutual: true), EdgeKeyStore.Of([new("edge-other", PreSharedKey.Generate())]));
        await using (EdgeClient client = await EdgeClient.ConnectAsync(server.LocalEndPoint, Hello(server, "edge-m"), tls: Edge(identity: "edge-m")))
        {
            Assert.Empty(client.Ack.Authentication); // no HMAC challenge ran
            Assert.Contains(_log, line => line.Contains("client edge-m) serves plan", StringComparison.Ordinal));
            await RoundTripAsync(client, 50);
        }

        // A certified edge cannot claim another edge's id.
        var impostor = await Assert.ThrowsAsync<HandshakeRejectedException>(() => EdgeClient.ConnectAsync(server.LocalEndPoint, Hello(server, "edge-other"), tls: Edge(identity: "edge-m")));
        Assert.Equal(ReasonCode.AuthenticationFailed, impostor.Reason);
        Assert.Contains("issued to 'edge-m'", impostor.Message, StringComparison.Ordinal);
        Assert.Equal(1, server.AuthenticationFailures);
        Assert.Equal(0, server.TlsHandshakeFailures);
    }

    [Fact]
    public async Task ATlsHandshakeThatNeverStartsIsDroppedAtTheHandshakeTimeout()
    {
        await using CloudServer server = CloudServer.FromPlansDirectory(_plans, new CloudServerOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            LogInterval = TimeSpan.Zero,
            Log = _log.Enqueue,
            HandshakeTimeout = TimeSpan.FromSeconds(1),
            Tls = _pki.Server(),
        });
        server.Start();
        using RawPeer silent = await RawPeer.ConnectAsync(server.LocalEndPoint);
        Assert.True(await silent.ClosedWithinAsync(TimeSpan.FromSeconds(30)), "a silent client held the TLS handshake open");
        await WaitForLogAsync("HandshakeTimeout: the TLS handshake did not complete within 1 s");
        Assert.Equal(1, server.TlsHandshakeFailures);
    }

    [Fact]
    public void CertificateFilesThatDoNotFitSayWhatIsWrong()
    {
        var missing = Assert.Throws<FileNotFoundException>(() => CloudTlsSettings.Load(_pki["nope.pem"], _pki["server.key"]));
        Assert.Contains("nope.pem does not exist", missing.Message, StringComparison.Ordinal);
        var mismatched = Assert.Throws<InvalidDataException>(() => CloudTlsSettings.Load(_pki["server.pem"], _pki["edge-m.key"]));
        Assert.Contains("edge-m.key", mismatched.Message, StringComparison.Ordinal);
        var notCa = Assert.Throws<InvalidDataException>(() => EdgeTlsSettings.Load(_pki["server.key"]));
        Assert.Contains("no PEM certificate", notCa.Message, StringComparison.Ordinal);
        var half = Assert.Throws<ArgumentException>(() => EdgeTlsSettings.Load(_pki["ca.pem"], certificatePath: _pki["edge-m.pem"]));
        Assert.Contains("--tls-key", half.Message, StringComparison.Ordinal);

        File.SetUnixFileMode(_pki["edge-m.key"], UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var warnings = new List<string>();
        EdgeTlsSettings loaded = EdgeTlsSettings.Load(_pki["ca.pem"], null, _pki["edge-m.pem"], _pki["edge-m.key"], warnings.Add);
        Assert.Equal("CN=edge-m", loaded.ClientCertificate!.Subject);
        Assert.Contains(warnings, w => w.Contains("chmod 600", StringComparison.Ordinal));
    }

    [Fact]
    public void TheEdgeConfigurationCarriesTlsFilePathsAndChecksThem()
    {
        EdgeConfiguration configuration = EdgeConfiguration.Parse("""
            { "cloud": "cloud.example.org:7700",
              "tls": { "enabled": true, "caFile": "/etc/coach/ca.pem", "serverName": "coach-cloud", "certificateFile": "/etc/coach/edge.pem", "keyFile": "/etc/coach/edge.key" } }
            """);
        Assert.True(configuration.Tls.Enabled);
        Assert.Equal("/etc/coach/ca.pem", configuration.Tls.CaFile);
        Assert.Equal("coach-cloud", configuration.Tls.ServerName);
        Assert.Contains("\"certificateFile\": \"/etc/coach/edge.pem\"", configuration.ToJson(), StringComparison.Ordinal);
        Assert.False(EdgeConfiguration.Parse("""{ "cloud": "10.0.0.2:7700" }""").Tls.Enabled);

        var error = Assert.Throws<EdgeConfigurationException>(() => EdgeConfiguration.Parse("""
            { "cloud": "10.0.0.2:7700", "tls": { "enabled": false, "caFile": "ca.pem", "certificateFile": "/etc/coach/edge.pem" } }
            """));
        Assert.Contains(error.Problems, p => p.Contains("tls.caFile must be an absolute path", StringComparison.Ordinal));
        Assert.Contains(error.Problems, p => p.Contains("tls.keyFile", StringComparison.Ordinal));
        Assert.Contains(error.Problems, p => p.Contains("tls.enabled is false", StringComparison.Ordinal));
    }

    private async Task WaitForLogAsync(string text)
    {
        // The cloud logs a refused certificate on its side of the handshake, which may finish after the edge gave up.
        for (int i = 0; i < 300 && !_log.Any(line => line.Contains(text, StringComparison.Ordinal)); i++)
        {
            await Task.Delay(100);
        }

        Assert.Contains(_log, line => line.Contains(text, StringComparison.Ordinal));
    }
}
