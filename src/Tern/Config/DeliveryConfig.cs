using System.Net;
using Tern.Delivery;

namespace Tern.Config;

/// <summary>The <c>[dns]</c> section: where delivery asks, and how far it trusts the answers.</summary>
public sealed record DnsConfig
{
    /// <summary>Resolvers to ask; null: the nameservers of /etc/resolv.conf.</summary>
    public IReadOnlyList<IPEndPoint>? Servers { get; init; }

    /// <summary>Trust the AD bit from resolvers that are not on loopback (the path to them must be secure).</summary>
    public bool TrustAdBit { get; init; }

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);

    public int Attempts { get; init; } = 2;

    public int CacheEntries { get; init; } = 10_000;
}

/// <summary>The <c>[delivery]</c> section with the transports and routes.</summary>
public sealed record DeliveryConfig
{
    /// <summary>False: accept and queue only, never deliver (a staging instance, or tests of acceptance).</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>The EHLO name of transports that set none; null: the server's hostname.</summary>
    public string? EhloName { get; init; }

    /// <summary>PEM bundle of roots for PKIX verification; null: the system's store.</summary>
    public string? CaBundle { get; init; }

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public int MaxRecipientsPerTransaction { get; init; } = 100;

    public bool Strict8BitMime { get; init; }

    /// <summary>The port direct delivery connects to: 25 (RFC 5321 section 4.5.4); the end-to-end tests point it at loopback servers.</summary>
    public int DirectPort { get; init; } = 25;

    /// <summary>
    /// Apply recipient domains' MTA-STS policies (RFC 8461) to direct delivery, cached in
    /// <c>DATA/mta-sts.json</c>. On by default, as in mox and in Postfix with an MTA-STS resolver.
    /// </summary>
    public bool MtaSts { get; init; } = true;

    /// <summary>The MTA-STS policy host's HTTPS port: 443 (RFC 8461 section 3.3); the end-to-end tests point it at a loopback server.</summary>
    public int MtaStsPort { get; init; } = 443;

    /// <summary>Retries, limits per destination ([delivery] defaults and [[destinations]]) and the global concurrency.</summary>
    public Tern.Scheduler.SchedulerOptions Scheduler { get; init; } = new();

    /// <summary>Transports and routes, checked by <see cref="RouteTable.TryCreate"/>.</summary>
    public RoutingOptions Routing { get; init; } = new();
}
