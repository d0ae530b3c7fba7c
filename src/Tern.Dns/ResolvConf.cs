using System.Net;

namespace Tern.Dns;

/// <summary>The nameserver lines of resolv.conf(5): the default <see cref="DnsOptions.Servers"/>.</summary>
public static class ResolvConf
{
    public const string DefaultPath = "/etc/resolv.conf";

    // resolv.conf(5): "Up to MAXNS (currently 3) name servers may be listed"; later ones are ignored by libc too.
    private const int MaxServers = 3;

    /// <summary>The servers of <paramref name="path"/>; the local host's port 53 when the file is missing or lists none.</summary>
    public static IReadOnlyList<IPEndPoint> Load(string path = DefaultPath)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            text = "";
        }
        return Parse(text);
    }

    /// <summary>
    /// Parses "nameserver ADDRESS" lines (IPv4 or IPv6, an IPv6 scope "%eth0" kept); comments start with '#' or ';'.
    /// Lines that do not parse are skipped, as libc does. No servers: 127.0.0.1:53, the documented default.
    /// </summary>
    public static IReadOnlyList<IPEndPoint> Parse(string text)
    {
        var servers = new List<IPEndPoint>();
        foreach (var rawLine in text.AsSpan().EnumerateLines())
        {
            var line = rawLine;
            var comment = line.IndexOfAny('#', ';');
            if (comment >= 0)
                line = line[..comment];
            line = line.Trim();
            const string keyword = "nameserver";
            if (!line.StartsWith(keyword, StringComparison.Ordinal) || line.Length == keyword.Length || !char.IsWhiteSpace(line[keyword.Length]))
                continue;
            var value = line[keyword.Length..].Trim();
            var end = value.IndexOfAny(' ', '\t');
            if (end >= 0)
                value = value[..end];
            if (IPAddress.TryParse(value, out var address) && IsAddressSyntax(value, address) && servers.Count < MaxServers)
                servers.Add(new IPEndPoint(address, 53));
        }
        if (servers.Count == 0)
            servers.Add(new IPEndPoint(IPAddress.Loopback, 53));
        return servers;
    }

    // IPAddress.TryParse also takes "1", "0x7f.1" and the like; resolv.conf means dotted quads or IPv6.
    private static bool IsAddressSyntax(ReadOnlySpan<char> text, IPAddress address) =>
        address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 || DomainName.IsDottedQuad(text);
}
