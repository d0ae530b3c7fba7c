using System.Globalization;
using System.Net;

namespace Tern.Config;

/// <summary>Parsing of the value syntaxes used in the configuration file (durations, sizes, endpoints, networks).</summary>
internal static class ConfigValues
{
    public static bool TryParseDuration(string text, out TimeSpan value)
    {
        value = default;
        var s = text.Trim();
        var i = 0;
        while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.'))
        {
            i++;
        }

        if (i == 0 || !double.TryParse(s.AsSpan(0, i), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n))
        {
            return false;
        }

        double? seconds = s[i..] switch
        {
            "ms" => n / 1000,
            "s" => n,
            "m" => n * 60,
            "h" => n * 3600,
            "d" => n * 86400,
            _ => null,
        };
        if (seconds is not { } secs || secs > TimeSpan.MaxValue.TotalSeconds / 2)
        {
            return false;
        }

        value = TimeSpan.FromSeconds(secs);
        return true;
    }

    public static string FormatDuration(TimeSpan d) =>
        d.TotalDays >= 1 && d.TotalDays == Math.Floor(d.TotalDays) ? $"{d.TotalDays:0}d"
        : d.TotalHours >= 1 && d.TotalHours == Math.Floor(d.TotalHours) ? $"{d.TotalHours:0}h"
        : d.TotalMinutes >= 1 && d.TotalMinutes == Math.Floor(d.TotalMinutes) ? $"{d.TotalMinutes:0}m"
        : d.TotalSeconds >= 1 && d.TotalSeconds == Math.Floor(d.TotalSeconds) ? $"{d.TotalSeconds:0}s"
        : $"{d.TotalMilliseconds:0}ms";

    public static bool TryParseSize(string text, out long value)
    {
        value = 0;
        var s = text.Trim();
        var i = 0;
        while (i < s.Length && char.IsAsciiDigit(s[i]))
        {
            i++;
        }

        if (i == 0 || !long.TryParse(s.AsSpan(0, i), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            return false;
        }

        long? multiplier = s[i..].Trim() switch
        {
            "" or "B" => 1,
            "KiB" => 1L << 10,
            "MiB" => 1L << 20,
            "GiB" => 1L << 30,
            "KB" or "kB" => 1000,
            "MB" => 1000_000,
            "GB" => 1000_000_000,
            _ => null,
        };
        if (multiplier is not { } m || n > long.MaxValue / m)
        {
            return false;
        }

        value = n * m;
        return true;
    }

    /// <summary>An IP literal with a port: <c>127.0.0.1:25</c>, <c>[::1]:25</c>, <c>0.0.0.0:25</c>. Port 0 lets the OS choose (tests).</summary>
    public static bool TryParseEndpoint(string text, out IPEndPoint endpoint)
    {
        endpoint = null!;
        // The port is required: "127.0.0.1" alone would silently mean port 0.
        var hasPort = text.StartsWith('[') ? text.Contains("]:", StringComparison.Ordinal) : text.Count(c => c == ':') == 1;
        if (!hasPort || !IPEndPoint.TryParse(text, out var ep))
        {
            return false;
        }

        // IPEndPoint.TryParse accepts "::1:25" ambiguously; require brackets for IPv6 with a port.
        if (ep.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && !text.StartsWith('['))
        {
            return false;
        }

        endpoint = ep;
        return true;
    }

    public static bool TryParseNetwork(string text, out IPNetwork network)
    {
        if (IPNetwork.TryParse(text, out network))
        {
            return true;
        }

        // A bare address means a single host.
        if (IPAddress.TryParse(text, out var address))
        {
            network = new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128);
            return true;
        }

        return false;
    }
}
