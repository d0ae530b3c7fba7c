using System.Buffers.Binary;
using System.Numerics;

namespace Tern.Sasl.CramMd5;

/// <summary>The four 32-bit words of an MD5 chaining state (RFC 1321 section 3.3).</summary>
internal struct Md5State
{
    public uint A;
    public uint B;
    public uint C;
    public uint D;

    public static Md5State Initial => new() { A = 0x67452301, B = 0xefcdab89, C = 0x98badcfe, D = 0x10325476 };

    public const int Size = 16;

    /// <summary>Little-endian A, B, C, D: the same layout as an MD5 digest.</summary>
    public readonly void WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, A);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], B);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], C);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[12..], D);
    }

    public static Md5State ReadFrom(ReadOnlySpan<byte> source) => new()
    {
        A = BinaryPrimitives.ReadUInt32LittleEndian(source),
        B = BinaryPrimitives.ReadUInt32LittleEndian(source[4..]),
        C = BinaryPrimitives.ReadUInt32LittleEndian(source[8..]),
        D = BinaryPrimitives.ReadUInt32LittleEndian(source[12..]),
    };
}

/// <summary>
/// The MD5 compression function (RFC 1321), exposed so that HMAC-MD5 can resume from the stored
/// states after the (key XOR ipad) and (key XOR opad) blocks: CRAM-MD5 verification without the
/// plaintext password, as Dovecot's CRAM-MD5 scheme does. System.Security.Cryptography.MD5 does
/// not expose intermediate states. Used for nothing else.
/// </summary>
internal static class Md5Compression
{
    public const int BlockSize = 64;

    // RFC 1321 section 3.4: T[i] = floor(2^32 * abs(sin(i + 1))).
    private static ReadOnlySpan<uint> T =>
    [
        0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
        0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
        0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
        0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
        0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
        0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
        0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
        0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
    ];

    private static ReadOnlySpan<byte> Shifts =>
    [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
        5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
        4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
        6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];

    /// <summary>Absorbs one 64-byte block into <paramref name="state"/>.</summary>
    public static void Compress(ref Md5State state, ReadOnlySpan<byte> block)
    {
        Span<uint> x = stackalloc uint[16];
        for (var i = 0; i < 16; i++)
        {
            x[i] = BinaryPrimitives.ReadUInt32LittleEndian(block[(i * 4)..]);
        }

        uint a = state.A, b = state.B, c = state.C, d = state.D;
        for (var i = 0; i < 64; i++)
        {
            uint f;
            int k;
            switch (i >> 4)
            {
                case 0:
                    f = (b & c) | (~b & d);
                    k = i;
                    break;
                case 1:
                    f = (d & b) | (~d & c);
                    k = ((5 * i) + 1) & 15;
                    break;
                case 2:
                    f = b ^ c ^ d;
                    k = ((3 * i) + 5) & 15;
                    break;
                default:
                    f = c ^ (b | ~d);
                    k = (7 * i) & 15;
                    break;
            }

            var rotated = BitOperations.RotateLeft(a + f + T[i] + x[k], Shifts[i]);
            a = d;
            d = c;
            c = b;
            b += rotated;
        }

        state.A += a;
        state.B += b;
        state.C += c;
        state.D += d;
        x.Clear();
    }

    /// <summary>
    /// Finishes an MD5 hash whose first <paramref name="absorbedLength"/> bytes (a multiple of 64)
    /// are already in <paramref name="state"/>: absorbs <paramref name="data"/>, pads (RFC 1321
    /// section 3.1-3.2) and writes the 16-byte digest.
    /// </summary>
    public static void Finish(Md5State state, long absorbedLength, ReadOnlySpan<byte> data, Span<byte> digest)
    {
        var whole = data.Length - (data.Length % BlockSize);
        for (var offset = 0; offset < whole; offset += BlockSize)
        {
            Compress(ref state, data.Slice(offset, BlockSize));
        }

        var rest = data[whole..];
        Span<byte> tail = stackalloc byte[2 * BlockSize];
        tail.Clear();
        rest.CopyTo(tail);
        tail[rest.Length] = 0x80;
        var tailLength = rest.Length + 1 + sizeof(ulong) <= BlockSize ? BlockSize : 2 * BlockSize;
        BinaryPrimitives.WriteUInt64LittleEndian(tail[(tailLength - sizeof(ulong))..], (ulong)(absorbedLength + data.Length) * 8);
        for (var offset = 0; offset < tailLength; offset += BlockSize)
        {
            Compress(ref state, tail.Slice(offset, BlockSize));
        }

        tail.Clear();
        state.WriteTo(digest);
    }

    /// <summary>A plain MD5 digest (for HMAC keys longer than a block, RFC 2104 section 2).</summary>
    public static void Hash(ReadOnlySpan<byte> data, Span<byte> digest) => Finish(Md5State.Initial, 0, data, digest);
}
