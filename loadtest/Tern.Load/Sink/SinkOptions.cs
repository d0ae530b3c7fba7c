using System.Globalization;
using System.Net;
using Tern.Load.Report;

namespace Tern.Load.Sink;

/// <summary>
/// Settings of one <c>tern-load sink</c> run: where it listens, when it stops, what it writes and
/// which faults it injects. Probabilities are per command (<see cref="FailMail"/>,
/// <see cref="FailRcpt"/>) or per message (the rest), drawn from a <see cref="Random"/> seeded with
/// <see cref="Seed"/> so that a run can be repeated.
/// </summary>
internal sealed record SinkOptions
{
    public IPEndPoint Listen { get; init; } = new(IPAddress.Loopback, 2525);

    public int MaxConnections { get; init; } = 1000;

    /// <summary>Stop after this long (null: until cancelled).</summary>
    public TimeSpan? Duration { get; init; }

    /// <summary>Stop once this many messages were accepted (null: no limit).</summary>
    public long? Messages { get; init; }

    /// <summary>Where to write one line per accepted message (its Message-ID, or <c>-</c>).</summary>
    public string? IdsPath { get; init; }

    /// <summary>Offer STARTTLS (RFC 3207).</summary>
    public bool Tls { get; init; }

    public string? CertPath { get; init; }

    public string? KeyPath { get; init; }

    public double FailMail { get; init; }

    public double FailRcpt { get; init; }

    /// <summary>Probability that the final reply to a message's content (DATA end, BDAT LAST) is a failure.</summary>
    public double FailData { get; init; }

    /// <summary>Codes an injected failure answers with, one picked at random per failure.</summary>
    public IReadOnlyList<int> FailCodes { get; init; } = [451];

    /// <summary>Probability per message of closing the connection after its content, without a reply.</summary>
    public double Disconnect { get; init; }

    /// <summary>Probability per message of answering its content with <c>421</c> and closing.</summary>
    public double GoingAway { get; init; }

    /// <summary>Probability that a STARTTLS handshake is aborted (the connection is closed after the 220).</summary>
    public double TlsFail { get; init; }

    /// <summary>Probability that a STARTTLS handshake fails in the middle: the ClientHello gets a fatal alert.</summary>
    public double TlsAbort { get; init; }

    /// <summary>Wait before each batch of replies is written.</summary>
    public TimeSpan Delay { get; init; }

    /// <summary>Extra wait before a batch holding a final reply to message content.</summary>
    public TimeSpan DelayData { get; init; }

    public int Seed { get; init; }

    /// <summary>Whether any message-level fault may be drawn (skips the random draws when none).</summary>
    public bool InjectsFaults => FailMail > 0 || FailRcpt > 0 || FailData > 0 || Disconnect > 0 || GoingAway > 0 || TlsFail > 0 || TlsAbort > 0;

    /// <summary>Parses <c>ADDR:PORT</c> (IPv6 as <c>[::1]:PORT</c>); the port may be 0.</summary>
    public static bool TryParseEndPoint(string? text, out IPEndPoint endPoint)
    {
        endPoint = new IPEndPoint(IPAddress.Loopback, 0);
        if (string.IsNullOrWhiteSpace(text) || !IPEndPoint.TryParse(text.Trim(), out var parsed))
        {
            return false;
        }

        // IPEndPoint.TryParse accepts a bare address (port 0): a port must be written.
        var trimmed = text.Trim();
        var colon = trimmed.LastIndexOf(':');
        if (colon < 0 || colon < trimmed.LastIndexOf(']'))
        {
            return false;
        }

        endPoint = parsed;
        return true;
    }

    /// <summary>Parses a comma-separated list of 4xx/5xx codes (421 is <c>--421</c>'s, not a failure code).</summary>
    public static bool TryParseCodes(string? text, out IReadOnlyList<int> codes)
    {
        var list = new List<int>();
        codes = list;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var code) || code is < 400 or > 599 || code == 421)
            {
                return false;
            }

            list.Add(code);
        }

        return list.Count > 0;
    }

    /// <summary>A probability as written on the command line: 0..1.</summary>
    public static bool IsProbability(double p) => p is >= 0 and <= 1 && !double.IsNaN(p);

    /// <summary>The settings as the report shows them (only what differs from a plain sink, plus the basics).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Describe()
    {
        var list = new List<KeyValuePair<string, string>>
        {
            new("listen", Listen.ToString()),
            new("max-connections", MaxConnections.ToString(CultureInfo.InvariantCulture)),
            new("tls", Tls ? (CertPath is null ? "self-signed" : CertPath) : "off"),
        };
        Add(list, "duration", Duration is { } d ? Durations.Format(d) : null);
        Add(list, "messages", Messages?.ToString(CultureInfo.InvariantCulture));
        Add(list, "ids", IdsPath);
        AddP(list, "fail-mail", FailMail);
        AddP(list, "fail-rcpt", FailRcpt);
        AddP(list, "fail-data", FailData);
        if (FailMail > 0 || FailRcpt > 0 || FailData > 0)
        {
            list.Add(new("fail-code", string.Join(',', FailCodes)));
        }

        AddP(list, "disconnect", Disconnect);
        AddP(list, "421", GoingAway);
        AddP(list, "tls-fail", TlsFail);
        AddP(list, "tls-abort", TlsAbort);
        Add(list, "delay", Delay > TimeSpan.Zero ? Durations.Format(Delay) : null);
        Add(list, "delay-data", DelayData > TimeSpan.Zero ? Durations.Format(DelayData) : null);
        if (InjectsFaults)
        {
            list.Add(new("seed", Seed.ToString(CultureInfo.InvariantCulture)));
        }

        return list;

        static void Add(List<KeyValuePair<string, string>> list, string name, string? value)
        {
            if (value is not null)
            {
                list.Add(new(name, value));
            }
        }

        static void AddP(List<KeyValuePair<string, string>> list, string name, double p)
        {
            if (p > 0)
            {
                list.Add(new(name, p.ToString("0.####", CultureInfo.InvariantCulture)));
            }
        }
    }
}
