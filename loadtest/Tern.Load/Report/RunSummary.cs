using System.Globalization;
using HdrHistogram;

namespace Tern.Load.Report;

/// <summary>
/// The run's end state, computed once by <see cref="RunReporter.FinishAsync"/> from
/// <see cref="RunStats"/> and the time series, and rendered three ways (the summary table, the JSON
/// report and the HTML report) so the three always agree.
/// </summary>
internal sealed class RunSummary
{
    /// <summary>Percentiles of the whole-run latency shown in the table and the JSON report.</summary>
    public static readonly double[] TablePercentiles = [50, 90, 99, 99.9];

    public required ReportOptions Options { get; init; }

    public required DateTimeOffset StartedUtc { get; init; }

    public required TimeSpan Duration { get; init; }

    public required long Ok { get; init; }

    public required long Failed { get; init; }

    public required long Connections { get; init; }

    public required long Bytes { get; init; }

    /// <summary>Failures by kind, kinds with a count only, in enum order.</summary>
    public required IReadOnlyList<(FailureKind Kind, long Count)> FailuresByKind { get; init; }

    /// <summary>Failures by SMTP reply code or HTTP status.</summary>
    public required IReadOnlyList<(int Code, long Count)> FailuresByCode { get; init; }

    public required LatencySummary Latency { get; init; }

    public required IReadOnlyList<IntervalSample> Series { get; init; }

    public long Messages => Ok + Failed;

    public double MessagesPerSecond => Duration.TotalSeconds > 0 ? Ok / Duration.TotalSeconds : 0;

    public double MiBPerSecond => Duration.TotalSeconds > 0 ? Bytes / 1048576.0 / Duration.TotalSeconds : 0;

    /// <summary>The kind's name as reports write it (<c>reply</c>, <c>timeout</c>, ...).</summary>
    public static string KindName(FailureKind kind) => kind switch
    {
        FailureKind.Reply => "reply",
        FailureKind.Connect => "connect",
        FailureKind.Disconnect => "disconnect",
        FailureKind.Timeout => "timeout",
        FailureKind.Tls => "tls",
        FailureKind.Protocol => "protocol",
        _ => ((int)kind).ToString(CultureInfo.InvariantCulture),
    };

    public static RunSummary From(RunStats stats, ReportOptions options, DateTimeOffset startedUtc, TimeSpan duration, IReadOnlyList<IntervalSample> series)
    {
        var kinds = new List<(FailureKind, long)>();
        foreach (var kind in Enum.GetValues<FailureKind>())
        {
            var n = stats.FailuresOf(kind);
            if (n != 0)
            {
                kinds.Add((kind, n));
            }
        }

        return new RunSummary
        {
            Options = options,
            StartedUtc = startedUtc,
            Duration = duration,
            Ok = stats.Ok,
            Failed = stats.Failed,
            Connections = stats.Connections,
            Bytes = stats.Bytes,
            FailuresByKind = kinds,
            FailuresByCode = stats.FailuresByCode(),
            Latency = LatencySummary.From(stats.Total),
            Series = series,
        };
    }
}

/// <summary>The whole run's latency distribution in microseconds (HDR, 3 significant digits).</summary>
internal sealed class LatencySummary
{
    /// <summary>
    /// Points of the percentile-distribution chart: evenly spaced on x = -log10(1 - p/100), from
    /// 0 % to 99.999 % in steps of 0.1 (so 90 %, 99 %, 99.9 % ... are equally far apart).
    /// </summary>
    public const double MaxNines = 5.0;

    public long Count { get; init; }

    public long MinMicros { get; init; }

    public double MeanMicros { get; init; }

    public long MaxMicros { get; init; }

    /// <summary>(percentile, micros) for <see cref="RunSummary.TablePercentiles"/>.</summary>
    public IReadOnlyList<(double Percentile, long Micros)> Percentiles { get; init; } = [];

    /// <summary>(percentile, micros) along the log-ish axis, for the distribution chart.</summary>
    public IReadOnlyList<(double Percentile, long Micros)> Distribution { get; init; } = [];

    public long At(double percentile)
    {
        foreach (var (p, v) in Percentiles)
        {
            if (p == percentile)
            {
                return v;
            }
        }

        return 0;
    }

    public static LatencySummary From(HistogramBase h)
    {
        if (h.TotalCount == 0)
        {
            return new LatencySummary { Percentiles = [.. RunSummary.TablePercentiles.Select(p => (p, 0L))] };
        }

        long min = 0;
        foreach (var v in h.RecordedValues())
        {
            min = h.LowestEquivalentValue(v.ValueIteratedTo);
            break;
        }

        var distribution = new List<(double, long)>();
        for (var step = 0; step <= (int)(MaxNines * 10); step++)
        {
            var p = 100.0 * (1.0 - Math.Pow(10, -step / 10.0));
            distribution.Add((p, h.GetValueAtPercentile(p)));
        }

        return new LatencySummary
        {
            Count = h.TotalCount,
            MinMicros = min,
            MeanMicros = h.GetMean(),
            MaxMicros = h.GetMaxValue(),
            Percentiles = [.. RunSummary.TablePercentiles.Select(p => (p, h.GetValueAtPercentile(p)))],
            Distribution = distribution,
        };
    }
}
