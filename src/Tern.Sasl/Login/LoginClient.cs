using System.Text;

namespace Tern.Sasl.Login;

/// <summary>LOGIN, client side: the first challenge gets the username, the second the password, whatever the prompts say.</summary>
internal sealed class LoginClient : SaslClient
{
    private readonly string _username;
    private readonly string _password;
    private int _answered;

    public LoginClient(string username, string password)
    {
        _username = username;
        _password = password;
    }

    public override string Mechanism => SaslMechanisms.Login;

    private protected override SaslClientStep OnStart() => SaslClientStep.Continue(null);

    private protected override SaslClientStep OnChallenge(ReadOnlySpan<byte> challenge)
    {
        _answered++;
        return _answered switch
        {
            1 => SaslClientStep.Continue(Encoding.UTF8.GetBytes(_username)),
            2 => SaslClientStep.Continue(Encoding.UTF8.GetBytes(_password)),
            _ => SaslClientStep.Failed(SaslFailure.Malformed),
        };
    }

    private protected override SaslClientStep OnComplete(ReadOnlySpan<byte> additionalData) =>
        _answered == 2 && additionalData.IsEmpty ? SaslClientStep.Succeeded() : SaslClientStep.Failed(SaslFailure.Malformed);
}
