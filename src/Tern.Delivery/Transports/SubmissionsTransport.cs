namespace Tern.Delivery;

/// <summary>A submission server on port 465 with implicit TLS (RFC 8314 section 3.3), AUTH (RFC 4954).</summary>
public sealed record SubmissionsTransport : SmarthostTransport
{
    public const int DefaultPort = 465;

    public SubmissionsTransport() => Port = DefaultPort;

    public override TransportKind Kind => TransportKind.Submissions;

    public override SmarthostTls Tls => SmarthostTls.Implicit;
}
