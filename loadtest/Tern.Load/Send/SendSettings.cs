using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Tern.Load.Send;

/// <summary>How a run paces its messages (see <see cref="MessageSchedule"/>).</summary>
internal enum LoadModel : byte
{
    /// <summary>Each session sends its next message when the previous reply came (capped by --rate).</summary>
    Closed,

    /// <summary>Messages are due at fixed intervals 1/rate whatever the replies; latency counts from the due time.</summary>
    Open,
}

/// <summary>An on/off option that defaults to what the server offers.</summary>
internal enum Toggle : byte
{
    Auto,
    On,
    Off,
}

/// <summary>A validated <c>tern-load send</c> run: everything the sessions need, parsed once.</summary>
internal sealed record SendSettings
{
    public required string Target { get; init; }

    public required string Host { get; init; }

    public required IPEndPoint EndPoint { get; init; }

    public int Sessions { get; init; } = 10;

    public long Messages { get; init; } = 10_000;

    public TimeSpan Duration { get; init; } = TimeSpan.FromMinutes(10);

    public required Weighted<int> Sizes { get; init; }

    public int Recipients { get; init; } = 1;

    public required Weighted<string> RcptDomains { get; init; }

    public string From { get; init; } = "load@tern-load.test";

    public Toggle Pipelining { get; init; } = Toggle.Auto;

    public bool Chunking { get; init; }

    public int Window { get; init; } = 1;

    public int PerConnection { get; init; } = 100;

    public bool StartTls { get; init; }

    public string? AuthUser { get; init; }

    public string? AuthPassword { get; init; }

    /// <summary>Messages per second, or 0 for no cap.</summary>
    public double Rate { get; init; }

    public LoadModel Model { get; init; } = LoadModel.Closed;

    public string? IdsPath { get; init; }

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);

    public string Helo { get; init; } = "tern-load.test";

    /// <summary>
    /// How long a session keeps retrying while the target is unreachable (a server restarting) before a
    /// failed connect costs a message as usual; zero: no retries.
    /// </summary>
    public TimeSpan RetryConnect { get; init; }

    /// <summary>Print the managed allocation per message of the steady state (the hidden --alloc).</summary>
    public bool MeasureAllocation { get; init; }

    /// <summary>"1k", "10k", "1m" (binary units) or plain bytes, 1 byte to 64 MiB.</summary>
    public static bool TryParseSize(string text, out int bytes, out string error)
    {
        bytes = 0;
        error = string.Empty;
        var s = text.Trim();
        long unit = 1;
        if (s.Length > 0 && char.ToLowerInvariant(s[^1]) is 'k' or 'm')
        {
            unit = char.ToLowerInvariant(s[^1]) == 'k' ? 1024 : 1024 * 1024;
            s = s[..^1];
        }

        if (!long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1 || n * unit > 64L * 1024 * 1024)
        {
            error = $"size \"{text}\" must be bytes (e.g. 1024, 10k, 1m) from 1 to 64m";
            return false;
        }

        bytes = (int)(n * unit);
        return true;
    }

    /// <summary>A domain for recipients: letters, digits, hyphens and dots (no IDN, no literals: it is a label for a sink).</summary>
    public static bool TryParseDomain(string text, out string domain, out string error)
    {
        domain = text.Trim().ToLowerInvariant();
        error = string.Empty;

        // An IPv4 address literal (RFC 5321 4.1.3), e.g. "[127.0.0.2]": mail to a host without DNS.
        if (domain.Length > 2 && domain[0] == '[' && domain[^1] == ']')
        {
            if (IPAddress.TryParse(domain[1..^1], out var literal) && literal.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork
                && domain[1..^1].Count(c => c == '.') == 3)
            {
                return true;
            }

            error = $"\"{text}\" is not an IPv4 address literal like [127.0.0.2]";
            return false;
        }

        if (domain.Length is 0 or > 253 || domain[0] is '.' or '-' || domain[^1] == '.' || domain.Contains("..", StringComparison.Ordinal)
            || !domain.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.'))
        {
            error = $"\"{text}\" is not a domain (letters, digits, '-' and '.') or an IPv4 address literal ([127.0.0.2])";
            return false;
        }

        return true;
    }

    /// <summary>
    /// HOST:PORT (IPv6 in brackets). Names are resolved here, once; unless <paramref name="allowRemote"/>,
    /// every address must be loopback so a typo cannot aim a load run at someone's server.
    /// </summary>
    public static bool TryParseTarget(string text, bool allowRemote, out string host, out IPEndPoint? endPoint, out string error)
    {
        host = string.Empty;
        endPoint = null;
        error = string.Empty;
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            error = $"--target \"{text}\" must be HOST:PORT (e.g. 127.0.0.1:2525 or [::1]:25)";
            return false;
        }

        host = text[..colon];
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
        }

        if (!TargetHost.TryResolve("--target", host, text, allowRemote, out var addresses, out error))
        {
            return false;
        }

        // IPv4 first when a name has both: test servers mostly listen on 127.0.0.1.
        var address = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses[0];
        endPoint = new IPEndPoint(address, port);
        return true;
    }
}
