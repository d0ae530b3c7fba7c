using System.Buffers.Binary;

namespace Tern.Smtp.Protocol;

/// <summary>ASCII helpers for protocol tokens: SMTP keywords are case-insensitive (RFC 5321 2.4).</summary>
internal static class Ascii
{
    /// <summary>
    /// Packs up to 8 bytes of a keyword, upper-cased, into a ulong so that a verb is recognised with
    /// one comparison. Returns 0 when the token is longer than 8 bytes or holds a non-letter.
    /// </summary>
    public static ulong PackUpper(ReadOnlySpan<byte> token)
    {
        if (token.Length is 0 or > 8)
        {
            return 0;
        }

        Span<byte> buf = stackalloc byte[8];
        buf.Clear();
        for (var i = 0; i < token.Length; i++)
        {
            var b = token[i];
            if ((uint)((b | 0x20) - 'a') > 'z' - 'a')
            {
                return 0;
            }

            buf[i] = (byte)(b & 0xDF);
        }

        return BinaryPrimitives.ReadUInt64LittleEndian(buf);
    }

    public static bool EqualsIgnoreCase(ReadOnlySpan<byte> a, ReadOnlySpan<byte> upperAsciiLiteral)
    {
        if (a.Length != upperAsciiLiteral.Length)
        {
            return false;
        }

        for (var i = 0; i < a.Length; i++)
        {
            var x = a[i];
            if (x is >= (byte)'a' and <= (byte)'z')
            {
                x -= 0x20;
            }

            if (x != upperAsciiLiteral[i])
            {
                return false;
            }
        }

        return true;
    }

    public static bool StartsWithIgnoreCase(ReadOnlySpan<byte> a, ReadOnlySpan<byte> upperAsciiLiteral) =>
        a.Length >= upperAsciiLiteral.Length && EqualsIgnoreCase(a[..upperAsciiLiteral.Length], upperAsciiLiteral);

    public static ReadOnlySpan<byte> TrimSpaces(ReadOnlySpan<byte> s)
    {
        var start = 0;
        while (start < s.Length && s[start] is (byte)' ' or (byte)'\t')
        {
            start++;
        }

        var end = s.Length;
        while (end > start && s[end - 1] is (byte)' ' or (byte)'\t')
        {
            end--;
        }

        return s[start..end];
    }

    /// <summary>Parses a non-negative decimal without sign or spaces; false on overflow or other bytes.</summary>
    public static bool TryParseUInt64(ReadOnlySpan<byte> s, out ulong value)
    {
        value = 0;
        if (s.Length is 0 or > 20)
        {
            return false;
        }

        foreach (var b in s)
        {
            var d = (uint)(b - '0');
            if (d > 9)
            {
                return false;
            }

            var next = (value * 10) + d;
            if (next < value || value > ulong.MaxValue / 10)
            {
                return false;
            }

            value = next;
        }

        return true;
    }
}
