namespace Tern.Delivery;

/// <summary>
/// One routing rule: a message whose sender and recipient domains and attempt count match goes
/// through <see cref="Transport"/>. Domains are in IDNA A-label form (RFC 5890 section 2.3.2.1),
/// compared case-insensitively; "example.com" matches that domain only, ".example.com" matches it
/// and any subdomain. An empty list matches every domain.
/// </summary>
public sealed record Route
{
    /// <summary>Domains of the envelope sender (RFC 5321 MAIL FROM); empty: any sender, including the null sender.</summary>
    public IReadOnlyList<string> SenderDomains { get; init; } = [];

    /// <summary>Domains of the recipient (RFC 5321 RCPT TO); empty: any recipient.</summary>
    public IReadOnlyList<string> RecipientDomains { get; init; } = [];

    /// <summary>Matches only once this many attempts have been made (0: from the first attempt), e.g. to fall back to a smarthost.</summary>
    public int MinimumAttempts { get; init; }

    /// <summary>The name of the transport to use.</summary>
    public required string Transport { get; init; }
}
