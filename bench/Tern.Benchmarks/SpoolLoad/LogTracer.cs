using System.Diagnostics;
using System.Globalization;
using Tern.Spool;

namespace Tern.Benchmarks.SpoolLoad;

/// <summary>
/// --trace-log: every 5 ms, where the log is (tail, flushed, committed), how many writes each
/// FASTER device has in flight, and how many messages have completed. Afterwards the stalls (no
/// message completed for 50 ms or more) are printed with what moved and what did not, which tells
/// a flush stuck at the device from a commit stuck elsewhere.
/// </summary>
internal sealed class LogTracer : IDisposable
{
    private readonly List<Sample> _samples = [];
    private readonly Spool.Spool _spool;
    private readonly LatencyRecording _recording;
    private readonly Thread _thread;
    private volatile bool _stop;

    public LogTracer(Spool.Spool spool, LatencyRecording recording)
    {
        _spool = spool;
        _recording = recording;
        _thread = new Thread(Run) { IsBackground = true, Name = "spool-load tracer" };
        _thread.Start();
    }

    public void Dispose()
    {
        _stop = true;
        _thread.Join();
    }

    /// <summary>One line per stall: its start (seconds into the run), length, and the deltas over it.</summary>
    public IEnumerable<string> Stalls(TimeSpan minimum)
    {
        var min = (long)(minimum.TotalSeconds * Stopwatch.Frequency);
        var i = 0;
        while (i < _samples.Count - 1)
        {
            var j = i;
            while (j + 1 < _samples.Count && _samples[j + 1].Completed == _samples[i].Completed)
            {
                j++;
            }

            if (j > i && _samples[j].Time - _samples[i].Time >= min)
            {
                var (a, b) = (_samples[i], _samples[j]);
                var maxLogPending = _samples.Skip(i).Take(j - i + 1).Max(s => s.LogPending);
                var maxIndexPending = _samples.Skip(i).Take(j - i + 1).Max(s => s.IndexPending);
                yield return string.Create(CultureInfo.InvariantCulture,
                    $"STALL at_s={(a.Time - _recording.Start) / (double)Stopwatch.Frequency:0.000} ms={(b.Time - a.Time) * 1000.0 / Stopwatch.Frequency:0} " +
                    $"tail_kb={(b.Tail - a.Tail) / 1024} flushed_kb={(b.Flushed - a.Flushed) / 1024} committed_kb={(b.Committed - a.Committed) / 1024} " +
                    $"unflushed_kb_at_start={(a.Tail - a.Flushed) / 1024} uncommitted_kb_at_end={(b.Tail - b.Committed) / 1024} " +
                    $"log_writes_in_flight_max={maxLogPending} index_writes_in_flight_max={maxIndexPending}");
            }

            i = j + 1;
        }
    }

    private void Run()
    {
        var instance = ProcessStats.Peek(_spool, "_current") as LogInstance;
        var indexDevice = ProcessStats.Peek(_spool.Index, "_device");
        while (!_stop)
        {
            var log = (ProcessStats.Peek(_spool, "_current") as LogInstance ?? instance)?.Log;
            if (log is not null)
            {
                _samples.Add(new Sample(
                    Stopwatch.GetTimestamp(),
                    log.TailAddress,
                    log.FlushedUntilAddress,
                    log.CommittedUntilAddress,
                    Pending(instance?.Device),
                    Pending(indexDevice),
                    _recording.Completed));
            }

            Thread.Sleep(5);
        }
    }

    private static int Pending(object? device) => device is null ? -1 : ProcessStats.Peek(device, "numPending") is int n ? n : -1;

    private readonly record struct Sample(long Time, long Tail, long Flushed, long Committed, int LogPending, int IndexPending, long Completed);
}
