using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Tern.Dns;

namespace Tern.MtaSts.Tests.Support;

/// <summary>
/// knot on 127.0.0.1, authoritative for mtasts.test, and the test PKI: started once for the tests
/// that fetch over the network (<see cref="NetworkCollection"/>). Every policy host resolves to
/// 127.0.0.1, where each test runs its own <see cref="PolicyServer"/> on its own port.
/// </summary>
public sealed class MtaStsDns : IAsyncLifetime
{
    public const string Zone = "mtasts.test";

    /// <summary>
    /// ok, split (the record in two strings), cname (policy host by CNAME): a record and a policy
    /// host; noaddr: a record, no policy host; two: two records; other: a TXT record that is not
    /// MTA-STS; bad: an invalid id; none: nothing at all.
    /// </summary>
    public const string ZoneText = """
        $ORIGIN mtasts.test.
        $TTL 60
        @               SOA ns hostmaster 1 3600 600 86400 60
        @               NS ns
        ns              A 127.0.0.1
        _mta-sts.ok     TXT "v=STSv1; id=20240101T000000;"
        mta-sts.ok      A 127.0.0.1
        _mta-sts.split  TXT "v=STSv1; " "id=split1"
        mta-sts.split   A 127.0.0.1
        _mta-sts.cname  TXT "v=STSv1; id=c1"
        mta-sts.cname   CNAME host.mtasts.test.
        host            A 127.0.0.1
        _mta-sts.noaddr TXT "v=STSv1; id=n1"
        _mta-sts.two    TXT "v=STSv1; id=one"
        _mta-sts.two    TXT "v=STSv1; id=two"
        mta-sts.two     A 127.0.0.1
        _mta-sts.other  TXT "v=spf1 -all"
        mta-sts.other   A 127.0.0.1
        _mta-sts.bad    TXT "v=STSv1; id=not-alnum"
        mta-sts.bad     A 127.0.0.1
        """;

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "tern-mtasts-dns-" + Guid.NewGuid().ToString("N"));
    private LoopbackDaemon? _knot;

    public TestPki Pki { get; } = new();

    public IPEndPoint Knot => _knot!.EndPoint;

    /// <summary>A resolver asking knot only.</summary>
    public DnsResolver Resolver() => new(new DnsOptions { Servers = [Knot], Timeout = TimeSpan.FromMilliseconds(500), Attempts = 2 }, NullLoggerFactory.Instance);

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        _knot = await KnotServer.StartAsync(_dir, new Dictionary<string, string> { [Zone] = ZoneText }, "ns." + Zone);
    }

    public Task DisposeAsync()
    {
        _knot?.Dispose();
        Pki.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
        return Task.CompletedTask;
    }
}

[CollectionDefinition(Name)]
public sealed class NetworkCollection : ICollectionFixture<MtaStsDns>
{
    public const string Name = "knot and policy hosts";
}
