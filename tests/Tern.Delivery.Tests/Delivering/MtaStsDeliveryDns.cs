using System.Net;
using System.Net.Security;
using Microsoft.Extensions.Logging.Abstractions;
using Tern.Dns;
using Tern.Tests.Support;

namespace Tern.Delivery.Tests.Delivering;

/// <summary>
/// For <see cref="MtaStsDeliveryTests"/>: knot on 127.0.0.1, authoritative for sts.test (unsigned: MTA-STS
/// needs no DNSSEC), and a test CA (<see cref="TestPki"/>) whose bundle the deliverer trusts. Every
/// policy host mta-sts.DOMAIN resolves to 127.0.0.1, where each test runs its own
/// <see cref="PolicyServer"/> (its port is the deliverer's MTA-STS port); MX hosts listen on
/// 127.0.0.31..33 at <see cref="SmtpPort"/>.
/// </summary>
public sealed class MtaStsDeliveryDns : IAsyncLifetime
{
    public const string Zone = "sts.test";

    /// <summary>mx1.sts.test: matched by the policies' "*.sts.test".</summary>
    public const string Mx1Address = "127.0.0.31";

    /// <summary>a.b.sts.test: two labels in front of sts.test, so "*.sts.test" does not match it (RFC 8461 section 4.1).</summary>
    public const string DeepAddress = "127.0.0.32";

    /// <summary>c.d.sts.test: not matched either.</summary>
    public const string OtherDeepAddress = "127.0.0.33";

    /// <summary>
    /// enforce: one MX (mx1) and a record; deep: a.b (unlisted by "*.sts.test") before mx1; unlisted: a.b
    /// and c.d, neither listed; nopolicy: a record whose policy host answers what the test scripts (404);
    /// none: mx1 and no MTA-STS record at all. Each record's policy host is 127.0.0.1.
    /// </summary>
    public const string ZoneText = $"""
        $ORIGIN {Zone}.
        $TTL 60
        @                 SOA ns hostmaster 1 3600 600 86400 60
        @                 NS ns
        ns                A 127.0.0.1
        mx1               A {Mx1Address}
        a.b               A {DeepAddress}
        c.d               A {OtherDeepAddress}
        enforce           MX 10 mx1
        _mta-sts.enforce  TXT "v=STSv1; id=e1;"
        mta-sts.enforce   A 127.0.0.1
        deep              MX 10 a.b
        deep              MX 20 mx1
        _mta-sts.deep     TXT "v=STSv1; id=d1;"
        mta-sts.deep      A 127.0.0.1
        unlisted          MX 10 a.b
        unlisted          MX 20 c.d
        _mta-sts.unlisted TXT "v=STSv1; id=u1;"
        mta-sts.unlisted  A 127.0.0.1
        nopolicy          MX 10 mx1
        _mta-sts.nopolicy TXT "v=STSv1; id=n1;"
        mta-sts.nopolicy  A 127.0.0.1
        none              MX 10 mx1
        """;

    private LoopbackDaemon? _knot;

    /// <summary>Holds knot's files and the tests' MTA-STS cache directories.</summary>
    public string Dir { get; } = Directory.CreateTempSubdirectory("tern-mtasts-delivery-").FullName;

    public TestPki Pki { get; } = new();

    /// <summary>The port every test SMTP server listens on, whatever its 127.0.0.x address.</summary>
    public int SmtpPort { get; private set; }

    public IPEndPoint Knot => _knot!.EndPoint;

    /// <summary>A resolver asking knot only, with short timeouts and its own cache.</summary>
    public DnsResolver Resolver() => new(new DnsOptions { Servers = [Knot], Timeout = TimeSpan.FromMilliseconds(500), Attempts = 2 }, NullLoggerFactory.Instance);

    /// <summary>What an SMTP server presents: a leaf of the test CA for <paramref name="name"/>.</summary>
    public SslStreamCertificateContext Trusted(string name) => SslStreamCertificateContext.Create(Pki.Leaf(name), [], offline: true);

    /// <summary>A leaf for <paramref name="name"/> from a CA the deliverer does not trust.</summary>
    public SslStreamCertificateContext Untrusted(string name) => SslStreamCertificateContext.Create(Pki.Untrusted(name), [], offline: true);

    public async Task InitializeAsync()
    {
        _knot = await KnotServer.StartAsync(Dir, new Dictionary<string, string> { [Zone] = ZoneText }, "enforce." + Zone);
        SmtpPort = DeliveryDns.FreeOnAll(31, 33);
    }

    public Task DisposeAsync()
    {
        _knot?.Dispose();
        Pki.Dispose();
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
        }

        return Task.CompletedTask;
    }
}
