namespace Tern.Delivery;

/// <summary>
/// No delivery: every attempt through this transport ends with the configured reply, as if a
/// remote server had given it (4xx: retried later, 5xx: permanent; RFC 5321 section 4.2.1).
/// </summary>
public sealed record FailTransport : Transport
{
    public override TransportKind Kind => TransportKind.Fail;

    /// <summary>Nothing is ever sent, so nothing can leak: a REQUIRETLS message gets the configured reply too.</summary>
    public override bool VerifiesTls => true;

    /// <summary>Reply code, 400-599 (RFC 5321 section 4.2).</summary>
    public int Code { get; init; } = 554;

    /// <summary>Enhanced status code (RFC 3463) whose class matches <see cref="Code"/>, e.g. "5.7.1".</summary>
    public string EnhancedCode { get; init; } = "5.0.0";

    /// <summary>The reply text (printable US-ASCII, RFC 5321 section 4.2).</summary>
    public string Text { get; init; } = "delivery refused by the fail transport";

    /// <summary>The refusal as a delivery result.</summary>
    public DeliveryFailure Failure => new(Code, EnhancedCode, Text);
}
