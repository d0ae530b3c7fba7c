using System.Diagnostics;
using System.Globalization;
using HdrHistogram;
using Tern.Spool;

namespace Tern.Benchmarks.SpoolLoad;

/// <summary>
/// Durable-append latency and throughput: a closed loop (each writer starts its next message when
/// the last is durable: the maximum rate) and an open loop (arrivals at a fixed rate, measured from
/// the arrival: the latency a client sees at that load). Each phase uses a new spool.
/// </summary>
internal static class LatencyMode
{
    public static int Run(LoadArguments a)
    {
        var writers = a.Int("writers", 128);
        var seconds = a.Int("seconds", 20);
        var warmup = a.Int("warmup", 3);
        var rate = a.String("rate") ?? "max";

        // The relay's own setting is the pool's default minimum (see TernHost); --min-threads changes
        // it for experiments (64 was the relay's setting until the log wrote on its own thread).
        ThreadPool.GetMinThreads(out var defaultMin, out var ports);
        ThreadPool.SetMinThreads(a.Int("min-threads", defaultMin), ports);

        ThreadPool.GetMinThreads(out var minWorkers, out _);
        SpoolLoadCommand.PrintEnvironment("latency");
        Console.WriteLine($"# thread pool: min {minWorkers} workers");
        Console.WriteLine($"# {writers} writers, 1 KiB messages, 1 recipient; {seconds} s per phase after {warmup} s of warm-up; rate {rate}");

        double? paced = rate switch
        {
            "max" or "0" => null,
            "half" => Phase(a, writers, seconds, warmup, null) / 2,
            _ => double.TryParse(rate, NumberStyles.Float, CultureInfo.InvariantCulture, out var r) && r > 0 ? r : throw new ArgumentException($"--rate: '{rate}' is not a rate, half or max"),
        };

        if (paced is { } offered)
        {
            Phase(a, writers, seconds, warmup, offered);
        }
        else if (rate is "max" or "0")
        {
            Phase(a, writers, seconds, warmup, null);
        }

        return 0;
    }

    /// <summary>One phase on a new spool; returns the achieved rate (messages/s).</summary>
    private static double Phase(LoadArguments a, int writers, int seconds, int warmup, double? rate)
    {
        var dir = SpoolLoadCommand.NewDirectory(a, "latency");
        var metrics = new ProbeMetrics();
        using var loggers = SpoolLoadCommand.Loggers();
        var options = SpoolLoadCommand.Options(dir, a);
        var spool = Spool.Spool.Open(options, loggers, metrics);
        try
        {
            // The warm-up runs the phase's own loop (the paced path must be jitted too), on the same spool.
            if (warmup > 0 && rate is { } warmRate)
            {
                Load.PacedAsync(spool, writers, warmRate, TimeSpan.FromSeconds(warmup), new LatencyRecording(warmup)).GetAwaiter().GetResult();
            }
            else if (warmup > 0)
            {
                Load.TimedAsync(spool, writers, TimeSpan.FromSeconds(warmup), new LatencyRecording(warmup)).GetAwaiter().GetResult();
            }

            var commits = metrics.Get("tern_spool_commits_total");
            var perCommit = metrics.Get("tern_spool_records_per_commit");
            var checkpoints = metrics.Get("tern_spool_checkpoints_total");
            var (commits0, records0, checkpoints0) = (commits.Count, perCommit.Sum, checkpoints.Count);
            var gcs0 = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
            var pause0 = GC.GetTotalPauseDuration();

            using var gcLog = a.Flag("gc-log") ? new GcLog() : null;
            var machine = new MachineSampler();
            var recording = new LatencyRecording(seconds);
            using var sampler = new Sampler(spool, recording.Start);
            var tracer = a.Flag("trace-log") ? new LogTracer(spool, recording) : null;
            var duration = TimeSpan.FromSeconds(seconds);
            var n = rate is { } r
                ? Load.PacedAsync(spool, writers, r, duration, recording).GetAwaiter().GetResult()
                : Load.TimedAsync(spool, writers, duration, recording).GetAwaiter().GetResult();
            var elapsed = (recording.LastEnd - recording.Start) / (double)Stopwatch.Frequency;
            var achieved = n / elapsed;
            sampler.Stop();
            tracer?.Dispose();

            var commitCount = commits.Count - commits0;
            var checkpointTimes = checkpoints.Times!.Skip((int)checkpoints0).Select(ts => (int)((ts - recording.Start) / Stopwatch.Frequency)).ToHashSet();
            var mode = rate is null ? "closed" : "paced";
            var offered = rate is { } o ? o.ToString("0", CultureInfo.InvariantCulture) : "max";
            Console.WriteLine(
                $"RESULT latency mode={mode} writers={writers} offered={offered} achieved={achieved:0} messages={n} seconds={elapsed:0.0} " +
                LatencyRecording.Percentiles(string.Empty, recording.Response) + " " +
                LatencyRecording.Percentiles("service_", recording.Service) + " " +
                $"commits_per_s={commitCount / elapsed:0} records_per_commit={(perCommit.Sum - records0) / Math.Max(1, commitCount):0.0} " +
                $"checkpoints={checkpoints.Count - checkpoints0} max_applier_lag_mb={sampler.MaxLagMiB:0} " +
                $"gc={GC.CollectionCount(0) - gcs0.Item1}/{GC.CollectionCount(1) - gcs0.Item2}/{GC.CollectionCount(2) - gcs0.Item3} gc_pause_ms={(GC.GetTotalPauseDuration() - pause0).TotalMilliseconds:0} " +
                $"cpu_s={sampler.CpuSeconds:0.0} rss_mb={ProcessStats.RssMiB():0} load={SpoolLoadCommand.LoadAverage()} {machine.Fields()}");

            // The slow seconds: do they line up with the index checkpoints (the applier's upkeep)?
            var secondsList = recording.Seconds().ToList();
            var withCheckpoint = secondsList.Where(s => checkpointTimes.Contains(s.Second) || checkpointTimes.Contains(s.Second - 1)).ToList();
            var without = secondsList.Except(withCheckpoint).ToList();
            Console.WriteLine($"# per second: p99 over seconds with or just after a checkpoint {Worst(withCheckpoint)}, other seconds {Worst(without)}");
            foreach (var stall in tracer?.Stalls(TimeSpan.FromMilliseconds(a.Double("stall-ms", 50))) ?? [])
            {
                Console.WriteLine(stall);
            }

            foreach (var line in gcLog?.Lines ?? [])
            {
                Console.WriteLine(line);
            }

            if (a.Flag("timeline"))
            {
                // Raw Stopwatch timestamps (CLOCK_MONOTONIC ns on Linux), to line up with `perf record -k CLOCK_MONOTONIC`.
                Console.WriteLine($"CHECKPOINTS start={recording.Start} at={string.Join(',', checkpoints.Times!.Skip((int)checkpoints0))}");
                foreach (var (second, h) in secondsList)
                {
                    Console.WriteLine($"TIMELINE second={second} n={h.TotalCount} {LatencyRecording.Percentiles(string.Empty, h)} checkpoint={(checkpointTimes.Contains(second) ? 1 : 0)} applier_lag_mb={sampler.LagAt(second):0}");
                }
            }

            return achieved;
        }
        finally
        {
            spool.DisposeAsync().AsTask().GetAwaiter().GetResult();
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string Worst(List<(int Second, HistogramBase Histogram)> seconds)
    {
        if (seconds.Count == 0)
        {
            return "(none)";
        }

        var p99 = seconds.Select(s => s.Histogram.GetValueAtPercentile(99) / 1000.0).Order().ToArray();
        return $"median {p99[p99.Length / 2]:0.00} ms, worst {p99[^1]:0.00} ms ({seconds.Count} s)";
    }

    /// <summary>Once a second: how far the applier is behind the committed log, and the process's CPU time.</summary>
    private sealed class Sampler : IDisposable
    {
        private readonly Spool.Spool _spool;
        private readonly long _start;
        private readonly TimeSpan _cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        private readonly Dictionary<int, double> _lag = [];
        private readonly Timer _timer;
        private TimeSpan _cpu;

        public Sampler(Spool.Spool spool, long start)
        {
            _spool = spool;
            _start = start;
            _timer = new Timer(_ => Sample(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        }

        public double MaxLagMiB { get; private set; }

        public double CpuSeconds => _cpu.TotalSeconds;

        public double LagAt(int second)
        {
            lock (_lag)
            {
                return _lag.GetValueOrDefault(second);
            }
        }

        public void Stop()
        {
            _timer.Change(Timeout.Infinite, Timeout.Infinite);
            _cpu = Process.GetCurrentProcess().TotalProcessorTime - _cpu0;
        }

        public void Dispose() => _timer.Dispose();

        private void Sample()
        {
            var committed = (ProcessStats.Peek(_spool, "_current") as LogInstance)?.Log.CommittedUntilAddress;
            var applied = ProcessStats.PeekLong(_spool, "_applied");
            if (committed is { } c && applied is { } ap)
            {
                var lag = (c - ap) / 1048576.0;
                lock (_lag)
                {
                    _lag[(int)((Stopwatch.GetTimestamp() - _start) / Stopwatch.Frequency)] = lag;
                    MaxLagMiB = Math.Max(MaxLagMiB, lag);
                }
            }
        }
    }
}
