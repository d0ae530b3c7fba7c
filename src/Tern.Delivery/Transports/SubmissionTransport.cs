namespace Tern.Delivery;

/// <summary>A submission server on port 587 (RFC 6409): STARTTLS always (RFC 3207), AUTH (RFC 4954).</summary>
public sealed record SubmissionTransport : SmarthostTransport
{
    public const int DefaultPort = 587;

    public SubmissionTransport() => Port = DefaultPort;

    public override TransportKind Kind => TransportKind.Submission;

    public override SmarthostTls Tls => SmarthostTls.StartTls;
}
