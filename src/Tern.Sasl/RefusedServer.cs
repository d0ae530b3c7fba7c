namespace Tern.Sasl;

/// <summary>A mechanism that cannot run on this connection: its first step fails with the reason.</summary>
internal sealed class RefusedServer : SaslServer
{
    private readonly SaslFailure _reason;

    public RefusedServer(string mechanism, SaslFailure reason)
    {
        Mechanism = mechanism;
        _reason = reason;
    }

    public override string Mechanism { get; }

    private protected override SaslServerStep OnStart() => SaslServerStep.Failed(_reason);

    private protected override SaslServerStep OnResponse(ReadOnlySpan<byte> response, bool isInitialResponse) => SaslServerStep.Failed(_reason);
}
