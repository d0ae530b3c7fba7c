namespace Tern.Delivery;

/// <summary>The kinds of transport; also the <c>transport</c> label of delivery metrics.</summary>
public enum TransportKind
{
    /// <summary>Delivery to the recipient domain's MX hosts (RFC 5321 section 5).</summary>
    Direct,

    /// <summary>Relay through a smarthost on port 25 (RFC 5321).</summary>
    Smtp,

    /// <summary>Relay through a submission server on port 587 with STARTTLS and AUTH (RFC 6409, RFC 3207, RFC 4954).</summary>
    Submission,

    /// <summary>Relay through a submission server on port 465 with implicit TLS and AUTH (RFC 8314 section 3).</summary>
    Submissions,

    /// <summary>Direct delivery with every connection made through a SOCKS5 proxy (RFC 1928).</summary>
    Socks,

    /// <summary>No delivery: every attempt is refused with a configured reply.</summary>
    Fail,
}

/// <summary>
/// How a message leaves Tern. Transports are named; routes (<see cref="Route"/>) and the operator
/// (<c>tern queue set transport</c>) refer to them by name. Immutable: the host builds them from its
/// configuration and replaces them as a whole.
/// </summary>
public abstract record Transport
{
    /// <summary>The name routes and queued messages use (no spaces or control characters, at most 255 characters).</summary>
    public required string Name { get; init; }

    public abstract TransportKind Kind { get; }

    /// <summary>
    /// Whether every delivery through this transport happens over TLS whose certificate is verified
    /// (PKIX or DANE). A REQUIRETLS message (RFC 8689 section 4.2.1) may only take a transport for
    /// which this is true; <see cref="RouteTable.Resolve"/> fails it with 5.7.30 otherwise.
    /// </summary>
    public abstract bool VerifiesTls { get; }
}
