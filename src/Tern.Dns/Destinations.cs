using System.Net;

namespace Tern.Dns;

/// <summary>The hosts to try for a recipient domain, in order (RFC 5321 section 5.1).</summary>
public sealed record Destinations
{
    public required DestinationStatus Status { get; init; }

    /// <summary>The recipient domain, normalized (an address literal as given).</summary>
    public required string Domain { get; init; }

    /// <summary>The domain after following its CNAMEs; the MX records belong to this name.</summary>
    public required string ExpandedDomain { get; init; }

    /// <summary>Lowest preference first, equal preferences in random order; empty unless <see cref="Status"/> is Ok.</summary>
    public IReadOnlyList<DestinationHost> Hosts { get; init; } = [];

    /// <summary>There was no MX record: the domain itself is the only host (RFC 5321 section 5.1).</summary>
    public bool ImplicitMx { get; init; }

    /// <summary>The MX answer (or its authenticated denial) and the domain's CNAMEs were DNSSEC-authentic.</summary>
    public bool Authentic { get; init; }

    /// <summary>The RFC 3463 code for a failure: <see cref="DestinationCodes"/>.</summary>
    public string? EnhancedCode { get; init; }

    public string? Error { get; init; }
}

/// <summary>One host to try.</summary>
public sealed record DestinationHost
{
    /// <summary>The MX exchange (or the domain for an implicit MX), normalized; the literal text for an address literal.</summary>
    public required string Name { get; init; }

    public ushort Preference { get; init; }

    /// <summary>Set for an address literal recipient domain ("[192.0.2.1]"): no DNS is involved.</summary>
    public IPAddress? Address { get; init; }

    /// <summary>The MX answer that named this host and the CNAMEs before it were DNSSEC-authentic.</summary>
    public bool MxAuthentic { get; init; }
}

/// <summary>The addresses of one host, A and AAAA together.</summary>
public sealed record HostAddresses
{
    public required DestinationStatus Status { get; init; }

    public required string Host { get; init; }

    /// <summary>The host name after its CNAMEs: where DANE looks for TLSA records first (RFC 7672 section 2.2.2).</summary>
    public required string CanonicalName { get; init; }

    /// <summary>IPv4 first, then IPv6, in DNS order; order them for an attempt with <see cref="AddressOrder.ForAttempt"/>.</summary>
    public IReadOnlyList<IPAddress> Addresses { get; init; } = [];

    /// <summary>
    /// The whole chain was DNSSEC-authentic: the MX answer, the CNAMEs, and the A and AAAA answers (both, even
    /// when one is empty). DANE applies only then (RFC 7672 section 2.2).
    /// </summary>
    public bool Authentic { get; init; }

    public string? EnhancedCode { get; init; }

    /// <summary>Why the lookup failed, or what failed alongside usable addresses (one family timed out).</summary>
    public string? Error { get; init; }
}
