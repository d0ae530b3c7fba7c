using Microsoft.Extensions.Logging;
using Tern.Observability.Logging;
using Tern.Spool;

namespace Tern.Benchmarks.SpoolLoad;

/// <summary>
/// <c>spool-load</c>: load and recovery measurements of the real spool on real files, for the
/// targets that BenchmarkDotNet's per-operation figures cannot express (time to ready after a
/// restart, resident memory with a full queue, latency percentiles under a paced load, allocations
/// per append across all the spool's threads). See bench/README.md.
/// </summary>
internal static class SpoolLoadCommand
{
    public const string Verb = "spool-load";

    /// <summary>SpoolOptions that a run may change (forwarded to the child processes as given).</summary>
    private static readonly string[] TuningOptions = ["checkpoint-mb", "memory-bits", "page-bits", "index-buckets", "index-memory-bits", "index-page-bits", "checkpoint-throttle-ms", "index-preallocate", "index-mutable"];

    public static int Run(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            Usage(Console.Out);
            return args.Length == 0 ? 2 : 0;
        }

        try
        {
            var options = LoadArguments.Parse(args[1..]);
            return args[0] switch
            {
                "recovery" => RecoveryMode.Run(options),
                "latency" => SelfProcess.IsChild ? LatencyMode.Run(options) : SelfProcess.RunInherited(args),
                "alloc" => SelfProcess.IsChild ? AllocationMode.Run(options) : SelfProcess.RunInherited(args),

                // Hidden: the child processes of the recovery mode.
                "child-fill" => RecoveryMode.Fill(options),
                "child-open" => RecoveryMode.Open(options),
                "child-breakdown" => RecoveryMode.Breakdown(options),
                _ => throw new ArgumentException($"unknown mode '{args[0]}'"),
            };
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"spool-load: {e.Message}");
            Usage(Console.Error);
            return 2;
        }
    }

    /// <summary>The spool's options: the product defaults, except what the run's tuning options change.</summary>
    public static SpoolOptions Options(string directory, LoadArguments a)
    {
        var defaults = new SpoolOptions { Directory = directory };
        return defaults with
        {
            CheckpointBytes = a.Long("checkpoint-mb", defaults.CheckpointBytes >> 20) << 20,
            MemorySizeBits = a.Int("memory-bits", defaults.MemorySizeBits),
            PageSizeBits = a.Int("page-bits", defaults.PageSizeBits),
            IndexBuckets = a.Long("index-buckets", defaults.IndexBuckets),
            IndexMemorySizeBits = a.Int("index-memory-bits", defaults.IndexMemorySizeBits),
            IndexPageSizeBits = a.Int("index-page-bits", defaults.IndexPageSizeBits),
            CheckpointThrottleMilliseconds = a.Int("checkpoint-throttle-ms", defaults.CheckpointThrottleMilliseconds),
            IndexMutableFraction = a.Double("index-mutable", defaults.IndexMutableFraction),
            PreallocateIndex = a.Int("index-preallocate", defaults.PreallocateIndex ? 1 : 0) != 0,
        };
    }

    /// <summary>The tuning options given to this run, to pass on to a child.</summary>
    public static IEnumerable<string> Tuning(LoadArguments a) =>
        TuningOptions.Where(a.Flag).SelectMany(name => new[] { "--" + name, a.String(name)! });

    public static string Describe(SpoolOptions o) =>
        $"page_bits={o.PageSizeBits} memory_bits={o.MemorySizeBits} segment_bits={o.SegmentSizeBits} checkpoint_mb={o.CheckpointBytes >> 20} " +
        $"checkpoint_interval_s={o.CheckpointInterval.TotalSeconds} index_buckets={o.IndexBuckets} index_page_bits={o.IndexPageSizeBits} index_memory_bits={o.IndexMemorySizeBits} " +
        $"checkpoint_throttle_ms={o.CheckpointThrottleMilliseconds} index_preallocate={(o.PreallocateIndex ? 1 : 0)} index_mutable={o.IndexMutableFraction}";

    /// <summary>The spool's own log lines (info and above) on standard error, as the relay writes them.</summary>
    public static ILoggerFactory Loggers() =>
        new LogfmtLoggerFactory(new LogLevelSettings(TernLogLevel.Info), new LogSink(Console.OpenStandardError()));

    /// <summary>A fresh directory for a spool (under --dir when given).</summary>
    public static string NewDirectory(LoadArguments a, string name)
    {
        if (a.String("dir") is { } root)
        {
            var path = Path.Combine(root, name);
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }

            Directory.CreateDirectory(path);
            return path;
        }

        return Directory.CreateTempSubdirectory($"tern-spool-load-{name}-").FullName;
    }

    public static void PrintEnvironment(string mode)
    {
        Console.WriteLine($"# spool-load {mode}: {System.Environment.ProcessorCount} cores, .NET {System.Environment.Version}, " +
            $"GC {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")} latency mode {System.Runtime.GCSettings.LatencyMode}, {DateTime.UtcNow:yyyy-MM-dd HH:mm}Z, load average {LoadAverage()}");
    }

    /// <summary>The 1-minute load average: other work on the machine's cores during the run.</summary>
    public static string LoadAverage()
    {
        try
        {
            return File.ReadAllText("/proc/loadavg").Split(' ')[0];
        }
        catch (IOException)
        {
            return "?";
        }
    }

    private static void Usage(TextWriter output)
    {
        output.WriteLine("""
            usage: Tern.Benchmarks spool-load <mode> [options]

              recovery --messages N [--runs 3] [--variant graceful|killed|both] [--writers 128]
                       [--dir D] [--keep] [--drop-caches] [--no-breakdown]
                  Fills a spool with N 1 KiB messages (128 writers), stops it gracefully (graceful) or
                  with SIGKILL right after the last commit (killed), then in a new process measures
                  Spool.Open until it returns (ready) and the resident memory with N queued.
              latency --writers W [--rate R|half|max] [--seconds 20] [--warmup 3] [--timeline] [--trace-log [--stall-ms 50]] [--min-threads N]
                  W writers append durable 1 KiB messages. max: closed loop (as fast as it goes);
                  R: open loop at R messages/s in total; half: closed loop, then open loop at half
                  the rate it reached. Prints response-time percentiles (from the intended start).
              alloc [--writers 1,16,128] [--messages 40k] [--warmup-messages 400k] [--types]
                  Bytes allocated per durable append, all threads (GC.GetTotalAllocatedBytes), after a
                  warm-up (128 writers) that fills FASTER's buffers; --types: which types (sampled).

              Spool options (default: the product's): --checkpoint-mb --memory-bits --page-bits
                  --index-buckets --index-memory-bits --index-page-bits
            Children run with the host's GC settings (workstation, non-concurrent).
            """);
    }
}
