using System.Globalization;
using System.Net;
using System.Text;

namespace Tern.Load.Report;

/// <summary>
/// The HTML report (<c>--html FILE</c>): one self-contained file — inline CSS and inline SVG, no
/// script and no external resource — with the summary table, throughput over time (ok and failed
/// per second), latency over time (p50, p99, max per interval) and the whole run's latency
/// percentile distribution on a log-ish axis (0 % to 99.999 %). Every string that came from the
/// command line (target, parameters) is HTML-escaped.
/// </summary>
internal static class HtmlReport
{
    private const string Css = """
        body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d2733; background: #fbfbfc; }
        h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 24px 0 8px; }
        .sub { color: #5b6775; margin-bottom: 16px; }
        table { border-collapse: collapse; margin: 4px 0 12px; }
        th, td { padding: 3px 12px 3px 0; text-align: left; vertical-align: top; }
        td.n { text-align: right; font-variant-numeric: tabular-nums; }
        table.lat th, table.lat td { text-align: right; padding-right: 16px; }
        .chart { display: block; margin: 8px 0 20px; background: #fff; border: 1px solid #e1e5ea; }
        .chart text { font: 11px system-ui, sans-serif; fill: #3b4654; }
        .chart .title { font-size: 13px; font-weight: 600; }
        .chart .axis { font-size: 12px; }
        .chart .grid { stroke: #edf0f3; stroke-width: 1; }
        .chart .frame { fill: none; stroke: #c5ccd4; }
        .bad { color: #b3261e; }
        """;

    public static string Render(RunSummary s)
    {
        var inv = CultureInfo.InvariantCulture;
        var b = new StringBuilder();
        var title = $"tern-load {s.Options.Mode}: {s.Options.Target}";
        b.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        b.Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
        b.Append("<title>").Append(Esc(title)).Append("</title><style>").Append(Css).Append("</style></head><body>\n");
        b.Append("<h1>").Append(Esc(title)).Append("</h1>");
        b.Append(inv, $"<div class=\"sub\">started {Esc(s.StartedUtc.ToString("yyyy-MM-dd HH:mm:ss", inv))} UTC, {s.Duration.TotalSeconds:0.000} s</div>\n");

        b.Append("<h2>Settings</h2><table>");
        foreach (var (name, value) in s.Options.Parameters)
        {
            Row(b, name, value);
        }

        b.Append("</table>\n<h2>Results</h2><table>");

        Row(b, "duration", s.Duration.TotalSeconds.ToString("0.000 s", inv));
        Row(b, "messages", s.Messages.ToString(inv));
        Row(b, "ok", s.Ok.ToString(inv));
        Row(b, "failed", s.Failed.ToString(inv), s.Failed != 0);
        foreach (var (kind, count) in s.FailuresByKind)
        {
            Row(b, "failed: " + RunSummary.KindName(kind), count.ToString(inv), true);
        }

        foreach (var (code, count) in s.FailuresByCode)
        {
            Row(b, "failed: code " + code.ToString(inv), count.ToString(inv), true);
        }

        Row(b, "connections", s.Connections.ToString(inv));
        Row(b, "throughput", string.Create(inv, $"{s.MessagesPerSecond:0.0} msg/s, {s.MiBPerSecond:0.000} MiB/s"));
        b.Append("</table>\n");

        var l = s.Latency;
        b.Append("<h2>Latency (ms)</h2><table class=\"lat\"><tr><th>min</th>");
        foreach (var (p, _) in l.Percentiles)
        {
            b.Append("<th>p").Append(p.ToString("0.###", inv)).Append("</th>");
        }

        b.Append("<th>max</th><th>mean</th><th>count</th></tr><tr>");
        Cell(b, l.MinMicros / 1000.0);
        foreach (var (_, v) in l.Percentiles)
        {
            Cell(b, v / 1000.0);
        }

        Cell(b, l.MaxMicros / 1000.0);
        Cell(b, l.MeanMicros / 1000.0);
        b.Append("<td>").Append(l.Count.ToString(inv)).Append("</td></tr></table>\n");

        var xMax = s.Series.Count == 0 ? 1 : s.Series[^1].EndSeconds;
        b.Append("<h2>Throughput</h2>");
        b.Append(SvgChart.Render("Messages per second", "seconds", "msg/s",
        [
            new ChartSeries("ok/s", "#2a9d8f", [.. s.Series.Select(i => (i.EndSeconds, i.OkPerSecond))]),
            new ChartSeries("failed/s", "#d62828", [.. s.Series.Select(i => (i.EndSeconds, i.FailedPerSecond))]),
        ], xMax));
        b.Append("\n<h2>Latency over time</h2>");
        b.Append(SvgChart.Render("Latency per interval", "seconds", "ms",
        [
            new ChartSeries("p50", "#457b9d", Latencies(s, i => i.P50Micros)),
            new ChartSeries("p99", "#f4a261", Latencies(s, i => i.P99Micros)),
            new ChartSeries("max", "#d62828", Latencies(s, i => i.MaxMicros)),
        ], xMax));
        b.Append("\n<h2>Latency distribution</h2>");
        b.Append(SvgChart.Render("Latency by percentile (whole run)", "percentile", "ms",
        [
            new ChartSeries("latency", "#1d3557", [.. l.Distribution.Select(d => (Nines(d.Percentile), d.Micros / 1000.0))]),
        ], LatencySummary.MaxNines,
        [(0, "0%"), (1, "90%"), (2, "99%"), (3, "99.9%"), (4, "99.99%"), (5, "99.999%")]));
        b.Append("\n</body></html>\n");
        return b.ToString();
    }

    /// <summary>x = -log10(1 - p/100): 90 % is 1, 99 % is 2, 99.9 % is 3 ...</summary>
    private static double Nines(double percentile) => Math.Min(LatencySummary.MaxNines, -Math.Log10(Math.Max(1e-9, 1 - percentile / 100.0)));

    /// <summary>Latency points of the intervals that had successes (an empty interval has no latency, not zero).</summary>
    private static List<(double, double)> Latencies(RunSummary s, Func<IntervalSample, long> pick) =>
        [.. s.Series.Where(i => i.Ok != 0).Select(i => (i.EndSeconds, pick(i) / 1000.0))];

    private static void Row(StringBuilder b, string label, string value, bool bad = false)
    {
        b.Append("<tr><th>").Append(Esc(label)).Append("</th><td");
        if (bad)
        {
            b.Append(" class=\"bad\"");
        }

        b.Append('>').Append(Esc(value)).Append("</td></tr>");
    }

    private static void Cell(StringBuilder b, double ms) =>
        b.Append("<td>").Append(ms.ToString("0.000", CultureInfo.InvariantCulture)).Append("</td>");

    private static string Esc(string s) => WebUtility.HtmlEncode(s);
}
