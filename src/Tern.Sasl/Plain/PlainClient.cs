using System.Text;

namespace Tern.Sasl.Plain;

/// <summary>PLAIN (RFC 4616), client side: everything in the initial response.</summary>
internal sealed class PlainClient : SaslClient
{
    private readonly string _username;
    private readonly string _password;
    private readonly string? _authorizationIdentity;

    public PlainClient(string username, string password, string? authorizationIdentity)
    {
        _username = username;
        _password = password;
        _authorizationIdentity = authorizationIdentity;
    }

    public override string Mechanism => SaslMechanisms.Plain;

    private protected override SaslClientStep OnStart() =>
        SaslClientStep.Continue(Encoding.UTF8.GetBytes($"{_authorizationIdentity}\0{_username}\0{_password}"));

    // PLAIN has a single message: any challenge after it is out of sequence.
    private protected override SaslClientStep OnChallenge(ReadOnlySpan<byte> challenge) => SaslClientStep.Failed(SaslFailure.Malformed);

    private protected override SaslClientStep OnComplete(ReadOnlySpan<byte> additionalData) =>
        additionalData.IsEmpty ? SaslClientStep.Succeeded() : SaslClientStep.Failed(SaslFailure.Malformed);
}
