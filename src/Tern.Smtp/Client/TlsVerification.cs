namespace Tern.Smtp.Client;

/// <summary>
/// One TLSA record (RFC 6698 section 2.1) as the caller found it in DNS: certificate usage,
/// selector, matching type and the association data. The SMTP client does not look records up:
/// the delivery layer supplies them (only when the whole DNS chain was DNSSEC-authentic, RFC 7672).
/// </summary>
public sealed record TlsaRecord(byte Usage, byte Selector, byte MatchingType, byte[] Data);

/// <summary>
/// How the client treats the server's certificate. Three independent switches (mail-behaviour.md,
/// "TLS modes"): both verifications always run, so that both outcomes can be reported (TLS
/// reporting, RFC 8460); the switches only decide whether a failed one stops the connection.
/// </summary>
public sealed record ClientTlsOptions
{
    /// <summary>The name the certificate must carry for PKIX (and DANE-TA): the MX host name or the smarthost's name. Also sent as SNI.</summary>
    public required string ServerName { get; init; }

    /// <summary>A failed WebPKI verification fails the connection (unless <see cref="IgnoreVerificationErrors"/>).</summary>
    public bool VerifyPkix { get; init; }

    /// <summary>A failed DANE verification fails the connection (unless <see cref="IgnoreVerificationErrors"/>).</summary>
    public bool VerifyDane { get; init; }

    /// <summary>Complete the handshake whatever the verifications say (opportunistic TLS, "TLS-Required: No").</summary>
    public bool IgnoreVerificationErrors { get; init; }

    /// <summary>TLSA records for the host (empty: none, or not DNSSEC-authentic).</summary>
    public IReadOnlyList<TlsaRecord> Tlsa { get; init; } = [];

    /// <summary>
    /// Further names DANE-TA accepts besides <see cref="ServerName"/> (RFC 7672 section 3.2.2: the
    /// TLSA base domain after CNAME expansion, and the recipient domain's MX name as given).
    /// </summary>
    public IReadOnlyList<string> DaneNames { get; init; } = [];

    /// <summary>PEM bundle of trusted roots for PKIX; null: the system's store (/etc/ssl/certs).</summary>
    public string? CaBundlePath { get; init; }
}

/// <summary>What the two verifications said about one handshake.</summary>
/// <param name="PkixValid">The chain verifies to a trusted root and the name matches.</param>
/// <param name="PkixError">Why not (null when valid).</param>
/// <param name="DaneValid">Null when there were no usable TLSA records; otherwise whether one matched.</param>
/// <param name="DaneError">Why not, or why no record was usable (null when valid).</param>
/// <param name="Accepted">Whether the handshake was let through under the options.</param>
public sealed record TlsVerification(bool PkixValid, string? PkixError, bool? DaneValid, string? DaneError, bool Accepted);
