using Tern.Sasl.Credentials;
using Tern.Sasl.Text;

namespace Tern.Sasl.Plain;

/// <summary>PLAIN (RFC 4616): one client message, <c>[authzid] NUL authcid NUL passwd</c>.</summary>
internal sealed class PlainServer : SaslServer
{
    private readonly AccountStore _accounts;

    public PlainServer(AccountStore accounts) => _accounts = accounts;

    public override string Mechanism => SaslMechanisms.Plain;

    // RFC 4616 section 2: the client goes first; without an initial response the server sends an empty challenge.
    private protected override SaslServerStep OnStart() => SaslServerStep.Continue([]);

    private protected override SaslServerStep OnResponse(ReadOnlySpan<byte> response, bool isInitialResponse)
    {
        var firstNul = response.IndexOf((byte)0);
        if (firstNul < 0)
        {
            return SaslServerStep.Failed(SaslFailure.Malformed);
        }

        var authzid = response[..firstNul];
        var rest = response[(firstNul + 1)..];
        var secondNul = rest.IndexOf((byte)0);
        if (secondNul < 0)
        {
            return SaslServerStep.Failed(SaslFailure.Malformed);
        }

        var authcid = rest[..secondNul];
        var password = rest[(secondNul + 1)..];

        // RFC 4616 section 2: authcid and passwd are 1*SAFE (no NUL), authzid may be empty.
        if (authcid.IsEmpty || password.IsEmpty || password.Contains((byte)0))
        {
            return SaslServerStep.Failed(SaslFailure.Malformed);
        }

        var username = SaslNames.DecodeUtf8(authcid);
        var authorization = SaslNames.DecodeUtf8(authzid);
        if (username is null || authorization is null)
        {
            return SaslServerStep.Failed(SaslFailure.Malformed);
        }

        AttemptedUsername = username;
        var failure = PasswordVerifier.Verify(_accounts, username, password);
        if (failure != SaslFailure.None)
        {
            return SaslServerStep.Failed(failure);
        }

        // RFC 4616 section 2: an authzid other than the authcid asks to act as someone else; there is no proxy authorization here.
        if (authorization.Length != 0 && !string.Equals(authorization, username, StringComparison.Ordinal))
        {
            return SaslServerStep.Failed(SaslFailure.AuthorizationDenied);
        }

        return SaslServerStep.Succeeded(username);
    }
}
