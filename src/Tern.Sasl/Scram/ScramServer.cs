using System.Security.Cryptography;
using System.Text;
using Tern.Sasl.ChannelBindings;
using Tern.Sasl.Credentials;
using Tern.Sasl.Text;

namespace Tern.Sasl.Scram;

/// <summary>
/// SCRAM-SHA-1 / SCRAM-SHA-256 and their -PLUS variants, server side (RFC 5802, RFC 7677):
/// client-first, server-first (salt, iterations, nonce), client-final with the proof, then the
/// server signature as the last challenge, answered by an empty message.
/// </summary>
internal sealed class ScramServer : SaslServer
{
    private readonly ScramAlgorithm _algorithm;
    private readonly AccountStore _accounts;
    private readonly ChannelBinding? _binding;
    private readonly bool _offersPlus;
    private readonly string? _fixedServerNonce;

    private Phase _phase = Phase.ClientFirst;
    private ClientFirstMessage? _clientFirst;
    private ScramCredential? _credential;
    private bool _knownUser;
    private string _serverFirst = "";
    private string _nonce = "";

    /// <param name="binding">Non-null for the -PLUS variant: the connection's channel binding.</param>
    /// <param name="offersPlus">Whether this connection advertises a -PLUS mechanism (for the downgrade check).</param>
    /// <param name="fixedServerNonce">Tests only: the RFC examples' server nonce part.</param>
    public ScramServer(ScramAlgorithm algorithm, AccountStore accounts, ChannelBinding? binding, bool offersPlus, string? fixedServerNonce = null)
    {
        _algorithm = algorithm;
        _accounts = accounts;
        _binding = binding;
        _offersPlus = offersPlus || binding is not null;
        _fixedServerNonce = fixedServerNonce;
        Mechanism = binding is null ? algorithm.Mechanism : algorithm.Mechanism + "-PLUS";
    }

    private enum Phase
    {
        ClientFirst,
        ClientFinal,
        AcknowledgeServerFinal,
    }

    public override string Mechanism { get; }

    // RFC 5802 section 5: the client speaks first.
    private protected override SaslServerStep OnStart() => SaslServerStep.Continue([]);

    private protected override SaslServerStep OnResponse(ReadOnlySpan<byte> response, bool isInitialResponse) => _phase switch
    {
        Phase.ClientFirst => OnClientFirst(response),
        Phase.ClientFinal => OnClientFinal(response),
        _ => response.IsEmpty ? SaslServerStep.Succeeded(_clientFirst!.Username) : SaslServerStep.Failed(SaslFailure.Malformed),
    };

    private SaslServerStep OnClientFirst(ReadOnlySpan<byte> response)
    {
        var text = SaslNames.DecodeUtf8(response);
        if (text is null || !ScramMessages.TryParseClientFirst(text, out var first) || first.Nonce.Length > ScramMessages.MaxNonceLength)
        {
            return SaslServerStep.Failed(SaslFailure.Malformed);
        }

        // RFC 5802 section 6, channel binding negotiation.
        if (_binding is not null)
        {
            // A -PLUS mechanism is only meaningful with "p=", and only with this connection's type.
            if (first.Gs2Flag != 'p')
            {
                return SaslServerStep.Failed(SaslFailure.ChannelBindingRequired);
            }

            if (!string.Equals(first.ChannelBindingType, _binding.Type, StringComparison.Ordinal))
            {
                return SaslServerStep.Failed(SaslFailure.ChannelBindingUnsupported);
            }
        }
        else if (first.Gs2Flag == 'p')
        {
            // "p=" selects a -PLUS mechanism; with a plain one it cannot be honoured.
            return SaslServerStep.Failed(SaslFailure.ChannelBindingUnsupported);
        }
        else if (first.Gs2Flag == 'y' && _offersPlus)
        {
            // "y": the client could bind but did not see -PLUS advertised, yet we advertised it:
            // someone between us removed it.
            return SaslServerStep.Failed(SaslFailure.Downgrade);
        }

        AttemptedUsername = first.Username;

        // An unknown name gets stable fake parameters and fails only at the proof, like a wrong
        // password (RFC 5802 section 9); the fake is computed either way so both paths cost the same.
        var fake = _accounts.FakeScram(_algorithm, first.Username);
        _knownUser = _accounts.TryGet(first.Username, out var account);
        _credential = account is null ? fake : _algorithm == ScramAlgorithm.Sha1 ? account.ScramSha1 : account.ScramSha256;
        _clientFirst = first;
        _nonce = first.Nonce + (_fixedServerNonce ?? ScramMessages.NewNonce());
        _serverFirst = $"r={_nonce},s={Convert.ToBase64String(_credential.Salt)},i={_credential.Iterations}";
        _phase = Phase.ClientFinal;
        return SaslServerStep.Continue(Encoding.UTF8.GetBytes(_serverFirst));
    }

    private SaslServerStep OnClientFinal(ReadOnlySpan<byte> response)
    {
        var first = _clientFirst!;
        var credential = _credential!;
        var text = SaslNames.DecodeUtf8(response);
        if (text is null || !ScramMessages.TryParseClientFinal(text, out var final))
        {
            return SaslServerStep.Failed(SaslFailure.Malformed);
        }

        // c= must repeat the GS2 header and, for "p=", carry this connection's binding data (section 7, cbind-input).
        if (!CryptographicOperations.FixedTimeEquals(final.ChannelBinding, ExpectedChannelBinding(first)))
        {
            return SaslServerStep.Failed(SaslFailure.ChannelBindingMismatch);
        }

        if (!string.Equals(final.Nonce, _nonce, StringComparison.Ordinal) || final.Proof.Length != _algorithm.HashLength)
        {
            return SaslServerStep.Failed(SaslFailure.Malformed);
        }

        // Section 3: ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); the proof is right when H(ClientKey) = StoredKey.
        var authMessage = Encoding.UTF8.GetBytes($"{first.Bare},{_serverFirst},{final.WithoutProof}");
        var length = _algorithm.HashLength;
        Span<byte> clientKey = stackalloc byte[length];
        Span<byte> storedKey = stackalloc byte[length];
        _algorithm.Hmac(credential.StoredKey, authMessage, clientKey);
        for (var i = 0; i < length; i++)
        {
            clientKey[i] ^= final.Proof[i];
        }

        _algorithm.H(clientKey, storedKey);
        var proofMatches = CryptographicOperations.FixedTimeEquals(storedKey, credential.StoredKey);
        CryptographicOperations.ZeroMemory(clientKey);
        if (!_knownUser)
        {
            return SaslServerStep.Failed(SaslFailure.UnknownUser);
        }

        if (!proofMatches)
        {
            return SaslServerStep.Failed(SaslFailure.BadCredentials);
        }

        if (first.AuthorizationIdentity is { } authorization && !string.Equals(authorization, first.Username, StringComparison.Ordinal))
        {
            return SaslServerStep.Failed(SaslFailure.AuthorizationDenied);
        }

        var serverSignature = new byte[length];
        _algorithm.Hmac(credential.ServerKey, authMessage, serverSignature);
        _phase = Phase.AcknowledgeServerFinal;
        return SaslServerStep.Continue(Encoding.ASCII.GetBytes("v=" + Convert.ToBase64String(serverSignature)));
    }

    private byte[] ExpectedChannelBinding(ClientFirstMessage first)
    {
        var header = Encoding.UTF8.GetBytes(first.Gs2Header);
        if (first.Gs2Flag != 'p' || _binding is null)
        {
            return header;
        }

        return [.. header, .. _binding.Data.Span];
    }
}
