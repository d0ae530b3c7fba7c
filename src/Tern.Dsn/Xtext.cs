using System.Text;
using System.Text.Unicode;

namespace Tern.Dsn;

/// <summary>xtext (RFC 3461 4) and the RFC 6533 3 utf-8 address forms, as DSN fields need them.</summary>
internal static class Xtext
{
    /// <summary>Decodes "+XX" escapes; null when an escape is malformed or the result is not UTF-8.</summary>
    public static string? Decode(string value)
    {
        if (!value.Contains('+', StringComparison.Ordinal))
        {
            return value;
        }

        // '+' and hex digits are ASCII, so the escapes can be undone on the UTF-8 octets.
        var src = Encoding.UTF8.GetBytes(value);
        var dst = new byte[src.Length];
        var n = 0;
        for (var i = 0; i < src.Length; i++)
        {
            if (src[i] != '+')
            {
                dst[n++] = src[i];
                continue;
            }

            if (i + 2 >= src.Length || !char.IsAsciiHexDigit((char)src[i + 1]) || !char.IsAsciiHexDigit((char)src[i + 2]))
            {
                return null;
            }

            dst[n++] = (byte)((HexValue(src[i + 1]) << 4) | HexValue(src[i + 2]));
            i += 2;
        }

        return Utf8.IsValid(dst.AsSpan(0, n)) ? Encoding.UTF8.GetString(dst, 0, n) : null;
    }

    /// <summary>Encodes as xtext: printable ASCII except '+' and '=' as is, every other octet of the UTF-8 as "+XX".</summary>
    public static string Encode(string value)
    {
        var sb = new StringBuilder(value.Length + 8);
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            if (b is >= 0x21 and <= 0x7E && b != '+' && b != '=')
            {
                sb.Append((char)b);
            }
            else
            {
                sb.Append('+').Append(HexDigit(b >> 4)).Append(HexDigit(b & 0xF));
            }
        }

        return sb.ToString();
    }

    /// <summary>
    /// utf-8-addr-xtext (RFC 6533 3): QCHAR (printable ASCII except '+', '=', '\') as is, every other
    /// character as "\x{HEX}"; pure ASCII, for message/delivery-status.
    /// </summary>
    public static string EncodeUtf8AddrXtext(string value)
    {
        var sb = new StringBuilder(value.Length + 16);
        foreach (var rune in value.EnumerateRunes())
        {
            var v = rune.Value;
            if (v is >= 0x21 and <= 0x7E && v != '+' && v != '=' && v != '\\')
            {
                sb.Append((char)v);
            }
            else
            {
                AppendEmbedded(sb, v);
            }
        }

        return sb.ToString();
    }

    /// <summary>
    /// Turns a utf-8-addr-unitext into utf-8-addr-xtext (RFC 6533 3): every character outside
    /// printable ASCII becomes "\x{HEX}"; "\x{...}" escapes already there are kept.
    /// </summary>
    public static string EscapeNonAscii(string value)
    {
        if (IsPrintableAscii(value) && !value.Contains(' ', StringComparison.Ordinal))
        {
            return value;
        }

        var sb = new StringBuilder(value.Length + 16);
        foreach (var rune in value.EnumerateRunes())
        {
            if (rune.Value is > 0x20 and < 0x7F)
            {
                sb.Append((char)rune.Value);
            }
            else
            {
                AppendEmbedded(sb, rune.Value);
            }
        }

        return sb.ToString();
    }

    /// <summary>
    /// Makes text safe for a header field that may carry UTF-8 (message/global-delivery-status,
    /// RFC 6533): printable ASCII, space and non-ASCII as is, control characters as "\x{HEX}".
    /// </summary>
    public static string EscapeControls(string value)
    {
        if (!NeedsControlEscape(value))
        {
            return value;
        }

        var sb = new StringBuilder(value.Length + 16);
        foreach (var rune in value.EnumerateRunes())
        {
            if (rune.Value < 0x20 || rune.Value == 0x7F || rune == Rune.ReplacementChar)
            {
                AppendEmbedded(sb, rune.Value);
            }
            else
            {
                sb.Append(rune.ToString());
            }
        }

        return sb.ToString();
    }

    /// <summary>True when every character is printable ASCII or space (0x20-0x7E).</summary>
    public static bool IsPrintableAscii(ReadOnlySpan<char> value)
    {
        foreach (var c in value)
        {
            if (c is < ' ' or > '~')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>True when any character is above 0x7F.</summary>
    public static bool HasNonAscii(ReadOnlySpan<char> value) => value.IndexOfAnyExceptInRange('\0', '\x7F') >= 0;

    private static bool NeedsControlEscape(string value)
    {
        foreach (var c in value)
        {
            if (c < ' ' || c == '\x7F' || char.IsSurrogate(c))
            {
                return true;
            }
        }

        return false;
    }

    private static void AppendEmbedded(StringBuilder sb, int codePoint)
    {
        // HEXPOINT: upper-case hex, at least two digits, no other leading zeros.
        sb.Append("\\x{").Append(codePoint.ToString(codePoint < 0x100 ? "X2" : "X", System.Globalization.CultureInfo.InvariantCulture)).Append('}');
    }

    private static int HexValue(byte c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;

    private static char HexDigit(int v) => (char)(v < 10 ? '0' + v : 'A' + v - 10);
}
