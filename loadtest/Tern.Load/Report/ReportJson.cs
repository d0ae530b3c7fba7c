using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tern.Load.Report;

/// <summary>
/// The machine-readable report (<c>--json FILE</c>): run info, parameters, totals, failures,
/// latency percentiles and the per-interval time series. Latencies are milliseconds (HDR, three
/// significant digits); member names are snake_case. <c>schema</c> changes when a member changes
/// meaning, so scripts comparing runs can tell.
/// </summary>
internal sealed record JsonReport(
    int Schema,
    JsonRunInfo Run,
    Dictionary<string, string> Parameters,
    JsonTotals Totals,
    JsonFailures Failures,
    JsonLatency LatencyMs,
    List<JsonInterval> Series)
{
    public const int CurrentSchema = 1;
}

/// <summary>What ran, against what, when and how long.</summary>
internal sealed record JsonRunInfo(string Tool, string Version, string Mode, string Target, DateTimeOffset StartedUtc, double DurationSeconds, double IntervalSeconds);

/// <summary>Whole-run counters; rates are per second of <see cref="JsonRunInfo.DurationSeconds"/>.</summary>
internal sealed record JsonTotals(long Messages, long Ok, long Failed, long Connections, long Bytes, double MsgPerSec, double MibPerSec);

/// <summary>Failures by kind (<c>reply</c>, <c>timeout</c>, ...) and by reply code or HTTP status (keys are the code as text).</summary>
internal sealed record JsonFailures(Dictionary<string, long> ByKind, Dictionary<string, long> ByCode);

/// <summary>The whole run's latency; <see cref="Distribution"/> is the chart's percentile curve.</summary>
internal sealed record JsonLatency(long Count, double Min, double Mean, double P50, double P90, double P99, double P99_9, double Max, List<JsonPercentile> Distribution);

/// <summary>One point of the percentile distribution.</summary>
internal sealed record JsonPercentile(double Percentile, double Ms);

/// <summary>One sampling interval: <see cref="T"/> is the seconds from the start to its end.</summary>
internal sealed record JsonInterval(double T, double Seconds, long Ok, long Failed, double MsgPerSec, double P50Ms, double P90Ms, double P99Ms, double MaxMs);

/// <summary>Source-generated serialization (no reflection: tern-load is a Native AOT binary).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(JsonReport))]
internal sealed partial class ReportJsonContext : JsonSerializerContext;

/// <summary>Builds the <see cref="JsonReport"/> of a <see cref="RunSummary"/> and writes it.</summary>
internal static class ReportJson
{
    public static JsonReport Build(RunSummary s)
    {
        var l = s.Latency;
        var version = typeof(ReportJson).Assembly.GetName().Version?.ToString(3) ?? "0";
        return new JsonReport(
            JsonReport.CurrentSchema,
            new JsonRunInfo("tern-load", version, s.Options.Mode, s.Options.Target, s.StartedUtc, Round(s.Duration.TotalSeconds), s.Options.Interval.TotalSeconds),
            Parameters(s.Options.Parameters),
            new JsonTotals(s.Messages, s.Ok, s.Failed, s.Connections, s.Bytes, Round(s.MessagesPerSecond), Round(s.MiBPerSecond)),
            new JsonFailures(
                s.FailuresByKind.ToDictionary(k => RunSummary.KindName(k.Kind), k => k.Count),
                s.FailuresByCode.ToDictionary(c => c.Code.ToString(CultureInfo.InvariantCulture), c => c.Count)),
            new JsonLatency(l.Count, Ms(l.MinMicros), Round(l.MeanMicros / 1000.0), Ms(l.At(50)), Ms(l.At(90)), Ms(l.At(99)), Ms(l.At(99.9)), Ms(l.MaxMicros),
                [.. l.Distribution.Select(d => new JsonPercentile(Math.Round(d.Percentile, 4), Ms(d.Micros)))]),
            [.. s.Series.Select(i => new JsonInterval(Round(i.EndSeconds), Round(i.Seconds), i.Ok, i.Failed, Round(i.OkPerSecond),
                Ms(i.P50Micros), Ms(i.P90Micros), Ms(i.P99Micros), Ms(i.MaxMicros)))]);
    }

    public static async Task WriteAsync(RunSummary s, string path)
    {
        await using var file = File.Create(path);
        await JsonSerializer.SerializeAsync(file, Build(s), ReportJsonContext.Default.JsonReport);
    }

    /// <summary>Parameters by name; a name given twice keeps its last value.</summary>
    private static Dictionary<string, string> Parameters(IReadOnlyList<KeyValuePair<string, string>> list)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in list)
        {
            d[k] = v;
        }

        return d;
    }

    private static double Ms(long micros) => micros / 1000.0;

    private static double Round(double v) => Math.Round(v, 3);
}
