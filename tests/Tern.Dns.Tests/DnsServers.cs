using System.Net;
using DnsClient;

namespace Tern.Dns.Tests;

/// <summary>
/// knot (authoritative, signs example.test) and unbound (validating, a trust anchor for example.test, stub
/// zones to knot) on 127.0.0.1 at free ports, in a temporary directory; started once for the test collection.
/// </summary>
public sealed class DnsServers : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tern-dns-").FullName;
    private LoopbackDaemon? _knot;
    private LoopbackDaemon? _unbound;

    /// <summary>knot itself: authoritative answers, never the AD bit.</summary>
    public IPEndPoint Knot { get; private set; } = null!;

    /// <summary>The validating resolver: the AD bit for example.test, SERVFAIL for bogus.test.</summary>
    public IPEndPoint Unbound { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        foreach (var (zone, text) in TestZones.All)
            await File.WriteAllTextAsync(Path.Combine(_dir, zone + ".zone"), text);
        Directory.CreateDirectory(Path.Combine(_dir, "db"));

        _knot = await LoopbackDaemon.StartAsync("knotd", port => ["-c", WriteKnotConfig(port)], async port =>
        {
            // Signed and loaded: the DNSKEY set is there.
            var r = await ProbeAsync(port, TestZones.Signed, QueryType.DNSKEY);
            return r is not null && r.Answers.Count > 0;
        });
        Knot = _knot.EndPoint;

        // A DS no key of bogus.test matches (the zone is not even signed): validation fails, unbound says SERVFAIL.
        var anchors = (await KnotServer.DsRecordsAsync(_dir, TestZones.Signed)).Append($"bogus.test. DS 11111 13 2 {TestZones.TlsaHex}");
        _unbound = await UnboundServer.StartAsync(_dir, Knot, TestZones.All.Keys, anchors, ["test", TestZones.ReverseV4, TestZones.ReverseV6], TestZones.Signed);
        Unbound = _unbound.EndPoint;
    }

    public Task DisposeAsync()
    {
        _unbound?.Dispose();
        _knot?.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
        return Task.CompletedTask;
    }

    /// <summary>A resolver asking unbound (or <paramref name="servers"/>), with test-friendly timeouts.</summary>
    public DnsResolver Resolver(DnsOptions? options = null, params IPEndPoint[] servers) =>
        new((options ?? new DnsOptions()) with
        {
            Servers = servers.Length > 0 ? servers : [Unbound],
            Timeout = options?.Timeout ?? TimeSpan.FromSeconds(2),
            Attempts = options?.Attempts ?? 1,
        }, new ListLoggerFactory());

    private string WriteKnotConfig(int port) => KnotServer.WriteConfig(_dir, port, TestZones.All.Keys, new HashSet<string> { TestZones.Signed });

    private static async Task<IDnsQueryResponse?> ProbeAsync(int port, string name, QueryType type)
    {
        var client = new LookupClient(new LookupClientOptions(new IPEndPoint(IPAddress.Loopback, port))
        {
            UseCache = false, Timeout = TimeSpan.FromMilliseconds(200), Retries = 0, RequestDnsSecRecords = true, ThrowDnsErrors = false,
        });
        try
        {
            var response = await client.QueryAsync(name, type);
            return response.Header.ResponseCode == DnsHeaderResponseCode.NoError ? response : null;
        }
        catch (DnsResponseException)
        {
            return null;
        }
    }
}

[CollectionDefinition(Name)]
public sealed class DnsServersCollection : ICollectionFixture<DnsServers>
{
    public const string Name = "dns servers";
}
