namespace Tern.Sasl;

/// <summary>
/// The outcome of one client step. <see cref="SaslStatus.Continue"/>: send <see cref="Response"/>
/// (from <see cref="SaslClient.Start"/>, null means "no initial response").
/// <see cref="SaslStatus.Success"/>: the server is authenticated too where the mechanism can tell
/// (SCRAM). <see cref="SaslStatus.Failure"/>: abort the exchange; <see cref="Failure"/> says why.
/// </summary>
public readonly record struct SaslClientStep
{
    private SaslClientStep(SaslStatus status, byte[]? response, SaslFailure failure)
    {
        Status = status;
        Response = response;
        Failure = failure;
    }

    public SaslStatus Status { get; }

    /// <summary>The bytes to send; may hold the password (PLAIN, LOGIN): never log it.</summary>
    public byte[]? Response { get; }

    public SaslFailure Failure { get; }

    internal static SaslClientStep Continue(byte[]? response) => new(SaslStatus.Continue, response, SaslFailure.None);

    internal static SaslClientStep Succeeded() => new(SaslStatus.Success, null, SaslFailure.None);

    internal static SaslClientStep Failed(SaslFailure reason) => new(SaslStatus.Failure, null, reason);
}
