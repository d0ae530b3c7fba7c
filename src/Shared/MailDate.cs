using System.Globalization;

namespace Tern.Shared;

/// <summary>
/// RFC 5322 3.3 date-time with a numeric zone ("Sat, 28 Nov 2026 18:42:07 +0000"), as Received
/// headers (RFC 5321 4.4) and DSN fields (RFC 3464 2.2.5, 2.3.7, 2.3.9) use it. One source file,
/// linked into each library that writes one (src/Shared), so neither depends on the other.
/// </summary>
internal static class MailDate
{
    /// <summary>The longest result: "Wed, 28 Nov 2026 18:42:07 +0000" is 31 characters.</summary>
    public const int MaxLength = 32;

    private static readonly string[] Days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    private static readonly string[] Months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

    /// <summary>Formats <paramref name="value"/> in its own offset into <paramref name="destination"/> (at least <see cref="MaxLength"/>), without allocating.</summary>
    public static int Format(DateTimeOffset value, Span<char> destination)
    {
        var n = 0;
        Days[(int)value.DayOfWeek].AsSpan().CopyTo(destination);
        n += 3;
        destination[n++] = ',';
        destination[n++] = ' ';
        value.Day.TryFormat(destination[n..], out var k, default, CultureInfo.InvariantCulture);
        n += k;
        destination[n++] = ' ';
        Months[value.Month - 1].AsSpan().CopyTo(destination[n..]);
        n += 3;
        destination[n++] = ' ';
        value.TryFormat(destination[n..], out k, "yyyy HH:mm:ss", CultureInfo.InvariantCulture);
        n += k;
        var offset = (int)value.Offset.TotalMinutes;
        destination[n++] = ' ';
        destination[n++] = offset < 0 ? '-' : '+';
        offset = Math.Abs(offset);
        (offset / 60).TryFormat(destination[n..], out k, "D2", CultureInfo.InvariantCulture);
        n += k;
        (offset % 60).TryFormat(destination[n..], out k, "D2", CultureInfo.InvariantCulture);
        return n + k;
    }

    public static string Format(DateTimeOffset value)
    {
        Span<char> chars = stackalloc char[MaxLength];
        return new string(chars[..Format(value, chars)]);
    }
}
