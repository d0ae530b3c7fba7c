namespace Tern.Dns;

/// <summary>The result of one lookup: its status, the records and whether a trusted resolver vouched for them.</summary>
/// <typeparam name="T">The record data: <see cref="MxRecord"/>, <see cref="DnsTlsaRecord"/>, an address, or a name or text.</typeparam>
public sealed record DnsAnswer<T>
{
    public required DnsStatus Status { get; init; }

    /// <summary>The name that was asked (normalized: ASCII, lower case, no trailing dot).</summary>
    public required string Name { get; init; }

    /// <summary>
    /// The name the records belong to after following CNAMEs (equal to <see cref="Name"/> without an alias).
    /// DANE looks up TLSA records at this name first (RFC 7672 section 2.2.2).
    /// </summary>
    public required string CanonicalName { get; init; }

    /// <summary>The records of the asked type at <see cref="CanonicalName"/>; empty unless <see cref="Status"/> is Ok.</summary>
    public IReadOnlyList<T> Records { get; init; } = [];

    /// <summary>
    /// The AD bit of every response used (the CNAMEs included), and only when the resolver is trusted:
    /// all configured servers on loopback or <see cref="DnsOptions.TrustAdBit"/>. DANE (RFC 7672) needs it.
    /// </summary>
    public bool Authentic { get; init; }

    /// <summary>How long the answer is cached: the smallest TTL of the records and CNAMEs used, clamped by <see cref="DnsOptions"/>.</summary>
    public TimeSpan Ttl { get; init; }

    /// <summary>Why the lookup failed, for logs and delivery status texts; null when <see cref="Status"/> is Ok.</summary>
    public string? Error { get; init; }
}
