namespace Tern.Delivery;

/// <summary>How a smarthost connection gets its TLS.</summary>
public enum SmarthostTls
{
    /// <summary>STARTTLS when offered, plaintext otherwise (RFC 3207 section 4; RFC 7435 opportunistic security).</summary>
    Opportunistic,

    /// <summary>STARTTLS (RFC 3207), and no delivery without it.</summary>
    StartTls,

    /// <summary>TLS from the first byte (RFC 8314 section 3.3).</summary>
    Implicit,
}

/// <summary>
/// Relaying through one configured server (smarthost) instead of the recipient's MX hosts: the
/// common part of <see cref="SmtpTransport"/>, <see cref="SubmissionTransport"/> and
/// <see cref="SubmissionsTransport"/>. The host name is resolved for its addresses only (no MX
/// lookup) and is the name the certificate must carry.
/// </summary>
public abstract record SmarthostTransport : Transport
{
    /// <summary>The smarthost's host name (or IP address literal).</summary>
    public required string Host { get; init; }

    /// <summary>TCP port; each kind has its own default.</summary>
    public int Port { get; init; }

    /// <summary>Check the certificate against the host name with the system's roots (PKIX, RFC 6125).</summary>
    public bool VerifyTls { get; init; } = true;

    /// <summary>SMTP AUTH (RFC 4954); null: none.</summary>
    public SmarthostAuth? Auth { get; init; }

    /// <summary>The name sent in EHLO (RFC 5321 section 4.1.1.1); null: the host's name.</summary>
    public string? EhloName { get; init; }

    /// <summary>How TLS is obtained.</summary>
    public abstract SmarthostTls Tls { get; }

    public override bool VerifiesTls => Tls != SmarthostTls.Opportunistic && VerifyTls;
}
