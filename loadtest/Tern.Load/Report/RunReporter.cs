using System.Diagnostics;
using HdrHistogram;

namespace Tern.Load.Report;

/// <summary>
/// Watches a run: a background task samples <see cref="RunStats"/> every
/// <see cref="ReportOptions.Interval"/> (the time series of the reports, and the live progress),
/// and <see cref="FinishAsync"/> prints the summary table and writes the JSON and HTML reports.
/// Sampling runs on one task only, which is what <see cref="RunStats.TakeInterval"/> requires.
/// </summary>
public sealed class RunReporter
{
    private readonly RunStats _stats;
    private readonly ReportOptions _options;
    private readonly TextWriter _stdout;
    private readonly TextWriter _stderr;
    private readonly DateTimeOffset _startedUtc = DateTimeOffset.UtcNow;
    private readonly List<IntervalSample> _series = [];
    private readonly ProgressPrinter _progress;

    /// <summary>A copy of the last interval's latencies (TakeInterval recycles its histogram), for merging a final sliver.</summary>
    private readonly LongHistogram _previous = new(1, RunStats.HighestMicros, 3);
    private readonly TaskCompletionSource _stop = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _sampling;
    private long _lastSampleTimestamp;
    private long _lastOk;
    private long _lastFailed;
    private int _finished;

    private RunReporter(RunStats stats, ReportOptions options, TextWriter stdout, TextWriter stderr)
    {
        _stats = stats;
        _options = options;
        _stdout = stdout;
        _stderr = stderr;
        _progress = new ProgressPrinter(stdout, options.Interactive);
        _lastSampleTimestamp = Stopwatch.GetTimestamp();
        _sampling = Task.Run(SampleLoopAsync);
    }

    /// <summary>The time series sampled so far (for tests; complete after <see cref="FinishAsync"/>).</summary>
    internal IReadOnlyList<IntervalSample> Series => _series;

    /// <summary>The summary computed by <see cref="FinishAsync"/> (for tests), null before.</summary>
    internal RunSummary? Summary { get; private set; }

    /// <summary>Starts sampling <paramref name="stats"/> every options.Interval, printing the progress to <paramref name="stdout"/>.</summary>
    public static RunReporter Start(RunStats stats, ReportOptions options, TextWriter stdout) => Start(stats, options, stdout, stdout);

    /// <summary>As <see cref="Start(RunStats, ReportOptions, TextWriter)"/>; report files that cannot be written are said on <paramref name="stderr"/>.</summary>
    public static RunReporter Start(RunStats stats, ReportOptions options, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(stats);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Interval <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "the sampling interval must be positive");
        }

        return new RunReporter(stats, options, stdout, stderr);
    }

    /// <summary>
    /// Stops sampling, takes the final interval, prints the summary table, writes the JSON and HTML
    /// reports when asked. Returns 0, or 2 when a report file could not be written (said on stderr).
    /// Call once, after the run's workers have stopped; later calls return the same code without output.
    /// </summary>
    public async Task<int> FinishAsync()
    {
        if (Interlocked.Exchange(ref _finished, 1) != 0)
        {
            return 0;
        }

        var duration = _stats.Elapsed;
        _stop.TrySetResult();
        await _sampling;
        Sample(final: true);
        _progress.End();

        var summary = RunSummary.From(_stats, _options, _startedUtc, duration, _series);
        Summary = summary;
        await _stdout.WriteAsync(SummaryTable.Render(summary));
        await _stdout.FlushAsync();

        var code = 0;
        if (_options.JsonPath is { } json && !await TryWriteAsync(json, "JSON", path => ReportJson.WriteAsync(summary, path)))
        {
            code = 2;
        }

        if (_options.HtmlPath is { } html && !await TryWriteAsync(html, "HTML", path => File.WriteAllTextAsync(path, HtmlReport.Render(summary))))
        {
            code = 2;
        }

        return code;
    }

    private async Task<bool> TryWriteAsync(string path, string what, Func<string, Task> write)
    {
        try
        {
            await write(path);
            await _stdout.WriteLineAsync($"{what} report: {path}");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            await _stderr.WriteLineAsync($"tern-load: cannot write the {what} report to {path}: {e.Message}");
            return false;
        }
    }

    /// <summary>Samples on a fixed schedule (no drift; ticks missed while the machine stalled are skipped) until stopped.</summary>
    private async Task SampleLoopAsync()
    {
        var due = _lastSampleTimestamp;
        var period = (long)(_options.Interval.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            due += period;
            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
            if (wait < TimeSpan.Zero)
            {
                due = Stopwatch.GetTimestamp();
            }
            else if (await Task.WhenAny(Task.Delay(wait), _stop.Task) == _stop.Task)
            {
                return;
            }

            if (_stop.Task.IsCompleted)
            {
                return;
            }

            Sample(final: false);
        }
    }

    /// <summary>Takes one interval from the stats, appends it to the series, updates the progress.</summary>
    private void Sample(bool final)
    {
        var now = Stopwatch.GetTimestamp();
        var seconds = Stopwatch.GetElapsedTime(_lastSampleTimestamp, now).TotalSeconds;
        _lastSampleTimestamp = now;
        var interval = _stats.TakeInterval();
        var ok = _stats.Ok;
        var failed = _stats.Failed;
        var (newOk, newFailed) = (ok - _lastOk, failed - _lastFailed);
        _lastOk = ok;
        _lastFailed = failed;
        var sample = Describe(_stats.Elapsed.TotalSeconds, seconds, newOk, newFailed, interval);
        _progress.Update(_stats, sample, interval, final);

        // The run rarely ends on a tick: a final sliver shorter than half an interval joins the
        // interval before it (its rate over a few milliseconds would be noise on the charts).
        if (final && _series.Count != 0 && seconds < _options.Interval.TotalSeconds / 2)
        {
            var last = _series[^1];
            _previous.Add(interval);
            _series[^1] = Describe(sample.EndSeconds, last.Seconds + seconds, last.Ok + newOk, last.Failed + newFailed, _previous);
            return;
        }

        _series.Add(sample);
        _previous.Reset();
        _previous.Add(interval);
    }

    private static IntervalSample Describe(double end, double seconds, long ok, long failed, HistogramBase h) => new(
        end,
        seconds,
        ok,
        failed,
        Percentile(h, 50),
        Percentile(h, 90),
        Percentile(h, 99),
        h.TotalCount == 0 ? 0 : h.GetMaxValue());

    private static long Percentile(HistogramBase h, double p) => h.TotalCount == 0 ? 0 : h.GetValueAtPercentile(p);
}
