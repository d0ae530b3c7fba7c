using System.Globalization;
using System.Text;

namespace Tern.Suppression;

/// <summary>
/// The journal's line format: UTF-8, one record per line ending in LF, fields separated by one
/// tab (shown as "|" here):
/// <code>
/// tern-suppression|1                      the header, line 1
/// add|ADDRESS|SINCE|SOURCE|REASON         suppressed (SINCE: UTC, 2026-11-28T19:08:48.046Z;
///                                         SOURCE: bounce, repeated-failures or operator)
/// remove|ADDRESS                          no longer suppressed, failure count forgotten
/// count|ADDRESS|N                         N consecutive permanent failures (0: forgotten)
/// </code>
/// Replayed in order, the last record about an address wins. In ADDRESS and REASON a backslash,
/// tab, line feed and carriage return are written \\, \t, \n and \r, other control characters
/// \xHH; so a record never spans lines and a field never holds a tab.
/// </summary>
internal static class Journal
{
    public const string Header = "tern-suppression\t1";

    public const string Add = "add";
    public const string Remove = "remove";
    public const string Count = "count";

    public static string AddLine(SuppressionEntry e) =>
        string.Join('\t', Add, Escape(e.Address), e.Since.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture), SourceName(e.Source), Escape(e.Reason));

    public static string RemoveLine(string address) => Remove + "\t" + Escape(address);

    public static string CountLine(string address, int count) => string.Join('\t', Count, Escape(address), count.ToString(CultureInfo.InvariantCulture));

    /// <summary>The bytes a line takes in the file, its newline included.</summary>
    public static int Bytes(string line) => Encoding.UTF8.GetByteCount(line) + 1;

    public static string SourceName(SuppressionSource source) => source switch
    {
        SuppressionSource.Bounce => "bounce",
        SuppressionSource.RepeatedFailures => "repeated-failures",
        SuppressionSource.Operator => "operator",
        _ => ((byte)source).ToString(CultureInfo.InvariantCulture),
    };

    public static bool TryParseSource(string text, out SuppressionSource source)
    {
        (var ok, source) = text switch
        {
            "bounce" => (true, SuppressionSource.Bounce),
            "repeated-failures" => (true, SuppressionSource.RepeatedFailures),
            "operator" => (true, SuppressionSource.Operator),
            _ => (false, default(SuppressionSource)),
        };
        return ok;
    }

    public static string Escape(string text)
    {
        var clean = true;
        foreach (var c in text)
        {
            if (c < 0x20 || c is '\\' or '\x7f')
            {
                clean = false;
                break;
            }
        }

        if (clean)
        {
            return text;
        }

        var sb = new StringBuilder(text.Length + 8);
        foreach (var c in text)
        {
            switch (c)
            {
                case '\\':
                    sb.Append(@"\\");
                    break;
                case '\t':
                    sb.Append(@"\t");
                    break;
                case '\n':
                    sb.Append(@"\n");
                    break;
                case '\r':
                    sb.Append(@"\r");
                    break;
                case < ' ' or '\x7f':
                    sb.Append(@"\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                    break;
                default:
                    sb.Append(c);
                    break;
            }
        }

        return sb.ToString();
    }

    /// <summary>Reverses <see cref="Escape"/>; null (with the reason) for a malformed escape or a raw control character.</summary>
    public static string? Unescape(string text, out string? error)
    {
        error = null;
        if (!text.AsSpan().ContainsAny('\\', '\x7f') && !text.Any(c => c < ' '))
        {
            return text;
        }

        var sb = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c < ' ' || c == '\x7f')
            {
                error = $"raw control character 0x{(int)c:x2}";
                return null;
            }

            if (c != '\\')
            {
                sb.Append(c);
                continue;
            }

            if (i + 1 >= text.Length)
            {
                error = "backslash at the end of a field";
                return null;
            }

            var e = text[++i];
            switch (e)
            {
                case '\\':
                    sb.Append('\\');
                    break;
                case 't':
                    sb.Append('\t');
                    break;
                case 'n':
                    sb.Append('\n');
                    break;
                case 'r':
                    sb.Append('\r');
                    break;
                case 'x' when i + 2 < text.Length
                    && int.TryParse(text.AsSpan(i + 1, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var value):
                    sb.Append((char)value);
                    i += 2;
                    break;
                default:
                    error = $"unknown escape \\{e}";
                    return null;
            }
        }

        return sb.ToString();
    }
}
