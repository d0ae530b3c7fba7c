using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Tern.Spool;

/// <summary>
/// A message's queue id: 48 bits of milliseconds since the Unix epoch then 80 random bits (the ULID
/// layout): ids never repeat, and the spool's <see cref="MessageIdGenerator"/> makes them sort by
/// arrival even within one millisecond. Printed as 26 characters of Crockford base32.
/// </summary>
public readonly record struct MessageId(ulong High, ulong Low)
{
    public const int TextLength = 26;
    private const string Alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

    public static MessageId New(TimeProvider clock)
    {
        Span<byte> random = stackalloc byte[10];
        RandomNumberGenerator.Fill(random);
        return New(clock.GetUtcNow(), random);
    }

    /// <summary>An id for <paramref name="now"/> with 80 bits from <paramref name="random"/> (10 bytes).</summary>
    internal static MessageId New(DateTimeOffset now, ReadOnlySpan<byte> random)
    {
        var ms = (ulong)now.ToUnixTimeMilliseconds() & 0xFFFF_FFFF_FFFF;
        var high = (ms << 16) | BinaryPrimitives.ReadUInt16BigEndian(random);
        var low = BinaryPrimitives.ReadUInt64BigEndian(random[2..]);
        return new MessageId(high, low);
    }

    public DateTimeOffset Time => DateTimeOffset.FromUnixTimeMilliseconds((long)(High >> 16));

    public void WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, High);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], Low);
    }

    public static MessageId Read(ReadOnlySpan<byte> source) =>
        new(BinaryPrimitives.ReadUInt64BigEndian(source), BinaryPrimitives.ReadUInt64BigEndian(source[8..]));

    /// <summary>Writes the 26-character text form (ASCII) into <paramref name="destination"/>.</summary>
    public void Format(Span<byte> destination)
    {
        // 128 bits as 26 base32 digits: the first digit carries the top 3 bits.
        var hi = High;
        var lo = Low;
        for (var i = TextLength - 1; i >= 0; i--)
        {
            destination[i] = (byte)Alphabet[(int)(lo & 31)];
            lo = (lo >> 5) | (hi << 59);
            hi >>= 5;
        }
    }

    public static bool TryParse(ReadOnlySpan<char> text, out MessageId id)
    {
        id = default;
        if (text.Length != TextLength)
        {
            return false;
        }

        ulong hi = 0, lo = 0;
        foreach (var c in text)
        {
            var v = Alphabet.IndexOf(char.ToUpperInvariant(c), StringComparison.Ordinal);
            if (v < 0)
            {
                return false;
            }

            hi = (hi << 5) | (lo >> 59);
            lo = (lo << 5) | (uint)v;
        }

        id = new MessageId(hi, lo);
        return true;
    }

    public override string ToString()
    {
        Span<byte> text = stackalloc byte[TextLength];
        Format(text);
        return System.Text.Encoding.ASCII.GetString(text);
    }
}
