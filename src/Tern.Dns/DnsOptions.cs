using System.Net;

namespace Tern.Dns;

/// <summary>How <see cref="DnsResolver"/> talks to the recursive resolver and caches. Built by the host from its configuration.</summary>
public sealed record DnsOptions
{
    /// <summary>The recursive resolvers, tried in order. Null or empty: the nameserver lines of /etc/resolv.conf (<see cref="ResolvConf"/>).</summary>
    public IReadOnlyList<IPEndPoint>? Servers { get; init; }

    /// <summary>How long to wait for one response.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Tries per server before moving to the next (like resolv.conf's "attempts").</summary>
    public int Attempts { get; init; } = 2;

    /// <summary>
    /// Believe the AD bit from servers that are not on loopback. Only safe when the path to them is
    /// trusted (RFC 6698 section 4.1 / RFC 7672 section 2.1: the AD bit is only as good as that path).
    /// </summary>
    public bool TrustAdBit { get; init; }

    /// <summary>Upper bound on cached answers; the least recently used go first.</summary>
    public int CacheMaxEntries { get; init; } = 10_000;

    /// <summary>Positive answers are cached at least this long (0: a TTL of 0 is not cached).</summary>
    public TimeSpan MinTtl { get; init; } = TimeSpan.Zero;

    /// <summary>...and at most this long (unbound's cache-max-ttl default).</summary>
    public TimeSpan MaxTtl { get; init; } = TimeSpan.FromDays(1);

    /// <summary>
    /// NXDOMAIN and no-data answers are cached for min(SOA TTL, SOA MINIMUM) (RFC 2308 section 5), at most
    /// this long (RFC 2308 section 5 suggests one to three hours).
    /// </summary>
    public TimeSpan MaxNegativeTtl { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Negative answers without an SOA record are cached this long.</summary>
    public TimeSpan DefaultNegativeTtl { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Failures (SERVFAIL, timeouts, FORMERR...) are cached this long so a queue full of mail for one broken
    /// domain does not ask again for every message; at most five minutes (RFC 2308 section 7). Zero: not cached.
    /// </summary>
    public TimeSpan FailureTtl { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Most CNAMEs followed for one lookup; a longer chain (or a loop) is a temporary failure.</summary>
    public int MaxCnameDepth { get; init; } = 8;
}
