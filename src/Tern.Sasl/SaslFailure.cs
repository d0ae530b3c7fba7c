namespace Tern.Sasl;

/// <summary>
/// Why an exchange failed. These are for logs and for choosing the protocol reply; they are not
/// meant to be shown to the peer verbatim: <see cref="UnknownUser"/>, <see cref="BadCredentials"/>,
/// <see cref="NoCredentialsForMechanism"/> and <see cref="AuthorizationDenied"/> must all produce
/// the same reply, so that a probe cannot tell which accounts exist.
/// </summary>
public enum SaslFailure
{
    /// <summary>No failure (the step continued or succeeded).</summary>
    None = 0,

    /// <summary>The peer's message broke the mechanism's syntax, limits or sequence.</summary>
    Malformed,

    /// <summary>The account exists and the password or proof was wrong.</summary>
    BadCredentials,

    /// <summary>No account with that name (for SCRAM, detected only at the proof, like a wrong password).</summary>
    UnknownUser,

    /// <summary>The account exists but has no credential for this mechanism (CRAM-MD5 not enabled for it).</summary>
    NoCredentialsForMechanism,

    /// <summary>The credentials were right but the client asked to act as another identity (no proxy authorization).</summary>
    AuthorizationDenied,

    /// <summary>SCRAM: the channel binding data the client sent is not this connection's (RFC 5802 section 6).</summary>
    ChannelBindingMismatch,

    /// <summary>SCRAM -PLUS: the client did not send channel binding ("n" or "y" flag) to a -PLUS mechanism.</summary>
    ChannelBindingRequired,

    /// <summary>SCRAM: the client asked for channel binding this server cannot give ("p=" to a non-PLUS mechanism, or a binding type other than the connection's).</summary>
    ChannelBindingUnsupported,

    /// <summary>SCRAM: "y" flag while this server offers a -PLUS mechanism: a man in the middle may have removed it (RFC 5802 section 6).</summary>
    Downgrade,

    /// <summary>The mechanism needs TLS and the connection has none (SMTP: 538 5.7.11, RFC 4954 section 6).</summary>
    EncryptionRequired,

    /// <summary>The client cancelled the exchange ("*" in SMTP).</summary>
    Aborted,

    /// <summary>Client side: the server's SCRAM signature was missing or wrong, so the server is not who it claims.</summary>
    BadServerSignature,

    /// <summary>Client side: the server answered with a SCRAM "e=" error.</summary>
    ServerError,

    /// <summary>Client side: the server's SCRAM iteration count is outside 4096..1,000,000 (too weak, or a CPU exhaustion attempt).</summary>
    IterationCountOutOfRange,
}
