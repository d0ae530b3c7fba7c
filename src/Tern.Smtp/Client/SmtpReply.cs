using System.Globalization;
using System.Text;

namespace Tern.Smtp.Client;

/// <summary>
/// An enhanced mail system status code (RFC 3463 section 2): class.subject.detail, e.g. 5.1.1.
/// Class is 2, 4 or 5; subject and detail have one to three digits.
/// </summary>
public readonly record struct EnhancedStatusCode(byte Class, short Subject, short Detail)
{
    /// <summary>
    /// Reads a code at the start of <paramref name="text"/>, followed by a space or the end. False
    /// when the text does not start with one (RFC 3463 section 2 syntax).
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> text, out EnhancedStatusCode code, out int length)
    {
        code = default;
        length = 0;
        if (text.Length < 5 || text[0] is not ((byte)'2' or (byte)'4' or (byte)'5') || text[1] != '.')
        {
            return false;
        }

        var i = 2;
        if (!TryNumber(text, ref i, out var subject) || i >= text.Length || text[i] != '.')
        {
            return false;
        }

        i++;
        if (!TryNumber(text, ref i, out var detail) || (i < text.Length && text[i] != ' '))
        {
            return false;
        }

        code = new EnhancedStatusCode((byte)(text[0] - '0'), subject, detail);
        length = i;
        return true;
    }

    /// <summary>Parses "x.y.z" (for configuration and tests).</summary>
    public static bool TryParse(string text, out EnhancedStatusCode code)
    {
        ArgumentNullException.ThrowIfNull(text);
        Span<byte> ascii = stackalloc byte[16];
        if (text.Length > ascii.Length || Encoding.ASCII.GetBytes(text, ascii) != text.Length)
        {
            code = default;
            return false;
        }

        return TryParse(ascii[..text.Length], out code, out var length) && length == text.Length;
    }

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Class}.{Subject}.{Detail}");

    private static bool TryNumber(ReadOnlySpan<byte> text, ref int i, out short value)
    {
        value = 0;
        var start = i;
        while (i < text.Length && i - start < 4 && (uint)(text[i] - '0') <= 9)
        {
            value = (short)((value * 10) + (text[i] - '0'));
            i++;
        }

        return i - start is >= 1 and <= 3;
    }
}

/// <summary>
/// One complete SMTP reply, kept: the code, the enhanced status code when the text has one, and
/// the text of every line (RFC 5321 section 4.2), so that a DSN can quote a multi-line rejection in
/// full. Made from <see cref="SmtpReplyParser"/> only when a result needs keeping, or by Tern itself
/// (<see cref="IsLocal"/>) when no server reply explains the outcome (timeout, lost connection,
/// local policy).
/// </summary>
public sealed class SmtpReply
{
    private readonly string[] _lines;

    internal SmtpReply(int code, EnhancedStatusCode? enhancedCode, string[] lines, bool isLocal)
    {
        Code = code;
        EnhancedCode = enhancedCode;
        _lines = lines;
        IsLocal = isLocal;
    }

    /// <summary>The three-digit reply code.</summary>
    public int Code { get; }

    /// <summary>The enhanced status code at the start of the first line's text (RFC 3463), if any.</summary>
    public EnhancedStatusCode? EnhancedCode { get; }

    /// <summary>
    /// The text of each line after the code and its separator, enhanced code included, as the
    /// server sent it except that control characters (which could break a DSN or a log line) are
    /// replaced by '?' and invalid UTF-8 by U+FFFD.
    /// </summary>
    public IReadOnlyList<string> Lines => _lines;

    /// <summary>True when Tern made this reply up (no server said it): DSNs label it as a local diagnostic, not "smtp".</summary>
    public bool IsLocal { get; }

    /// <summary>2 (success), 3 (intermediate), 4 (transient) or 5 (permanent).</summary>
    public int Class => Code / 100;

    /// <summary>The enhanced code as text ("5.1.1"), or empty.</summary>
    public string Status => EnhancedCode?.ToString() ?? string.Empty;

    /// <summary>
    /// A reply Tern states itself. <paramref name="text"/> should not start with the enhanced code;
    /// it is put in front, as servers do.
    /// </summary>
    public static SmtpReply Local(int code, EnhancedStatusCode enhancedCode, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (code is < 200 or > 599)
        {
            throw new ArgumentOutOfRangeException(nameof(code), code, "an SMTP reply code is 200..599");
        }

        return new SmtpReply(code, enhancedCode, [enhancedCode + " " + Sanitize(text)], isLocal: true);
    }

    /// <summary>
    /// The reply in wire form without the final CRLF: every line with its code, "-" between lines
    /// and " " on the last, lines separated by CRLF. This is what a DSN's Diagnostic-Code quotes.
    /// </summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        for (var i = 0; i < _lines.Length; i++)
        {
            if (i > 0)
            {
                sb.Append("\r\n");
            }

            sb.Append(Code.ToString(CultureInfo.InvariantCulture));
            if (_lines[i].Length > 0 || i < _lines.Length - 1)
            {
                sb.Append(i < _lines.Length - 1 ? '-' : ' ').Append(_lines[i]);
            }
        }

        return sb.ToString();
    }

    internal static string Decode(ReadOnlySpan<byte> text)
    {
        var s = Encoding.UTF8.GetString(text);
        return Sanitize(s);
    }

    private static string Sanitize(string s)
    {
        if (!s.AsSpan().ContainsAnyInRange('\0', '\x1f') && !s.Contains('\x7f', StringComparison.Ordinal))
        {
            return s;
        }

        return string.Create(s.Length, s, static (dest, src) =>
        {
            for (var i = 0; i < src.Length; i++)
            {
                var c = src[i];
                dest[i] = (c < ' ' && c != '\t') || c == '\x7f' ? '?' : c;
            }
        });
    }
}
