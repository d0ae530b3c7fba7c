using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Tern.Sasl.Credentials;
using Tern.Sasl.Text;

namespace Tern.Sasl.CramMd5;

/// <summary>
/// CRAM-MD5 (RFC 2195): the server sends a unique challenge, the client answers
/// <c>user SP hex(HMAC-MD5(password, challenge))</c>. Checked against the account's stored
/// HMAC-MD5 states; accounts without them fail.
/// </summary>
internal sealed class CramMd5Server : SaslServer
{
    private readonly AccountStore _accounts;
    private readonly string _hostname;
    private readonly string? _fixedChallenge;
    private byte[]? _challenge;

    public CramMd5Server(AccountStore accounts, string hostname)
        : this(accounts, hostname, null)
    {
    }

    /// <summary>Tests pass the RFC 2195 example challenge.</summary>
    internal CramMd5Server(AccountStore accounts, string hostname, string? fixedChallenge)
    {
        _accounts = accounts;
        _hostname = hostname;
        _fixedChallenge = fixedChallenge;
    }

    public override string Mechanism => SaslMechanisms.CramMd5;

    private protected override SaslServerStep OnStart()
    {
        // RFC 2195 section 2: a presumptively unique msg-id style string; random, not guessable,
        // so that a recorded response cannot be replayed.
        var random = BinaryPrimitives.ReadUInt64LittleEndian(RandomNumberGenerator.GetBytes(sizeof(ulong)));
        var text = _fixedChallenge ?? $"<{random}.{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}@{_hostname}>";
        _challenge = Encoding.UTF8.GetBytes(text);
        return SaslServerStep.Continue(_challenge);
    }

    private protected override SaslServerStep OnResponse(ReadOnlySpan<byte> response, bool isInitialResponse)
    {
        // The server speaks first in CRAM-MD5: an initial response cannot be an answer to anything.
        if (_challenge is null)
        {
            return SaslServerStep.Failed(SaslFailure.Malformed);
        }

        // The user name may contain spaces; the digest is after the last one.
        var space = response.LastIndexOf((byte)' ');
        if (space <= 0 || !TryParseHexDigest(response[(space + 1)..], out var digest))
        {
            return SaslServerStep.Failed(SaslFailure.Malformed);
        }

        var username = SaslNames.DecodeUtf8(response[..space]);
        if (username is null || username.Contains('\0', StringComparison.Ordinal))
        {
            return SaslServerStep.Failed(SaslFailure.Malformed);
        }

        AttemptedUsername = username;
        var fake = _accounts.FakeCramMd5(username);
        var known = _accounts.TryGet(username, out var account);
        var states = account?.CramMd5 ?? fake;
        Span<byte> expected = stackalloc byte[Md5State.Size];
        states.Compute(_challenge, expected);
        var matches = CryptographicOperations.FixedTimeEquals(expected, digest);
        if (!known)
        {
            return SaslServerStep.Failed(SaslFailure.UnknownUser);
        }

        if (account!.CramMd5 is null)
        {
            return SaslServerStep.Failed(SaslFailure.NoCredentialsForMechanism);
        }

        return matches ? SaslServerStep.Succeeded(username) : SaslServerStep.Failed(SaslFailure.BadCredentials);
    }

    /// <summary>Exactly 32 hex digits (RFC 2195 says lower case; upper case is accepted).</summary>
    private static bool TryParseHexDigest(ReadOnlySpan<byte> hex, out byte[] digest)
    {
        digest = new byte[Md5State.Size];
        if (hex.Length != 2 * Md5State.Size)
        {
            return false;
        }

        for (var i = 0; i < digest.Length; i++)
        {
            var high = HexValue(hex[2 * i]);
            var low = HexValue(hex[(2 * i) + 1]);
            if (high < 0 || low < 0)
            {
                return false;
            }

            digest[i] = (byte)((high << 4) | low);
        }

        return true;
    }

    private static int HexValue(byte c) => c switch
    {
        >= (byte)'0' and <= (byte)'9' => c - '0',
        >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
        _ => -1,
    };
}
