using Tern.Sasl.Credentials;
using Tern.Sasl.Text;

namespace Tern.Sasl.Login;

/// <summary>
/// LOGIN (draft-murchison-sasl-login): the server prompts "Username:" then "Password:"; each
/// answer is the bare value. Some clients send the username as the initial response.
/// </summary>
internal sealed class LoginServer : SaslServer
{
    private readonly AccountStore _accounts;
    private string? _username;

    public LoginServer(AccountStore accounts) => _accounts = accounts;

    public override string Mechanism => SaslMechanisms.Login;

    // The draft's prompts; clients ignore the text and answer by position.
    private static byte[] UsernamePrompt => "Username:"u8.ToArray();

    private static byte[] PasswordPrompt => "Password:"u8.ToArray();

    private protected override SaslServerStep OnStart() => SaslServerStep.Continue(UsernamePrompt);

    private protected override SaslServerStep OnResponse(ReadOnlySpan<byte> response, bool isInitialResponse)
    {
        if (_username is null)
        {
            var username = response.IsEmpty || response.Contains((byte)0) ? null : SaslNames.DecodeUtf8(response);
            if (username is null)
            {
                return SaslServerStep.Failed(SaslFailure.Malformed);
            }

            _username = username;
            AttemptedUsername = username;
            return SaslServerStep.Continue(PasswordPrompt);
        }

        if (response.IsEmpty || response.Contains((byte)0))
        {
            return SaslServerStep.Failed(SaslFailure.Malformed);
        }

        var failure = PasswordVerifier.Verify(_accounts, _username, response);
        return failure == SaslFailure.None ? SaslServerStep.Succeeded(_username) : SaslServerStep.Failed(failure);
    }
}
