namespace Tern.Dsn;

/// <summary>RFC 5322 3.3 date-time with a numeric zone, as RFC 3464 2.2.5/2.3.7/2.3.9 require.</summary>
internal static class MailDate
{
    private static readonly string[] Days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    private static readonly string[] Months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

    /// <summary>"Tue, 3 Mar 2026 10:04:05 +0100".</summary>
    public static string Format(DateTimeOffset value)
    {
        var offset = (int)value.Offset.TotalMinutes;
        var sign = offset < 0 ? '-' : '+';
        offset = Math.Abs(offset);
        return string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"{Days[(int)value.DayOfWeek]}, {value.Day} {Months[value.Month - 1]} {value.Year:D4} {value.Hour:D2}:{value.Minute:D2}:{value.Second:D2} {sign}{offset / 60:D2}{offset % 60:D2}");
    }
}
