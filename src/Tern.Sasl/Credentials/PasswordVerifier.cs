using Tern.Sasl.Scram;

namespace Tern.Sasl.Credentials;

/// <summary>Checks a password offered in clear (PLAIN, LOGIN) against the stored SCRAM-SHA-256 key.</summary>
internal static class PasswordVerifier
{
    /// <summary>
    /// <see cref="SaslFailure.None"/> when the password is right. An unknown name costs the same
    /// PBKDF2 work (the store's fake parameters), so timing does not reveal which accounts exist.
    /// </summary>
    public static SaslFailure Verify(AccountStore accounts, string username, ReadOnlySpan<byte> password)
    {
        var fake = accounts.FakeScram(ScramAlgorithm.Sha256, username);
        var known = accounts.TryGet(username, out var account);
        var credential = known ? account!.ScramSha256 : fake;
        var matches = credential.Verify(ScramAlgorithm.Sha256, password);
        if (!known)
        {
            return SaslFailure.UnknownUser;
        }

        return matches ? SaslFailure.None : SaslFailure.BadCredentials;
    }
}
