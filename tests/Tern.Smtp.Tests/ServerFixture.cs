using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging.Abstractions;
using Tern.Observability.Metrics;
using Tern.Smtp.Server;

namespace Tern.Smtp.Tests;

/// <summary>A real SMTP server on 127.0.0.1 with ephemeral ports, a self-signed certificate and a memory store.</summary>
internal sealed class TestServer : IAsyncDisposable
{
    private readonly string _dir;

    private TestServer(SmtpServer server, MemoryMessageStore store, string dir, ServerCertificate certificate)
    {
        Server = server;
        Store = store;
        _dir = dir;
        Certificate = certificate;
    }

    public SmtpServer Server { get; }

    public MemoryMessageStore Store { get; }

    public ServerCertificate Certificate { get; }

    public IPEndPoint Relay => Server.BoundEndpoints[0];

    public IPEndPoint RelayNoTls => Server.BoundEndpoints[1];

    public IPEndPoint Submission => Server.BoundEndpoints[2];

    public IPEndPoint Submissions => Server.BoundEndpoints[3];

    public const string User = "alice@example.org";
    public const string Password = "correct horse battery staple";

    public Tern.Sasl.Credentials.AccountStore? Accounts { get; private set; }

    public static TestServer StartWith(bool allowAuthWithoutTls) => Start(allowAuthWithoutTls: allowAuthWithoutTls);

    public static TestServer Start(Func<SmtpLimits, SmtpLimits>? limits = null, bool trustLoopback = true, string[]? acceptDomains = null, Func<SmtpAuthOptions, SmtpAuthOptions>? auth = null, bool allowAuthWithoutTls = false)
    {
        var dir = Directory.CreateTempSubdirectory("tern-smtp-").FullName;
        var accounts = Tern.Sasl.Credentials.AccountStore.Open(Path.Combine(dir, "accounts.json"));
        accounts.Add(User, Password, new Tern.Sasl.Credentials.AccountOptions { CramMd5 = true });
        var mechanisms = new Tern.Sasl.SaslServerFactory(accounts, new Tern.Sasl.SaslServerOptions
        {
            Hostname = "mx.tern.test",
            Mechanisms = [.. new Tern.Sasl.SaslServerOptions().Mechanisms, Tern.Sasl.SaslMechanisms.CramMd5],
        });
        var authOptions = new SmtpAuthOptions
        {
            Mechanisms = mechanisms,
            BeforeAuthentication = () => accounts.ReloadIfChanged(),
            MaySendAs = (user, sender) => System.Text.Encoding.UTF8.GetString(sender).Equals(user, StringComparison.OrdinalIgnoreCase),
            FailureDelay = TimeSpan.FromMilliseconds(50),
        };
        var (certPath, keyPath) = CreateCertificate(dir);
        var cert = new ServerCertificate(certPath, keyPath);
        var l = (limits ?? (x => x))(new SmtpLimits());
        var options = new SmtpServerOptions
        {
            Hostname = "mx.tern.test",
            RelayNetworks = trustLoopback ? [IPNetwork.Parse("127.0.0.0/8")] : [],
            AcceptDomains = acceptDomains ?? ["ours.example"],
            Authentication = (auth ?? (a => a))(authOptions),
            AllowAuthWithoutTls = allowAuthWithoutTls,
            Listeners =
            [
                new SmtpListenerOptions { Name = "relay", Kind = ListenerKind.Relay, Endpoint = new IPEndPoint(IPAddress.Loopback, 0), Certificate = cert, Limits = l },
                new SmtpListenerOptions { Name = "plain", Kind = ListenerKind.Relay, Endpoint = new IPEndPoint(IPAddress.Loopback, 0), Limits = l },
                new SmtpListenerOptions { Name = "submission", Kind = ListenerKind.Submission, Endpoint = new IPEndPoint(IPAddress.Loopback, 0), Certificate = cert, Limits = l },
                new SmtpListenerOptions { Name = "submissions", Kind = ListenerKind.Submissions, Endpoint = new IPEndPoint(IPAddress.Loopback, 0), Certificate = cert, Limits = l },
            ],
        };
        var store = new MemoryMessageStore();
        var server = new SmtpServer(options, store, NullLoggerFactory.Instance, NullMetrics.Instance);
        server.Start();
        return new TestServer(server, store, dir, cert) { Accounts = accounts };
    }

    public static (string Cert, string Key) CreateCertificate(string dir, string name = "mx.tern.test")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        req.CertificateExtensions.Add(san.Build());
        using var cert = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(30));
        var certPath = Path.Combine(dir, $"{name}.crt");
        var keyPath = Path.Combine(dir, $"{name}.key");
        File.WriteAllText(certPath, cert.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (certPath, keyPath);
    }

    public async ValueTask DisposeAsync()
    {
        await Server.StopAsync(TimeSpan.FromSeconds(1));
        Certificate.Dispose();
        Directory.Delete(_dir, true);
    }
}
