namespace Tern.Delivery;

/// <summary>What a recipient domain's server offered on the last delivery to it.</summary>
/// <param name="Domain">Lower-case, A-label form (or an address literal).</param>
/// <param name="LastDelivery">When the session of that delivery was opened.</param>
/// <param name="StartTls">The server offered STARTTLS.</param>
/// <param name="Verified">TLS was established and verified: DANE, or PKIX under an enforced MTA-STS policy (what REQUIRETLS needs).</param>
/// <param name="RequireTls">The server announced REQUIRETLS (RFC 8689).</param>
public sealed record DomainTlsRecord(string Domain, DateTimeOffset LastDelivery, bool StartTls, bool Verified, bool RequireTls)
{
    /// <summary>
    /// A REQUIRETLS message would have gone through on that session: verified TLS to a server that
    /// announces REQUIRETLS (RFC 8689 section 4.2.1), the condition of the automatic choice.
    /// </summary>
    public bool TakesRequireTls => StartTls && Verified && RequireTls;
}
