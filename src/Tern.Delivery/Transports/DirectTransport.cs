using System.Net;

namespace Tern.Delivery;

/// <summary>
/// Delivery to the recipient domain's MX hosts (RFC 5321 section 5.1), or its address records when
/// it has no MX. The default transport: <see cref="RouteTable"/> uses one named
/// <see cref="DefaultName"/> when no route matches.
/// </summary>
public sealed record DirectTransport : Transport
{
    /// <summary>The name of the built-in default transport (replaced when the configuration defines a transport of that name).</summary>
    public const string DefaultName = "direct";

    /// <summary>The built-in default: direct delivery with the host's own name and the kernel's choice of source address.</summary>
    public static DirectTransport Default { get; } = new() { Name = DefaultName };

    public override TransportKind Kind => TransportKind.Direct;

    /// <summary>
    /// True: REQUIRETLS is enforced per destination by the SMTP client, which then requires DANE
    /// (RFC 7672) or an enforced MTA-STS policy (RFC 8461) and the server's REQUIRETLS
    /// (RFC 8689 section 4.2.1); the transport itself never forbids it.
    /// </summary>
    public override bool VerifiesTls => true;

    /// <summary>Never connect over IPv4 (skip A records).</summary>
    public bool DisableIPv4 { get; init; }

    /// <summary>Never connect over IPv6 (skip AAAA records).</summary>
    public bool DisableIPv6 { get; init; }

    /// <summary>Local address bound for IPv4 connections; null: the kernel chooses.</summary>
    public IPAddress? SourceIPv4 { get; init; }

    /// <summary>Local address bound for IPv6 connections; null: the kernel chooses.</summary>
    public IPAddress? SourceIPv6 { get; init; }

    /// <summary>The name sent in EHLO/HELO (RFC 5321 section 4.1.1.1); null: the host's name.</summary>
    public string? EhloName { get; init; }
}
