using System.Net;

namespace Tern.Delivery;

/// <summary>Settings of a connector (<see cref="DirectConnector"/>, <see cref="Socks5Connector"/>).</summary>
public sealed record ConnectorOptions
{
    /// <summary>30 seconds for all of a host's addresses together (mail-behaviour.md; RFC 5321 section 4.5.3.2 sets no connect timeout).</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Time for one <see cref="IConnector.ConnectAsync"/> call, all addresses (and the SOCKS5 negotiations) included.</summary>
    public TimeSpan Timeout { get; init; } = DefaultTimeout;

    /// <summary>Skip IPv4 target addresses.</summary>
    public bool DisableIPv4 { get; init; }

    /// <summary>Skip IPv6 target addresses.</summary>
    public bool DisableIPv6 { get; init; }

    /// <summary>Local address bound for IPv4 connections (to the target, or to the proxy for SOCKS5); null: the kernel chooses.</summary>
    public IPAddress? SourceIPv4 { get; init; }

    /// <summary>Local address bound for IPv6 connections; null: the kernel chooses.</summary>
    public IPAddress? SourceIPv6 { get; init; }

    /// <summary>The connection settings of a direct transport.</summary>
    public static ConnectorOptions For(DirectTransport t, TimeSpan? timeout = null) => new()
    {
        Timeout = timeout ?? DefaultTimeout,
        DisableIPv4 = t.DisableIPv4,
        DisableIPv6 = t.DisableIPv6,
        SourceIPv4 = t.SourceIPv4,
        SourceIPv6 = t.SourceIPv6,
    };
}

/// <summary>Where the SOCKS5 proxy is and how to authenticate to it.</summary>
/// <param name="Host">The proxy's IP address (a host name is refused: no system resolver in a static binary).</param>
/// <param name="Credentials">Username/password (RFC 1929); null: "no authentication" only.</param>
public sealed record Socks5ProxyOptions(string Host, int Port = SocksTransport.DefaultProxyPort, Socks5Credentials? Credentials = null)
{
    public static Socks5ProxyOptions For(SocksTransport t) => new(t.ProxyHost, t.ProxyPort, t.Credentials);
}
