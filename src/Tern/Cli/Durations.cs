namespace Tern.Cli;

/// <summary>
/// Durations on the command line: whole numbers with units in decreasing order, as people write
/// them — <c>90s</c>, <c>30m</c>, <c>2h</c>, <c>1d</c>, <c>1h30m</c>, <c>1d12h</c> — optionally
/// signed (<c>-30m</c>). Strict (no bare numbers, no repeated or reordered units), because a
/// mistyped selection should be an error rather than a different set of messages.
/// </summary>
internal static class Durations
{
    /// <summary>Anything longer is a typing mistake (and would overflow date arithmetic).</summary>
    public static readonly TimeSpan Max = TimeSpan.FromDays(36_500);

    private const string Units = "dhms";

    /// <summary>Parses a duration; on failure <paramref name="error"/> says what is wrong with it.</summary>
    public static bool TryParse(string? text, out TimeSpan value, out string error)
    {
        value = default;
        error = string.Empty;
        var s = (text ?? string.Empty).AsSpan().Trim();
        if (s.IsEmpty)
        {
            error = "empty duration; expected e.g. 90s, 30m, 2h, 1d or 1h30m";
            return false;
        }

        var negative = s[0] == '-';
        if (s[0] is '-' or '+')
        {
            s = s[1..];
        }

        long seconds = 0;
        var lastUnit = -1;
        var i = 0;
        while (i < s.Length)
        {
            var start = i;
            while (i < s.Length && char.IsAsciiDigit(s[i]))
            {
                i++;
            }

            if (i == start)
            {
                error = $"bad duration \"{text}\": expected a number at \"{s[i..].ToString()}\" (e.g. 90s, 30m, 2h, 1d, 1h30m)";
                return false;
            }

            if (i == s.Length)
            {
                error = $"bad duration \"{text}\": \"{s[start..].ToString()}\" has no unit (s, m, h or d)";
                return false;
            }

            var unit = Units.IndexOf(s[i]);
            if (unit < 0)
            {
                error = $"bad duration \"{text}\": unknown unit '{s[i]}' (s, m, h or d)";
                return false;
            }

            if (unit <= lastUnit)
            {
                error = $"bad duration \"{text}\": units must come once each, largest first (e.g. 1d2h30m)";
                return false;
            }

            // Nine digits are enough for any duration below the maximum, and cannot overflow.
            if (i - start > 9)
            {
                error = $"bad duration \"{text}\": longer than {Max.TotalDays:0} days";
                return false;
            }

            var n = long.Parse(s[start..i], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture);
            seconds += n * unit switch
            {
                0 => 86_400L,
                1 => 3_600L,
                2 => 60L,
                _ => 1L,
            };
            lastUnit = unit;
            i++;
        }

        if (seconds > Max.TotalSeconds)
        {
            error = $"bad duration \"{text}\": longer than {Max.TotalDays:0} days";
            return false;
        }

        value = TimeSpan.FromSeconds(negative ? -seconds : seconds);
        return true;
    }

    /// <summary>
    /// A point in time as operators write one (<c>--due-before</c>, the admin API's <c>due_before</c>):
    /// an ISO 8601 time, UTC unless it says otherwise (<c>2026-11-28T19:00Z</c>), or a signed
    /// duration from <paramref name="now"/> (<c>2h</c>, <c>-30m</c>).
    /// </summary>
    public static bool TryParseTime(string? text, DateTimeOffset now, out DateTimeOffset value)
    {
        if (TryParse(text, out var fromNow, out _))
        {
            value = now + fromNow;
            return true;
        }

        if (DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var time))
        {
            value = time.ToUniversalTime();
            return true;
        }

        value = default;
        return false;
    }

    /// <summary>Compact and rounded down to its two largest units: <c>45s</c>, <c>12m</c>, <c>3h5m</c>, <c>2d4h</c>, <c>-30m</c>.</summary>
    public static string Format(TimeSpan d)
    {
        var sign = d < TimeSpan.Zero ? "-" : string.Empty;
        var total = (long)d.Duration().TotalSeconds;
        var (days, hours, minutes, secs) = (total / 86_400, total / 3_600 % 24, total / 60 % 60, total % 60);
        return sign + (days > 0 ? $"{days}d{(hours > 0 ? $"{hours}h" : "")}"
            : hours > 0 ? $"{hours}h{(minutes > 0 ? $"{minutes}m" : "")}"
            : minutes > 0 ? $"{minutes}m{(secs > 0 ? $"{secs}s" : "")}"
            : $"{secs}s");
    }
}
