using System.Security.Cryptography;

namespace Tern.Sasl.CramMd5;

/// <summary>
/// HMAC-MD5 (RFC 2104) split at the point where the key has been absorbed: the MD5 states after
/// (K XOR ipad) and after (K XOR opad). They let a server check a CRAM-MD5 response without
/// storing the password, though they are still password-equivalent for CRAM-MD5 itself, which is
/// why CRAM-MD5 is off unless enabled per account.
/// </summary>
internal sealed class HmacMd5Precomputed
{
    private const byte InnerPad = 0x36;
    private const byte OuterPad = 0x5c;

    public HmacMd5Precomputed(Md5State inner, Md5State outer)
    {
        Inner = inner;
        Outer = outer;
    }

    public Md5State Inner { get; }

    public Md5State Outer { get; }

    public static HmacMd5Precomputed FromKey(ReadOnlySpan<byte> key)
    {
        // RFC 2104 section 2: keys longer than the block are hashed first; shorter ones are zero-padded.
        Span<byte> block = stackalloc byte[Md5Compression.BlockSize];
        block.Clear();
        if (key.Length > Md5Compression.BlockSize)
        {
            Md5Compression.Hash(key, block);
        }
        else
        {
            key.CopyTo(block);
        }

        Span<byte> padded = stackalloc byte[Md5Compression.BlockSize];
        var inner = Md5State.Initial;
        Xor(block, InnerPad, padded);
        Md5Compression.Compress(ref inner, padded);
        var outer = Md5State.Initial;
        Xor(block, OuterPad, padded);
        Md5Compression.Compress(ref outer, padded);
        CryptographicOperations.ZeroMemory(block);
        CryptographicOperations.ZeroMemory(padded);
        return new HmacMd5Precomputed(inner, outer);
    }

    /// <summary>HMAC-MD5(K, message) = MD5((K^opad) || MD5((K^ipad) || message)), resumed from the states.</summary>
    public void Compute(ReadOnlySpan<byte> message, Span<byte> mac)
    {
        Span<byte> innerDigest = stackalloc byte[Md5State.Size];
        Md5Compression.Finish(Inner, Md5Compression.BlockSize, message, innerDigest);
        Md5Compression.Finish(Outer, Md5Compression.BlockSize, innerDigest, mac);
    }

    public override string ToString() => "HMAC-MD5 precomputed states";

    private static void Xor(ReadOnlySpan<byte> block, byte pad, Span<byte> destination)
    {
        for (var i = 0; i < block.Length; i++)
        {
            destination[i] = (byte)(block[i] ^ pad);
        }
    }
}
