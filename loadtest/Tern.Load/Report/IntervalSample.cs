namespace Tern.Load.Report;

/// <summary>
/// One point of a run's time series: what happened during one sampling interval. Latencies are
/// the interval's own HDR histogram (not the run's so far), so a stall shows where it happened.
/// </summary>
/// <param name="EndSeconds">Seconds from the start of the run to the end of this interval.</param>
/// <param name="Seconds">The interval's actual length (the timer drifts; rates use this).</param>
/// <param name="Ok">Messages that got their 2xx in this interval.</param>
/// <param name="Failed">Messages that failed in this interval.</param>
/// <param name="P50Micros">Median latency of the interval's successes, or 0 when there were none.</param>
/// <param name="P90Micros">90th percentile.</param>
/// <param name="P99Micros">99th percentile.</param>
/// <param name="MaxMicros">Highest latency.</param>
internal readonly record struct IntervalSample(
    double EndSeconds,
    double Seconds,
    long Ok,
    long Failed,
    long P50Micros,
    long P90Micros,
    long P99Micros,
    long MaxMicros)
{
    /// <summary>Successes per second over the interval.</summary>
    public double OkPerSecond => Seconds > 0 ? Ok / Seconds : 0;

    /// <summary>Failures per second over the interval.</summary>
    public double FailedPerSecond => Seconds > 0 ? Failed / Seconds : 0;
}
