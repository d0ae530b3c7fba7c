using System.Net;

namespace Tern.Delivery;

/// <summary>
/// Username/password for a SOCKS5 proxy (RFC 1929: 1 to 255 bytes each). <see cref="ToString"/>
/// never shows the password.
/// </summary>
public sealed record Socks5Credentials(string Username, string Password)
{
    public override string ToString() => $"Socks5Credentials {{ Username = {Username}, Password = *** }}";
}

/// <summary>
/// Direct delivery (MX lookup as for <see cref="DirectTransport"/>) with every connection made
/// through a SOCKS5 proxy (RFC 1928). The remote server sees the proxy's public address, so the
/// EHLO name and the addresses to expect (for SPF records, reverse DNS, logs) are the proxy's.
/// </summary>
public sealed record SocksTransport : Transport
{
    public const int DefaultProxyPort = 1080;

    public override TransportKind Kind => TransportKind.Socks;

    /// <summary>As for <see cref="DirectTransport"/>: REQUIRETLS is enforced per destination by the SMTP client (RFC 8689 section 4.2.1).</summary>
    public override bool VerifiesTls => true;

    /// <summary>The proxy's IP address literal (the connector refuses a host name: a static binary has no system resolver).</summary>
    public required string ProxyHost { get; init; }

    public int ProxyPort { get; init; } = DefaultProxyPort;

    /// <summary>Username/password authentication (RFC 1929); null: only "no authentication" is offered.</summary>
    public Socks5Credentials? Credentials { get; init; }

    /// <summary>The name sent in EHLO: the proxy's public host name (RFC 5321 section 4.1.1.1 wants the client's own name).</summary>
    public required string EhloName { get; init; }

    /// <summary>The proxy's public IP addresses, as remote servers see them (for logs, SPF checks and DSN Remote-MTA context).</summary>
    public required IReadOnlyList<IPAddress> PublicAddresses { get; init; }
}
