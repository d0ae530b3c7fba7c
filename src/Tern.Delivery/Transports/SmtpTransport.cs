namespace Tern.Delivery;

/// <summary>
/// A smarthost on port 25 (RFC 5321). STARTTLS is required and its certificate verified unless
/// <see cref="RequireTls"/> / <see cref="SmarthostTransport.VerifyTls"/> say otherwise; AUTH when
/// credentials are configured.
/// </summary>
public sealed record SmtpTransport : SmarthostTransport
{
    public const int DefaultPort = 25;

    public SmtpTransport() => Port = DefaultPort;

    public override TransportKind Kind => TransportKind.Smtp;

    /// <summary>False: STARTTLS only when offered (opportunistic), plaintext otherwise.</summary>
    public bool RequireTls { get; init; } = true;

    public override SmarthostTls Tls => RequireTls ? SmarthostTls.StartTls : SmarthostTls.Opportunistic;
}
