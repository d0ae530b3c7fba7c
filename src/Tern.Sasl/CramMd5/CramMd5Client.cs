using System.Text;

namespace Tern.Sasl.CramMd5;

/// <summary>CRAM-MD5 (RFC 2195), client side: answers the challenge with <c>user SP hex(HMAC-MD5(password, challenge))</c>.</summary>
internal sealed class CramMd5Client : SaslClient
{
    private readonly string _username;
    private readonly string _password;
    private bool _answered;

    public CramMd5Client(string username, string password)
    {
        _username = username;
        _password = password;
    }

    public override string Mechanism => SaslMechanisms.CramMd5;

    private protected override SaslClientStep OnStart() => SaslClientStep.Continue(null);

    private protected override SaslClientStep OnChallenge(ReadOnlySpan<byte> challenge)
    {
        if (_answered || challenge.IsEmpty)
        {
            return SaslClientStep.Failed(SaslFailure.Malformed);
        }

        _answered = true;
        var key = Encoding.UTF8.GetBytes(_password);
        Span<byte> mac = stackalloc byte[Md5State.Size];
        HmacMd5Precomputed.FromKey(key).Compute(challenge, mac);
        System.Security.Cryptography.CryptographicOperations.ZeroMemory(key);
        return SaslClientStep.Continue(Encoding.UTF8.GetBytes($"{_username} {Convert.ToHexStringLower(mac)}"));
    }

    private protected override SaslClientStep OnComplete(ReadOnlySpan<byte> additionalData) =>
        _answered && additionalData.IsEmpty ? SaslClientStep.Succeeded() : SaslClientStep.Failed(SaslFailure.Malformed);
}
