namespace Tern.Dns;

/// <summary>One MX record (RFC 1035 section 3.3.9).</summary>
/// <param name="Preference">Lower is tried first.</param>
/// <param name="Host">The exchange, normalized (lower case, no trailing dot); empty for the root, i.e. a null MX (RFC 7505).</param>
public sealed record MxRecord(ushort Preference, string Host)
{
    /// <summary>The exchange is "." (RFC 7505 section 3): the domain accepts no mail.</summary>
    public bool IsNullMx => Host.Length == 0;
}
