using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace Tern.Dsn;

/// <summary>The few MIME encodings a DSN needs, written straight into an <see cref="IBufferWriter{T}"/>.</summary>
internal static class MimeEncoding
{
    /// <summary>RFC 5322 2.1.1: lines SHOULD stay within 78 characters.</summary>
    public const int SoftLineLength = 78;

    /// <summary>RFC 5322 2.1.1 / RFC 5321 4.5.3.1.6: lines MUST stay within 998 octets, CRLF excluded.</summary>
    public const int MaxLineLength = 998;

    /// <summary>Writes text as UTF-8 (plain ASCII for ASCII text).</summary>
    public static void WriteText(this IBufferWriter<byte> w, ReadOnlySpan<char> text)
    {
        if (text.IsEmpty)
        {
            return;
        }

        var span = w.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length));
        w.Advance(Encoding.UTF8.GetBytes(text, span));
    }

    /// <summary>Writes CRLF.</summary>
    public static void Crlf(this IBufferWriter<byte> w) => w.Write("\r\n"u8);

    /// <summary>
    /// Writes a header field body, folding (RFC 5322 2.2.3) by putting CRLF before a space or tab:
    /// within <paramref name="softLimit"/> octets where a space allows it, and within 998 always. Folding there is undone
    /// exactly by unfolding. A run of more than 998 octets without white space is broken with
    /// CRLF SP (unfolding then shows one extra space there); breaks never split a UTF-8 sequence.
    /// </summary>
    /// <param name="w">Destination.</param>
    /// <param name="value">The field body (UTF-8, no CR or LF).</param>
    /// <param name="used">Octets already on the current line (the field name, the colon...).</param>
    /// <param name="softLimit">Preferred line length: 78 (RFC 5322 2.1.1), or up to 998 to keep a line whole.</param>
    public static void WriteFolded(this IBufferWriter<byte> w, ReadOnlySpan<byte> value, int used, int softLimit = SoftLineLength)
    {
        while (used + value.Length > softLimit)
        {
            // A fold goes before the last white space of a run, so that every folded line starts
            // with one space followed by text (never a line of white space only).
            var cut = -1;
            for (var i = 1; i + 1 < value.Length; i++)
            {
                if (!IsWsp(value[i]) || IsWsp(value[i + 1]))
                {
                    continue;
                }

                if (used + i <= softLimit)
                {
                    cut = i;
                }
                else
                {
                    if (cut < 0 && used + i <= MaxLineLength)
                    {
                        cut = i;
                    }

                    break;
                }
            }

            if (cut > 0)
            {
                w.Write(value[..cut]);
                w.Crlf();
                value = value[cut..];
                used = 0;
                continue;
            }

            if (used + value.Length <= MaxLineLength)
            {
                break;
            }

            // No white space within 998 octets: break by force, on a character boundary.
            var at = Math.Max(1, MaxLineLength - used);
            while (at > 1 && (value[at] & 0xC0) == 0x80)
            {
                at--;
            }

            w.Write(value[..at]);
            w.Write("\r\n "u8);
            value = value[at..];
            used = 1;
        }

        w.Write(value);
    }

    /// <summary>
    /// Quoted-printable (RFC 2045 6.7) of CRLF-separated text: lines of at most 76 characters,
    /// every octet outside printable ASCII encoded, so that decoding gives the text back exactly.
    /// </summary>
    public static void WriteQuotedPrintable(this IBufferWriter<byte> w, ReadOnlySpan<byte> text)
    {
        Span<byte> escape = stackalloc byte[3];
        escape[0] = (byte)'=';
        while (true)
        {
            var end = text.IndexOf("\r\n"u8);
            var line = end < 0 ? text : text[..end];
            var column = 0;
            for (var i = 0; i < line.Length; i++)
            {
                var b = line[i];
                var plain = b is >= 0x21 and <= 0x7E && b != '='
                    || (b is (byte)' ' or (byte)'\t' && i + 1 < line.Length);
                var width = plain ? 1 : 3;
                if (column + width > 75)
                {
                    w.Write("=\r\n"u8);
                    column = 0;
                }

                if (plain)
                {
                    w.GetSpan(1)[0] = b;
                    w.Advance(1);
                }
                else
                {
                    escape[1] = (byte)"0123456789ABCDEF"[b >> 4];
                    escape[2] = (byte)"0123456789ABCDEF"[b & 0xF];
                    w.Write(escape);
                }

                column += width;
            }

            if (end < 0)
            {
                return;
            }

            w.Crlf();
            text = text[(end + 2)..];
        }
    }

    /// <summary>Base64 (RFC 2045 6.8) in lines of 76 characters, each ended by CRLF.</summary>
    public static void WriteBase64(this IBufferWriter<byte> w, ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            var chunk = data[..Math.Min(57, data.Length)];
            var span = w.GetSpan(80);
            Base64.EncodeToUtf8(chunk, span, out _, out var written);
            span[written] = (byte)'\r';
            span[written + 1] = (byte)'\n';
            w.Advance(written + 2);
            data = data[chunk.Length..];
        }
    }

    /// <summary>
    /// True when the octets can go into a 7bit or 8bit MIME part unchanged: no NUL, CR and LF only
    /// as CRLF, no line longer than 998 octets (RFC 2045 2.7/2.8).
    /// </summary>
    public static bool IsLineSafe(ReadOnlySpan<byte> data)
    {
        if (data.IndexOf((byte)0) >= 0)
        {
            return false;
        }

        while (true)
        {
            var i = data.IndexOfAny((byte)'\r', (byte)'\n');
            if (i < 0)
            {
                return data.Length <= MaxLineLength;
            }

            if (i > MaxLineLength || data[i] != '\r' || i + 1 >= data.Length || data[i + 1] != '\n')
            {
                return false;
            }

            data = data[(i + 2)..];
        }
    }

    /// <summary>True when any octet is above 127.</summary>
    public static bool Has8Bit(ReadOnlySpan<byte> data) => data.IndexOfAnyInRange((byte)0x80, (byte)0xFF) >= 0;

    /// <summary>True when any octet is a control character other than TAB, CR and LF.</summary>
    public static bool HasControls(ReadOnlySpan<byte> data)
    {
        foreach (var b in data)
        {
            if ((b < 0x20 && b is not (byte)'\t' and not (byte)'\r' and not (byte)'\n') || b == 0x7F)
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsWsp(byte b) => b is (byte)' ' or (byte)'\t';
}
