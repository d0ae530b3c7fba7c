namespace Tern.Sasl;

/// <summary>
/// The outcome of one server step. <see cref="SaslStatus.Continue"/>: send <see cref="Challenge"/>
/// (possibly empty) and pass the client's answer to <see cref="SaslServer.Step"/>.
/// <see cref="SaslStatus.Success"/>: <see cref="Username"/> is authenticated and acts as
/// <see cref="AuthorizationIdentity"/>. <see cref="SaslStatus.Failure"/>: <see cref="Failure"/> says why.
/// </summary>
public readonly record struct SaslServerStep
{
    private SaslServerStep(SaslStatus status, byte[]? challenge, SaslFailure failure, string? username, string? authorizationIdentity)
    {
        Status = status;
        Challenge = challenge;
        Failure = failure;
        Username = username;
        AuthorizationIdentity = authorizationIdentity;
    }

    public SaslStatus Status { get; }

    /// <summary>The bytes to send (the SMTP layer base64-encodes them into a 334 reply); set only for Continue.</summary>
    public byte[]? Challenge { get; }

    public SaslFailure Failure { get; }

    /// <summary>The authenticated account name, as stored; set only on Success.</summary>
    public string? Username { get; }

    /// <summary>
    /// The identity the client acts as; set only on Success. Always equal to <see cref="Username"/>:
    /// a request to act as someone else fails with <see cref="SaslFailure.AuthorizationDenied"/>
    /// (there is no proxy authorization, so a submitter can never send as another account).
    /// </summary>
    public string? AuthorizationIdentity { get; }

    internal static SaslServerStep Continue(byte[] challenge) => new(SaslStatus.Continue, challenge, SaslFailure.None, null, null);

    internal static SaslServerStep Succeeded(string username) => new(SaslStatus.Success, null, SaslFailure.None, username, username);

    internal static SaslServerStep Failed(SaslFailure reason) => new(SaslStatus.Failure, null, reason, null, null);
}
