namespace Tern.Delivery;

/// <summary>
/// A delivery that ends before (or instead of) talking to a server, with the reply to record for the
/// recipients and put in a DSN (RFC 3464 Status and Diagnostic-Code).
/// </summary>
/// <param name="Code">SMTP reply code, 4xx (temporary) or 5xx (permanent), RFC 5321 section 4.2.1.</param>
/// <param name="EnhancedCode">Enhanced status code, RFC 3463 (e.g. "5.7.30").</param>
/// <param name="Text">Reply text.</param>
public sealed record DeliveryFailure(int Code, string EnhancedCode, string Text)
{
    /// <summary>5xx: no retry (RFC 5321 section 4.2.1).</summary>
    public bool Permanent => Code >= 500;

    public override string ToString() => $"{Code} {EnhancedCode} {Text}";
}
