namespace Tern.Delivery;

/// <summary>What routing looks at for one delivery attempt of one message to one recipient domain.</summary>
/// <param name="Account">The authenticated account that submitted the message; null for relayed mail.</param>
/// <param name="SenderDomain">The envelope sender's domain in A-label form; empty for the null sender (RFC 5321 section 4.5.5).</param>
/// <param name="RecipientDomain">The recipient domain in A-label form.</param>
/// <param name="Attempts">Attempts already made for these recipients.</param>
/// <param name="TransportOverride">The transport the operator set on the message; null or empty: routes decide.</param>
/// <param name="RequireTls">REQUIRETLS applies (RFC 8689; the client's MAIL FROM parameter unless the operator overrode it).</param>
public readonly record struct RouteRequest(
    string? Account,
    string SenderDomain,
    string RecipientDomain,
    int Attempts,
    string? TransportOverride = null,
    bool RequireTls = false);
