using System.Security.Cryptography;
using Tern.Sasl.Scram;

namespace Tern.Sasl.Credentials;

/// <summary>
/// What a SCRAM server stores per account and hash (RFC 5802 section 3): salt, iteration count,
/// StoredKey = H(ClientKey) and ServerKey. Not the password, but StoredKey lets PLAIN and LOGIN be
/// checked too. The keys never appear in ToString.
/// </summary>
internal sealed class ScramCredential
{
    public const int SaltLength = 16;

    public ScramCredential(byte[] salt, int iterations, byte[] storedKey, byte[] serverKey)
    {
        Salt = salt;
        Iterations = iterations;
        StoredKey = storedKey;
        ServerKey = serverKey;
    }

    public byte[] Salt { get; }

    public int Iterations { get; }

    public byte[] StoredKey { get; }

    public byte[] ServerKey { get; }

    public static ScramCredential Derive(ScramAlgorithm algorithm, ReadOnlySpan<byte> password, byte[] salt, int iterations)
    {
        Span<byte> salted = stackalloc byte[algorithm.HashLength];
        Span<byte> clientKey = stackalloc byte[algorithm.HashLength];
        algorithm.SaltedPassword(password, salt, iterations, salted);
        algorithm.ClientKey(salted, clientKey);
        var storedKey = new byte[algorithm.HashLength];
        algorithm.H(clientKey, storedKey);
        var serverKey = new byte[algorithm.HashLength];
        algorithm.ServerKey(salted, serverKey);
        CryptographicOperations.ZeroMemory(salted);
        CryptographicOperations.ZeroMemory(clientKey);
        return new ScramCredential(salt, iterations, storedKey, serverKey);
    }

    /// <summary>True when <paramref name="password"/> derives this StoredKey (how PLAIN and LOGIN are checked).</summary>
    public bool Verify(ScramAlgorithm algorithm, ReadOnlySpan<byte> password)
    {
        Span<byte> salted = stackalloc byte[algorithm.HashLength];
        Span<byte> clientKey = stackalloc byte[algorithm.HashLength];
        Span<byte> storedKey = stackalloc byte[algorithm.HashLength];
        algorithm.SaltedPassword(password, Salt, Iterations, salted);
        algorithm.ClientKey(salted, clientKey);
        algorithm.H(clientKey, storedKey);
        var equal = CryptographicOperations.FixedTimeEquals(storedKey, StoredKey);
        CryptographicOperations.ZeroMemory(salted);
        CryptographicOperations.ZeroMemory(clientKey);
        return equal;
    }

    public override string ToString() => $"SCRAM credential ({Iterations} iterations)";
}
