using System.Security.Cryptography;

namespace Tern.Sasl.Scram;

/// <summary>The hash a SCRAM variant is built on, and the RFC 5802 section 2.2 functions over it.</summary>
internal sealed class ScramAlgorithm
{
    public static readonly ScramAlgorithm Sha1 = new(SaslMechanisms.ScramSha1, HashAlgorithmName.SHA1, 20);
    public static readonly ScramAlgorithm Sha256 = new(SaslMechanisms.ScramSha256, HashAlgorithmName.SHA256, 32);

    private static ReadOnlySpan<byte> ClientKeyLabel => "Client Key"u8;

    private static ReadOnlySpan<byte> ServerKeyLabel => "Server Key"u8;

    private ScramAlgorithm(string mechanism, HashAlgorithmName hash, int hashLength)
    {
        Mechanism = mechanism;
        Hash = hash;
        HashLength = hashLength;
    }

    /// <summary>The non-PLUS mechanism name.</summary>
    public string Mechanism { get; }

    public HashAlgorithmName Hash { get; }

    public int HashLength { get; }

    public void Hmac(ReadOnlySpan<byte> key, ReadOnlySpan<byte> data, Span<byte> destination)
    {
        if (HashLength == 20)
        {
            // SCRAM-SHA-1 (RFC 5802) is defined on HMAC-SHA-1, which SHA-1 collisions do not break.
#pragma warning disable CA5350
            HMACSHA1.HashData(key, data, destination);
#pragma warning restore CA5350
        }
        else
        {
            HMACSHA256.HashData(key, data, destination);
        }
    }

    public void H(ReadOnlySpan<byte> data, Span<byte> destination)
    {
        if (HashLength == 20)
        {
            // SCRAM-SHA-1's StoredKey is SHA-1(ClientKey) by definition (RFC 5802 section 3).
#pragma warning disable CA5350
            SHA1.HashData(data, destination);
#pragma warning restore CA5350
        }
        else
        {
            SHA256.HashData(data, destination);
        }
    }

    /// <summary>SaltedPassword = Hi(password, salt, i), which is PBKDF2 with HMAC-H and one block (RFC 5802 section 2.2).</summary>
    public void SaltedPassword(ReadOnlySpan<byte> password, ReadOnlySpan<byte> salt, int iterations, Span<byte> destination) =>
        Rfc2898DeriveBytes.Pbkdf2(password, salt, destination, iterations, Hash);

    /// <summary>ClientKey = HMAC(SaltedPassword, "Client Key").</summary>
    public void ClientKey(ReadOnlySpan<byte> saltedPassword, Span<byte> destination) => Hmac(saltedPassword, ClientKeyLabel, destination);

    /// <summary>ServerKey = HMAC(SaltedPassword, "Server Key").</summary>
    public void ServerKey(ReadOnlySpan<byte> saltedPassword, Span<byte> destination) => Hmac(saltedPassword, ServerKeyLabel, destination);
}
