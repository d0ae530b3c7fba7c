using System.Globalization;

namespace Tern.Load.Report;

/// <summary>
/// Durations on tern-load's command line (<c>--duration</c>, <c>--timeout</c>, <c>--interval</c>):
/// one number with an optional unit — <c>250ms</c>, <c>30s</c>, <c>1.5s</c>, <c>2m</c>, <c>1h</c> —
/// or plain seconds (<c>5</c>). Load runs are short and one unit is all a run needs, so the
/// grammar stays smaller than <c>tern</c>'s own (<c>1h30m</c>); negatives, NaN, exponents and
/// anything past a day are refused so a typo is an error rather than a different run.
/// </summary>
public static class Durations
{
    /// <summary>The longest duration accepted: a load run past a day is a typing mistake.</summary>
    public static readonly TimeSpan Max = TimeSpan.FromDays(1);

    /// <summary>Parses <paramref name="text"/>; false (and a zero value) when it is not a duration.</summary>
    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        var s = (text ?? string.Empty).AsSpan().Trim();
        var end = 0;
        while (end < s.Length && (char.IsAsciiDigit(s[end]) || s[end] == '.'))
        {
            end++;
        }

        if (end == 0 || !double.TryParse(s[..end], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
        {
            return false;
        }

        double seconds;
        switch (s[end..])
        {
            case "" or "s":
                seconds = number;
                break;
            case "ms":
                seconds = number / 1000.0;
                break;
            case "m":
            case "min":
                seconds = number * 60.0;
                break;
            case "h":
                seconds = number * 3600.0;
                break;
            default:
                return false;
        }

        if (!double.IsFinite(seconds) || seconds > Max.TotalSeconds)
        {
            return false;
        }

        value = TimeSpan.FromTicks((long)Math.Round(seconds * TimeSpan.TicksPerSecond));
        return true;
    }

    /// <summary>Compact text for a duration as the reports show it: <c>250ms</c>, <c>12.5s</c>, <c>3m20s</c>.</summary>
    public static string Format(TimeSpan d)
    {
        if (d < TimeSpan.FromSeconds(1))
        {
            return ((long)d.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) + "ms";
        }

        if (d < TimeSpan.FromMinutes(1))
        {
            return d.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + "s";
        }

        var total = (long)d.TotalSeconds;
        var (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
        return (hours > 0 ? $"{hours}h" : string.Empty)
            + (minutes > 0 ? $"{minutes}m" : string.Empty)
            + (seconds > 0 ? $"{seconds}s" : string.Empty);
    }
}
