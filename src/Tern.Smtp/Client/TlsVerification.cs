namespace Tern.Smtp.Client;

/// <summary>
/// One TLSA record (RFC 6698 section 2.1) as the caller found it in DNS: certificate usage,
/// selector, matching type and the association data. The SMTP client does not look records up:
/// the delivery layer supplies them (only when the whole DNS chain was DNSSEC-authentic, RFC 7672).
/// </summary>
public sealed record TlsaRecord(byte Usage, byte Selector, byte MatchingType, byte[] Data)
{
    /// <summary>
    /// SMTP can use it (RFC 7672 sections 2.2, 3.1): DANE-TA(2) or DANE-EE(3), a known selector and a
    /// known matching type with data of the right length; the same test the DANE verification applies.
    /// </summary>
    public bool IsUsable => Tls.DaneVerifier.WhyUnusable(this) is null;
}

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

    /// <summary>
    /// A failed DANE verification fails the connection (unless <see cref="IgnoreVerificationErrors"/>). When no record is
    /// usable DANE does not apply (<see cref="TlsVerification.DaneValid"/> null) and this switch does not fail the handshake.
    /// </summary>
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

    /// <summary>
    /// PEM bundle of trusted roots for PKIX (only these are trusted then); null: the system's store (/etc/ssl/certs).
    /// Parsed per call unless the caller passes a <c>Tern.Smtp.Client.Tls.TrustStore</c>, which caches it per path.
    /// </summary>
    public string? CaBundlePath { get; init; }
}

/// <summary>
/// What the two verifications said about one handshake (computed by
/// <c>Tern.Smtp.Client.Tls.TlsVerifier.Verify</c>). Both always run, whatever the switches.
/// </summary>
/// <param name="PkixValid">The chain verifies to a trusted root (<see cref="ClientTlsOptions.CaBundlePath"/> or the
/// system store), no certificate is expired, and a DNS-ID (or IP-ID) matches <see cref="ClientTlsOptions.ServerName"/>
/// (RFC 6125/9525: wildcard only as the whole left-most label, one label). Revocation is not checked.</param>
/// <param name="PkixError">Why not (null when valid).</param>
/// <param name="DaneValid">
/// Null when DANE does not apply: no TLSA records, or records present but none usable (only PKIX-TA(0)/PKIX-EE(1),
/// unknown or malformed fields; RFC 7672 sections 2.2 and 3.1.3). In the latter case TLS is still mandatory but the
/// server is unauthenticated by DANE; that policy is the caller's. Otherwise whether a DANE-EE(3) record matched the
/// leaf (no name or expiry check, RFC 7672 section 3.1.1) or a DANE-TA(2) record matched a certificate the leaf
/// chains to, with the leaf's name matching <see cref="ClientTlsOptions.ServerName"/> or one of
/// <see cref="ClientTlsOptions.DaneNames"/> (RFC 7672 sections 3.1.2, 3.2.2, 3.2.3).
/// </param>
/// <param name="DaneError">Why not; or, when <paramref name="DaneValid"/> is null with records present, why none was
/// usable. Null when valid or when there were no records.</param>
/// <param name="Accepted">Whether the handshake is let through under the options:
/// <c>IgnoreVerificationErrors || ((!VerifyPkix || PkixValid) &amp;&amp; (!VerifyDane || DaneValid != false))</c>.
/// A null <paramref name="DaneValid"/> never fails it.</param>
public sealed record TlsVerification(bool PkixValid, string? PkixError, bool? DaneValid, string? DaneError, bool Accepted);
