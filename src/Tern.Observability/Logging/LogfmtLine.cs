using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Tern.Observability.Logging;

/// <summary>
/// Builds one logfmt line: <c>t=&lt;RFC3339&gt; l=info m="..." c=&lt;component&gt; k=v ...</c>.
/// The message (<c>m</c>) is the template's text before its first placeholder, so a call such as
/// <c>"connection accepted {cid} {remote}"</c> prints <c>m="connection accepted" cid=... remote=...</c>.
/// </summary>
public static class LogfmtLine
{
    private const string OriginalFormatKey = "{OriginalFormat}";

    // Templates are a fixed set of constants: derive each one's message once.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> Messages = new(StringComparer.Ordinal);

    /// <summary>Formats the line (with trailing newline) into <paramref name="sb"/>.</summary>
    public static void Format<TState>(
        StringBuilder sb,
        DateTime utcNow,
        LogLevel level,
        string component,
        TernLogLevel componentLevel,
        TState state,
        Exception? exception,
        Func<TState, Exception?, string> formatter)
    {
        sb.Append("t=");
        AppendTimestamp(sb, utcNow);
        sb.Append(" l=").Append(TernLogLevels.ShortName(level));

        // One cast: LoggerMessage's state is a struct, and each `is` test against the interface boxes it.
        var props = state as IReadOnlyList<KeyValuePair<string, object?>>;
        string? template = null;
        if (props is not null)
        {
            // From the end: LoggerMessage puts the template last, and each element read boxes its value.
            for (var i = props.Count - 1; i >= 0; i--)
            {
                var property = props[i];
                if (property.Key == OriginalFormatKey)
                {
                    template = property.Value as string;
                    break;
                }
            }
        }

        sb.Append(" m=");
        AppendValue(sb, template is null ? formatter(state, exception) : Messages.GetOrAdd(template, MessageOf));
        sb.Append(" c=");
        AppendValue(sb, component);

        if (props is not null)
        {
            for (var i = 0; i < props.Count; i++)
            {
                var (key, value) = props[i];
                if (key == OriginalFormatKey)
                {
                    continue;
                }

                sb.Append(' ');
                AppendKey(sb, key);
                sb.Append('=');
                AppendObject(sb, value, componentLevel);
            }
        }

        if (exception is not null)
        {
            sb.Append(" err=");
            AppendValue(sb, exception.Message);
            sb.Append(" errtype=");
            AppendValue(sb, exception.GetType().FullName ?? exception.GetType().Name);
            if (componentLevel >= TernLogLevel.Debug && exception.StackTrace is { } stack)
            {
                sb.Append(" stack=");
                AppendValue(sb, stack);
            }
        }

        sb.Append('\n');
    }

    /// <summary>The template's text before its first placeholder, without trailing blanks or colon.</summary>
    public static string MessageOf(string template)
    {
        var brace = template.IndexOf('{', StringComparison.Ordinal);
        var text = brace < 0 ? template : template[..brace];
        return text.TrimEnd(' ', ':', ',');
    }

    /// <summary>
    /// RFC 3339 in UTC with milliseconds (2026-12-07T03:19:38.741Z), written digit by digit: a custom
    /// format string is parsed again on every call, and this runs for every line.
    /// </summary>
    private static void AppendTimestamp(StringBuilder sb, DateTime utc)
    {
        Span<char> t = stackalloc char[24];
        var (year, month, day) = utc;
        Digits(t[..4], year);
        t[4] = '-';
        Digits(t.Slice(5, 2), month);
        t[7] = '-';
        Digits(t.Slice(8, 2), day);
        t[10] = 'T';
        Digits(t.Slice(11, 2), utc.Hour);
        t[13] = ':';
        Digits(t.Slice(14, 2), utc.Minute);
        t[16] = ':';
        Digits(t.Slice(17, 2), utc.Second);
        t[19] = '.';
        Digits(t.Slice(20, 3), utc.Millisecond);
        t[23] = 'Z';
        sb.Append(t);
    }

    /// <summary>Writes <paramref name="value"/> (not negative) in exactly <c>destination.Length</c> digits, zero-padded.</summary>
    private static void Digits(Span<char> destination, int value)
    {
        for (var i = destination.Length - 1; i >= 0; i--)
        {
            destination[i] = (char)('0' + (value % 10));
            value /= 10;
        }
    }

    private static void AppendKey(StringBuilder sb, string key)
    {
        // Keys are identifiers: keep letters, digits, '_', '.', '-'; anything else becomes '_'.
        foreach (var ch in key)
        {
            sb.Append(char.IsAsciiLetterOrDigit(ch) || ch is '_' or '.' or '-' ? ch : '_');
        }
    }

    private static void AppendObject(StringBuilder sb, object? value, TernLogLevel componentLevel)
    {
        switch (value)
        {
            case null:
                sb.Append("\"\"");
                break;
            case LogSecret secret:
                AppendValue(sb, componentLevel >= TernLogLevel.TraceAuth ? secret.Value : "***");
                break;
            case LogData data:
                if (componentLevel >= TernLogLevel.TraceData)
                {
                    AppendValue(sb, Encoding.UTF8.GetString(data.Value.Span));
                }
                else
                {
                    AppendValue(sb, data.ToString());
                }

                break;
            case string s:
                AppendValue(sb, s);
                break;
            case bool b:
                sb.Append(b ? "true" : "false");
                break;
            case TimeSpan span:
                // Durations in seconds with millisecond precision: easy to grep and compare.
                sb.Append(span.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)).Append('s');
                break;
            case ISpanFormattable f:
                // Numbers and the like: formatted on the stack, no string per value.
                Span<char> formatted = stackalloc char[64];
                if (f.TryFormat(formatted, out var written, default, CultureInfo.InvariantCulture))
                {
                    AppendValue(sb, formatted[..written]);
                }
                else
                {
                    AppendValue(sb, f.ToString(null, CultureInfo.InvariantCulture));
                }

                break;
            case IFormattable f:
                AppendValue(sb, f.ToString(null, CultureInfo.InvariantCulture));
                break;
            default:
                AppendValue(sb, value.ToString() ?? string.Empty);
                break;
        }
    }

    /// <summary>Appends a logfmt value, quoted and escaped when it is empty or holds space, '=', '"' or control characters.</summary>
    public static void AppendValue(StringBuilder sb, string value) => AppendValue(sb, value.AsSpan());

    /// <inheritdoc cref="AppendValue(StringBuilder, string)"/>
    public static void AppendValue(StringBuilder sb, ReadOnlySpan<char> value)
    {
        var needsQuotes = value.Length == 0;
        foreach (var ch in value)
        {
            if (ch <= ' ' || ch == '=' || ch == '"' || ch == '\\' || ch == '\x7f')
            {
                needsQuotes = true;
                break;
            }
        }

        if (!needsQuotes)
        {
            sb.Append(value);
            return;
        }

        sb.Append('"');
        foreach (var ch in value)
        {
            switch (ch)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (ch < ' ' || ch == '\x7f')
                    {
                        sb.Append("\\x").Append(((int)ch).ToString("x2", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        sb.Append(ch);
                    }

                    break;
            }
        }

        sb.Append('"');
    }
}
