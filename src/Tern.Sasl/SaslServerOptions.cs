namespace Tern.Sasl;

/// <summary>Server-wide SASL settings (one instance per listener configuration).</summary>
public sealed class SaslServerOptions
{
    /// <summary>
    /// The mechanisms to offer, in advertising order. Each is still offered only where it can work:
    /// -PLUS needs TLS with a channel binding, PLAIN and LOGIN need TLS unless
    /// <see cref="AllowPasswordMechanismsWithoutTls"/>. Default: every mechanism except CRAM-MD5
    /// (which also needs the account to have it enabled).
    /// </summary>
    public IReadOnlyList<string> Mechanisms { get; init; } =
    [
        SaslMechanisms.ScramSha256Plus, SaslMechanisms.ScramSha256, SaslMechanisms.ScramSha1Plus, SaslMechanisms.ScramSha1,
        SaslMechanisms.Plain, SaslMechanisms.Login,
    ];

    /// <summary>Offer PLAIN and LOGIN, which send the password itself, on connections without TLS. Off by default.</summary>
    public bool AllowPasswordMechanismsWithoutTls { get; init; }

    /// <summary>The host name in CRAM-MD5 challenges (RFC 2195 section 2: a msg-id style string).</summary>
    public string Hostname { get; init; } = "localhost";
}
