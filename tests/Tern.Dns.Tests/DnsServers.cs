using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using DnsClient;

namespace Tern.Dns.Tests;

/// <summary>
/// knot (authoritative, signs example.test) and unbound (validating, a trust anchor for example.test, stub
/// zones to knot) on 127.0.0.1 at free ports, in a temporary directory; started once for the test collection.
/// </summary>
public sealed class DnsServers : IAsyncLifetime
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);
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

        var anchors = await LoopbackDaemon.RunAsync("keymgr", ["-c", Path.Combine(_dir, "knot.conf"), TestZones.Signed, "ds"]);
        _unbound = await LoopbackDaemon.StartAsync("unbound", port => ["-d", "-c", WriteUnboundConfig(port, anchors)], async port =>
        {
            var r = await ProbeAsync(port, TestZones.Signed, QueryType.MX);
            return r is not null && r.Header.IsAuthenticData;
        });
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

    private string WriteUnboundConfig(int port, string dsRecords)
    {
        var config = new StringBuilder($"""
            server:
                interface: 127.0.0.1
                port: {port}
                do-daemonize: no
                username: ""
                chroot: ""
                directory: "{_dir}"
                pidfile: ""
                use-syslog: no
                logfile: ""
                verbosity: 1
                num-threads: 1
                do-ip6: no
                do-not-query-localhost: no
                qname-minimisation: no
                access-control: 127.0.0.0/8 allow
                module-config: "validator iterator"
                val-log-level: 2
                local-zone: "test." nodefault
                local-zone: "{TestZones.ReverseV4}." nodefault
                local-zone: "{TestZones.ReverseV6}." nodefault

            """);
        foreach (var line in dsRecords.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            config.Append("    trust-anchor: \"").Append(line).Append("\"\n");
        // A DS no key of bogus.test matches (the zone is not even signed): validation fails, unbound says SERVFAIL.
        config.Append("    trust-anchor: \"bogus.test. DS 11111 13 2 ").Append(TestZones.TlsaHex).Append("\"\n");
        foreach (var zone in TestZones.All.Keys)
            config.Append($"stub-zone:\n    name: \"{zone}\"\n    stub-addr: {Knot.Address}@{Knot.Port}\n");
        var path = Path.Combine(_dir, "unbound.conf");
        File.WriteAllText(path, config.ToString());
        return path;
    }

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
