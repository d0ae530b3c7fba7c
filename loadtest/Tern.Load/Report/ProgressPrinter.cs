using System.Globalization;
using System.Text;
using HdrHistogram;

namespace Tern.Load.Report;

/// <summary>
/// The live progress of a run. On a terminal one line rewritten in place with <c>\r</c> at every
/// sample; otherwise (a log file, CI) plain lines: one per sample for the first minute, then one per
/// 10 seconds (at least one per sample interval), each summing the samples since the previous
/// line, so an hour-long run logs ~360 lines rather than 3600.
/// </summary>
internal sealed class ProgressPrinter(TextWriter output, bool interactive)
{
    /// <summary>Plain lines come every sample until then.</summary>
    public static readonly TimeSpan EveryIntervalFor = TimeSpan.FromMinutes(1);

    /// <summary>Plain lines after the first minute.</summary>
    public static readonly TimeSpan LongRunPeriod = TimeSpan.FromSeconds(10);

    private readonly LongHistogram _pending = new(1, RunStats.HighestMicros, 3);
    private readonly StringBuilder _line = new();
    private double _pendingSeconds;
    private long _pendingOk;
    private int _lastLength;
    private bool _wroteInteractive;

    /// <summary>Takes one sample; prints when it is time to.</summary>
    public void Update(RunStats stats, IntervalSample sample, HistogramBase interval, bool final)
    {
        if (interactive)
        {
            Format(stats, sample.OkPerSecond, interval);
            var length = _line.Length;
            if (length < _lastLength)
            {
                _line.Append(' ', _lastLength - length);
            }

            _lastLength = length;
            output.Write('\r');
            output.Write(_line);
            output.Flush();
            _wroteInteractive = true;
            return;
        }

        if (final)
        {
            return;
        }

        _pending.Add(interval);
        _pendingSeconds += sample.Seconds;
        _pendingOk += sample.Ok;
        if (TimeSpan.FromSeconds(sample.EndSeconds) > EveryIntervalFor && TimeSpan.FromSeconds(_pendingSeconds) < LongRunPeriod * 0.95)
        {
            return;
        }

        Format(stats, _pendingSeconds > 0 ? _pendingOk / _pendingSeconds : 0, _pending);
        output.WriteLine(_line);
        output.Flush();
        _pending.Reset();
        _pendingSeconds = 0;
        _pendingOk = 0;
    }

    /// <summary>Ends the live line so the summary starts on a line of its own.</summary>
    public void End()
    {
        if (_wroteInteractive)
        {
            output.WriteLine();
            output.Flush();
        }
    }

    private void Format(RunStats stats, double rate, HistogramBase latency)
    {
        var inv = CultureInfo.InvariantCulture;
        _line.Clear();
        _line.Append(inv, $"{stats.Elapsed.TotalSeconds,7:0.0}s  ok {stats.Ok}  failed {stats.Failed}  {rate:0} msg/s");
        if (latency.TotalCount != 0)
        {
            _line.Append(inv, $"  p50 {latency.GetValueAtPercentile(50) / 1000.0:0.###} ms  p99 {latency.GetValueAtPercentile(99) / 1000.0:0.###} ms");
        }

        if (stats.Failed != 0)
        {
            _line.Append("  errors");
            foreach (var kind in Enum.GetValues<FailureKind>())
            {
                var n = stats.FailuresOf(kind);
                if (n != 0)
                {
                    _line.Append(' ').Append(RunSummary.KindName(kind)).Append(':').Append(n);
                }
            }
        }
    }
}
