using System.Security.Cryptography;
using System.Text;
using Tern.Sasl.ChannelBindings;
using Tern.Sasl.Text;

namespace Tern.Sasl.Scram;

/// <summary>
/// SCRAM-SHA-1 / SCRAM-SHA-256 and -PLUS, client side (RFC 5802, RFC 7677). Checks the server's
/// parameters before spending CPU on them, and the server signature before calling it a success.
/// </summary>
internal sealed class ScramClient : SaslClient
{
    private readonly ScramAlgorithm _algorithm;
    private readonly string _username;
    private readonly string _password;
    private readonly string? _authorizationIdentity;
    private readonly ChannelBinding? _binding;
    private readonly string _gs2Flag;
    private readonly string _clientNonce;

    private Phase _phase = Phase.ServerFirst;
    private string _gs2Header = "";
    private string _bare = "";
    private byte[]? _expectedServerSignature;

    /// <param name="plus">The -PLUS variant: <paramref name="binding"/> is required and sent as "p=type".</param>
    /// <param name="binding">The connection's channel binding, if any (with TLS).</param>
    /// <param name="serverOffersPlus">Whether the server advertised any -PLUS mechanism.</param>
    /// <param name="clientNonce">Tests only: the RFC examples' client nonce.</param>
    public ScramClient(ScramAlgorithm algorithm, bool plus, string username, string password, string? authorizationIdentity, ChannelBinding? binding, bool serverOffersPlus, string? clientNonce = null)
    {
        _algorithm = algorithm;
        _username = username;
        _password = password;
        _authorizationIdentity = string.IsNullOrEmpty(authorizationIdentity) ? null : authorizationIdentity;
        _clientNonce = clientNonce ?? ScramMessages.NewNonce();

        // RFC 5802 section 6: "p=" binds; "y" says "I can bind, but you did not offer -PLUS"
        // (a server that did offer it then knows -PLUS was stripped); "n" says "I cannot bind".
        if (plus)
        {
            _binding = binding ?? throw new ArgumentException("a -PLUS mechanism needs the connection's channel binding", nameof(binding));
            _gs2Flag = "p=" + binding.Type;
        }
        else
        {
            _gs2Flag = binding is not null && !serverOffersPlus ? "y" : "n";
        }

        Mechanism = plus ? algorithm.Mechanism + "-PLUS" : algorithm.Mechanism;
    }

    private enum Phase
    {
        ServerFirst,
        ServerFinal,
        Verified,
    }

    public override string Mechanism { get; }

    private protected override SaslClientStep OnStart()
    {
        _gs2Header = _authorizationIdentity is null ? $"{_gs2Flag},," : $"{_gs2Flag},a={ScramMessages.EncodeSaslName(_authorizationIdentity)},";
        _bare = $"n={ScramMessages.EncodeSaslName(_username)},r={_clientNonce}";
        return SaslClientStep.Continue(Encoding.UTF8.GetBytes(_gs2Header + _bare));
    }

    private protected override SaslClientStep OnChallenge(ReadOnlySpan<byte> challenge) => _phase switch
    {
        Phase.ServerFirst => OnServerFirst(challenge),
        Phase.ServerFinal => OnServerFinal(challenge),
        _ => SaslClientStep.Failed(SaslFailure.Malformed),
    };

    private protected override SaslClientStep OnComplete(ReadOnlySpan<byte> additionalData)
    {
        if (_phase == Phase.Verified && additionalData.IsEmpty)
        {
            return SaslClientStep.Succeeded();
        }

        // Protocols with "additional data with success" carry the server-final message here.
        if (_phase == Phase.ServerFinal && !additionalData.IsEmpty)
        {
            var verified = OnServerFinal(additionalData);
            return verified.Status == SaslStatus.Continue ? SaslClientStep.Succeeded() : verified;
        }

        // Success without the server's signature: the server never proved it knows the password.
        return SaslClientStep.Failed(SaslFailure.BadServerSignature);
    }

    private SaslClientStep OnServerFirst(ReadOnlySpan<byte> challenge)
    {
        var text = SaslNames.DecodeUtf8(challenge);
        if (text is null)
        {
            return SaslClientStep.Failed(SaslFailure.Malformed);
        }

        var failure = ScramMessages.ParseServerFirst(text, out var serverFirst);
        if (failure != SaslFailure.None)
        {
            return SaslClientStep.Failed(failure);
        }

        // Section 5.1: the server's nonce must start with ours and add something of its own.
        var nonce = serverFirst!.Nonce;
        if (!nonce.StartsWith(_clientNonce, StringComparison.Ordinal)
            || nonce.Length == _clientNonce.Length
            || nonce.Length > _clientNonce.Length + ScramMessages.MaxNonceLength)
        {
            return SaslClientStep.Failed(SaslFailure.Malformed);
        }

        var length = _algorithm.HashLength;
        Span<byte> salted = stackalloc byte[length];
        Span<byte> clientKey = stackalloc byte[length];
        Span<byte> storedKey = stackalloc byte[length];
        Span<byte> serverKey = stackalloc byte[length];
        var password = Encoding.UTF8.GetBytes(_password);
        _algorithm.SaltedPassword(password, serverFirst.Salt, serverFirst.Iterations, salted);
        CryptographicOperations.ZeroMemory(password);
        _algorithm.ClientKey(salted, clientKey);
        _algorithm.H(clientKey, storedKey);
        _algorithm.ServerKey(salted, serverKey);

        var bindingInput = Encoding.UTF8.GetBytes(_gs2Header);
        if (_binding is not null)
        {
            bindingInput = [.. bindingInput, .. _binding.Data.Span];
        }

        var withoutProof = $"c={Convert.ToBase64String(bindingInput)},r={nonce}";
        var authMessage = Encoding.UTF8.GetBytes($"{_bare},{text},{withoutProof}");

        // ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage); ServerSignature = HMAC(ServerKey, AuthMessage).
        var proof = new byte[length];
        _algorithm.Hmac(storedKey, authMessage, proof);
        for (var i = 0; i < length; i++)
        {
            proof[i] ^= clientKey[i];
        }

        _expectedServerSignature = new byte[length];
        _algorithm.Hmac(serverKey, authMessage, _expectedServerSignature);
        CryptographicOperations.ZeroMemory(salted);
        CryptographicOperations.ZeroMemory(clientKey);
        CryptographicOperations.ZeroMemory(serverKey);

        _phase = Phase.ServerFinal;
        return SaslClientStep.Continue(Encoding.UTF8.GetBytes($"{withoutProof},p={Convert.ToBase64String(proof)}"));
    }

    private SaslClientStep OnServerFinal(ReadOnlySpan<byte> challenge)
    {
        var text = SaslNames.DecodeUtf8(challenge);
        if (text is null)
        {
            return SaslClientStep.Failed(SaslFailure.Malformed);
        }

        var failure = ScramMessages.ParseServerFinal(text, out var verifier);
        if (failure != SaslFailure.None)
        {
            return SaslClientStep.Failed(failure);
        }

        if (!CryptographicOperations.FixedTimeEquals(verifier, _expectedServerSignature))
        {
            return SaslClientStep.Failed(SaslFailure.BadServerSignature);
        }

        // SMTP sends the server-final message as a challenge; the answer is an empty line, then 235.
        _phase = Phase.Verified;
        return SaslClientStep.Continue([]);
    }
}
