using System.Net;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Tern.Dns;

namespace Tern.Tests.Support;

/// <summary>
/// knotd, authoritative for the given zones, on a free 127.0.0.1 port in its own directory: the real DNS
/// server the tests that need DNS talk to. Zones named in <c>signed</c> are DNSSEC-signed by knot itself.
/// </summary>
public static class KnotServer
{
    /// <summary>Writes the zone files and the configuration into <paramref name="dir"/>, starts knot and waits until <paramref name="probeName"/> has an MX answer.</summary>
    public static async Task<LoopbackDaemon> StartAsync(string dir, IReadOnlyDictionary<string, string> zones, string probeName, IReadOnlySet<string>? signed = null)
    {
        foreach (var (zone, text) in zones)
            await File.WriteAllTextAsync(Path.Combine(dir, zone + ".zone"), text + "\n");
        Directory.CreateDirectory(Path.Combine(dir, "db"));
        return await LoopbackDaemon.StartAsync("knotd", port => ["-c", WriteConfig(dir, port, zones.Keys, signed)], async port =>
        {
            var dns = new DnsResolver(new DnsOptions { Servers = [new IPEndPoint(IPAddress.Loopback, port)], Timeout = TimeSpan.FromMilliseconds(300), Attempts = 1, CacheMaxEntries = 0 }, NullLoggerFactory.Instance);
            return (await dns.LookupMxAsync(probeName)).Status is DnsStatus.Ok or DnsStatus.NoData;
        });
    }

    /// <summary>
    /// The DS records of a zone knot signs (keymgr reads knot's key store), one "zone. DS ..." line each:
    /// the trust anchors a validating resolver needs for it.
    /// </summary>
    public static async Task<IReadOnlyList<string>> DsRecordsAsync(string dir, string zone)
    {
        var text = await LoopbackDaemon.RunAsync("keymgr", ["-c", Path.Combine(dir, "knot.conf"), zone, "ds"]);
        return text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    /// <summary>knot's configuration file (knot.conf in <paramref name="dir"/>); returns its path.</summary>
    public static string WriteConfig(string dir, int port, IEnumerable<string> zones, IReadOnlySet<string>? signed = null)
    {
        var list = new StringBuilder();
        foreach (var zone in zones)
        {
            list.Append("  - domain: ").Append(zone).Append('\n');
            if (signed?.Contains(zone) == true)
                list.Append("    dnssec-signing: on\n");
        }

        var path = Path.Combine(dir, "knot.conf");
        File.WriteAllText(path, $"""
            server:
                listen: 127.0.0.1@{port}
                rundir: {dir}
            log:
              - target: stderr
                any: warning
            database:
                storage: {dir}/db
            template:
              - id: default
                storage: {dir}
                file: "%s.zone"
                zonefile-sync: -1
                journal-content: none
            zone:
            {list}
            """);
        return path;
    }
}
