using System.Net;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Tern.Dns;

namespace Tern.Tests.Support;

/// <summary>
/// unbound as a validating resolver on a free 127.0.0.1 port, in its own directory: the test zones are
/// stub zones sent to knot, the signed ones validated from the trust anchors given (DS lines, as keymgr
/// prints them). A trust anchor that no key matches makes a zone bogus: unbound answers SERVFAIL there.
/// </summary>
public static class UnboundServer
{
    /// <summary>
    /// Writes unbound.conf into <paramref name="dir"/>, starts unbound and waits until <paramref name="probeName"/>
    /// has an MX answer with the AD bit. <paramref name="nodefault"/>: zones unbound blocks by default
    /// (RFC 6761 "test.", the documentation reverse zones) that the tests use.
    /// </summary>
    public static Task<LoopbackDaemon> StartAsync(
        string dir, IPEndPoint knot, IEnumerable<string> stubZones, IEnumerable<string> trustAnchors, IEnumerable<string> nodefault, string probeName) =>
        LoopbackDaemon.StartAsync("unbound", port => ["-d", "-c", WriteConfig(dir, port, knot, stubZones, trustAnchors, nodefault)], async port =>
        {
            var dns = new DnsResolver(new DnsOptions { Servers = [new IPEndPoint(IPAddress.Loopback, port)], Timeout = TimeSpan.FromMilliseconds(300), Attempts = 1, CacheMaxEntries = 0 }, NullLoggerFactory.Instance);
            var answer = await dns.LookupMxAsync(probeName);
            return answer.Status == DnsStatus.Ok && answer.Authentic;
        });

    /// <summary>unbound's configuration file (unbound.conf in <paramref name="dir"/>); returns its path.</summary>
    public static string WriteConfig(string dir, int port, IPEndPoint knot, IEnumerable<string> stubZones, IEnumerable<string> trustAnchors, IEnumerable<string> nodefault)
    {
        var config = new StringBuilder($"""
            server:
                interface: 127.0.0.1
                port: {port}
                do-daemonize: no
                username: ""
                chroot: ""
                directory: "{dir}"
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

            """);
        foreach (var zone in nodefault)
            config.Append("    local-zone: \"").Append(zone.TrimEnd('.')).Append(".\" nodefault\n");
        foreach (var anchor in trustAnchors)
            config.Append("    trust-anchor: \"").Append(anchor.Trim()).Append("\"\n");
        foreach (var zone in stubZones)
            config.Append($"stub-zone:\n    name: \"{zone}\"\n    stub-addr: {knot.Address}@{knot.Port}\n");
        var path = Path.Combine(dir, "unbound.conf");
        File.WriteAllText(path, config.ToString());
        return path;
    }
}
