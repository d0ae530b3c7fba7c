using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using Tern.Observability.Metrics;
using Tern.Spool;
using Tern.Spool.Queue;

namespace Tern.Benchmarks.SpoolLoad;

/// <summary>
/// Time to ready and resident memory after a restart with N messages queued. The spool is filled
/// by one child process and opened by others, so each measurement is a fresh process (runtime
/// start and JIT included in its memory, not in the Open time) and the filler's memory is not in it.
/// </summary>
internal static class RecoveryMode
{
    private static readonly TimeSpan ChildTimeout = TimeSpan.FromMinutes(10);

    public static int Run(LoadArguments a)
    {
        var messages = a.Long("messages", 1_000_000);
        var runs = a.Int("runs", 3);
        var writers = a.Int("writers", 128);
        var variants = (a.String("variant") ?? "both") switch
        {
            "both" => new[] { "graceful", "killed" },
            "graceful" => ["graceful"],
            "killed" => ["killed"],
            var v => throw new ArgumentException($"--variant: '{v}' is not graceful, killed or both"),
        };
        var root = a.String("dir") ?? Directory.CreateTempSubdirectory("tern-spool-load-").FullName;
        Directory.CreateDirectory(root);
        var keep = a.Flag("keep");
        var tuning = SpoolLoadCommand.Tuning(a).ToArray();

        // ~1.2 KiB of log per message, ~0.25 KiB of index; the killed variant keeps a copy to restore.
        var needed = messages * 1700L * (variants.Length + (variants.Contains("killed") ? 1 : 0));
        var free = new DriveInfo(root).AvailableFreeSpace;
        if (needed > free - (2L << 30))
        {
            throw new ArgumentException($"{root}: {free >> 20} MiB free, the run needs about {needed >> 20} MiB (and 2 GiB to spare)");
        }

        SpoolLoadCommand.PrintEnvironment("recovery");
        Console.WriteLine($"# {messages} messages of {Load.BodySize} B, 1 recipient, {writers} writers; {runs} runs per variant; directory {root}; {free >> 30} GiB free");
        Console.WriteLine($"# spool options: {SpoolLoadCommand.Describe(SpoolLoadCommand.Options(root, a))}");

        // An empty spool first: the process's own memory (runtime, JIT, FASTER's fixed buffers) and the fixed cost of Open.
        var empty = Path.Combine(root, "empty");
        Reset(empty);
        var baseline = Enumerable.Range(0, runs).Select(_ => OpenChild(empty, tuning, a.Flag("drop-caches"))).ToList();
        Summarize("empty", 0, baseline);
        Directory.Delete(empty, recursive: true);

        foreach (var variant in variants)
        {
            var dir = Path.Combine(root, variant);
            Reset(dir);
            Console.WriteLine($"# {variant}: filling {dir}");
            string[] fill = ["child-fill", "--dir", dir, "--messages", messages.ToString(CultureInfo.InvariantCulture), "--writers", writers.ToString(CultureInfo.InvariantCulture), .. tuning];
            var filled = variant == "killed"
                ? SelfProcess.RunAndKill([.. fill, "--kill"], ChildTimeout)
                : SelfProcess.RunForResult(fill, ChildTimeout);
            Console.WriteLine($"# {variant}: on disk: log {Megabytes(dir, "tern.log*")} MiB, index {Megabytes(Path.Combine(dir, "index"), "*")} MiB");

            // A kill leaves a replay to do; the open child exits without checkpointing, but a replay
            // longer than CheckpointBytes checkpoints during open: every run starts from a copy.
            var snapshot = dir + ".snapshot";
            if (variant == "killed")
            {
                Copy(dir, snapshot);
            }

            var results = new List<Dictionary<string, string>>();
            for (var run = 0; run < runs; run++)
            {
                if (variant == "killed" && run > 0)
                {
                    Copy(snapshot, dir);
                }

                var result = OpenChild(dir, tuning, a.Flag("drop-caches"));
                if (long.Parse(result["queued"], CultureInfo.InvariantCulture) != messages)
                {
                    throw new InvalidOperationException($"{variant}: {result["queued"]} messages recovered, {messages} were committed");
                }

                results.Add(result);
            }

            Summarize(variant, messages, results, filled);
            if (!a.Flag("no-breakdown"))
            {
                if (variant == "killed")
                {
                    Copy(snapshot, dir);
                }

                Console.WriteLine($"# {variant}: where the time goes (the phases of Spool.Open, run one by one)");
                var phases = SelfProcess.RunForResult(["child-breakdown", "--dir", dir, .. tuning], ChildTimeout);
                Console.WriteLine($"RESULT recovery-breakdown variant={variant} messages={messages} " + string.Join(' ', phases.Select(p => $"{p.Key}={p.Value}")));
            }

            if (!keep)
            {
                Directory.Delete(dir, recursive: true);
                if (Directory.Exists(snapshot))
                {
                    Directory.Delete(snapshot, recursive: true);
                }
            }
        }

        if (!keep && a.String("dir") is null)
        {
            Directory.Delete(root, recursive: true);
        }

        return 0;
    }

    /// <summary>Child: fills the spool, then stops it gracefully, or prints its line and waits for SIGKILL.</summary>
    public static int Fill(LoadArguments a)
    {
        var dir = a.String("dir") ?? throw new ArgumentException("--dir is required");
        var messages = a.Long("messages", 1_000_000);
        var writers = a.Int("writers", 128);
        var metrics = new ProbeMetrics();
        using var loggers = SpoolLoadCommand.Loggers();
        var spool = Spool.Spool.Open(SpoolLoadCommand.Options(dir, a), loggers, metrics);
        var elapsed = Load.CountAsync(spool, writers, messages).GetAwaiter().GetResult();
        var fields = $"filled={messages} fill_s={elapsed.TotalSeconds:0.00} fill_rate={messages / elapsed.TotalSeconds:0} " +
            $"commits={metrics.Get("tern_spool_commits_total").Count} checkpoints={metrics.Get("tern_spool_checkpoints_total").Count} " +
            $"fill_rss_nogc_mb={ProcessStats.RssMiB():0} fill_load={SpoolLoadCommand.LoadAverage()} " + Positions(spool) + " " +
            ProcessStats.MemoryAfterGc("fill_");
        if (a.Flag("kill"))
        {
            // Every message is durable (its commit returned); the applier and the checkpoints are where they are.
            Console.WriteLine("CHILD " + fields);
            Console.Out.Flush();
            Console.In.ReadLine();
            Thread.Sleep(Timeout.Infinite);
        }

        // A running relay with N queued also surveys its whole index every few checkpoints (truncation
        // point, retention): one forced checkpoint with its survey, and the memory after it.
        if (spool.GetType().GetMethod("CheckpointNowAsync", BindingFlags.Instance | BindingFlags.NonPublic) is { } checkpointNow)
        {
            var checkpointing = Stopwatch.GetTimestamp();
            ((Task)checkpointNow.Invoke(spool, null)!).GetAwaiter().GetResult();
            fields += $" fill_checkpoint_ms={Stopwatch.GetElapsedTime(checkpointing).TotalMilliseconds:0} " + ProcessStats.MemoryAfterGc("fill_ckpt_");
        }

        var stopping = Stopwatch.GetTimestamp();
        spool.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Console.WriteLine("CHILD " + fields + $" dispose_ms={Stopwatch.GetElapsedTime(stopping).TotalMilliseconds:0}");
        return 0;
    }

    /// <summary>
    /// Child: Spool.Open timed until it returns, then the memory after a full GC, then (unless
    /// --no-checkpoint) one checkpoint and the memory after it. Exits without disposing.
    /// </summary>
    public static int Open(LoadArguments a)
    {
        var dir = a.String("dir") ?? throw new ArgumentException("--dir is required");
        using var loggers = SpoolLoadCommand.Loggers();
        var options = SpoolLoadCommand.Options(dir, a);
        var rssBefore = ProcessStats.RssMiB();
        var started = Stopwatch.GetTimestamp();
        var spool = Spool.Spool.Open(options, loggers, NullMetrics.Instance);
        var ready = Stopwatch.GetElapsedTime(started);
        var sinceStart = DateTime.Now - Process.GetCurrentProcess().StartTime;
        var queued = spool.Count;
        var positions = Positions(spool);
        var memory = ProcessStats.MemoryAfterGc();

        // Then the first checkpoint, as a running relay makes every minute or 256 MiB: it passes
        // over the whole index (the upkeep's survey), so its memory is the steady state's, not Open's.
        var afterCheckpoint = string.Empty;
        if (!a.Flag("no-checkpoint") && spool.GetType().GetMethod("CheckpointNowAsync", BindingFlags.Instance | BindingFlags.NonPublic) is { } checkpointNow)
        {
            var checkpointing = Stopwatch.GetTimestamp();
            ((Task)checkpointNow.Invoke(spool, null)!).GetAwaiter().GetResult();
            afterCheckpoint = $" checkpoint_ms={Stopwatch.GetElapsedTime(checkpointing).TotalMilliseconds:0} " + ProcessStats.MemoryAfterGc("ckpt_");
        }

        Console.WriteLine($"CHILD ready_ms={ready.TotalMilliseconds:0.0} since_start_ms={sinceStart.TotalMilliseconds:0} queued={queued} rss_before_open_mb={rssBefore:0.0} {memory} {positions} gc_mode={System.Runtime.GCSettings.LatencyMode} load={SpoolLoadCommand.LoadAverage()}{afterCheckpoint}");
        Console.Out.Flush();

        // No dispose (a graceful stop would checkpoint, and take its time with a full queue); the
        // killed variant's runs each start from a copy of the crashed directory anyway.
        Environment.Exit(0);
        return 0;
    }

    /// <summary>
    /// Child: the phases of Spool.Open done one by one with the spool's own parts (LogInstance,
    /// QueueIndex, the applier's per-record work), timed, with the resident memory after each.
    /// </summary>
    public static unsafe int Breakdown(LoadArguments a)
    {
        var dir = a.String("dir") ?? throw new ArgumentException("--dir is required");
        var options = SpoolLoadCommand.Options(dir, a);
        var fields = new List<(string, double)>();
        var t = Stopwatch.GetTimestamp();
        double Lap()
        {
            var ms = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
            t = Stopwatch.GetTimestamp();
            return ms;
        }

        fields.Add(("rss_start_mb", ProcessStats.RssMiB()));
        t = Stopwatch.GetTimestamp();
        using var instance = LogInstance.Open(options, generation: 1, freeSpace: static () => 0); // recovery only: no zeros ahead
        fields.Add(("log_open_ms", Lap()));
        fields.Add(("rss_after_log_mb", ProcessStats.RssMiB()));
        var log = instance.Log;
        fields.Add(("log_mb", (log.TailAddress - log.BeginAddress) / 1048576.0));

        t = Stopwatch.GetTimestamp();
        using var index = QueueIndex.Open(Path.Combine(dir, "index"), options);
        fields.Add(("index_open_ms", Lap()));
        fields.Add(("rss_after_index_mb", ProcessStats.RssMiB()));
        fields.Add(("index_log_mb", index.LogBytes / 1048576.0));

        long position = 0;
        if (index.Read(QueueIndex.PositionKey, out var n) is { } meta)
        {
            position = System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(meta.AsSpan(0, n));
            System.Buffers.ArrayPool<byte>.Shared.Return(meta);
        }

        position = Math.Max(position, log.BeginAddress);
        fields.Add(("replay_mb", (log.CommittedUntilAddress - position) / 1048576.0));

        // The replay's reading alone...
        t = Stopwatch.GetTimestamp();
        long records = 0;
        using (var it = log.Scan(position, long.MaxValue))
        {
            while (it.UnsafeGetNext(out _, out _, out _, out _))
            {
                it.UnsafeRelease();
                records++;
            }
        }

        fields.Add(("replay_scan_ms", Lap()));
        fields.Add(("replay_records", records));

        // ...then reading and applying, as the applier does for a message record (entry built, upserted).
        var value = new byte[4096];
        t = Stopwatch.GetTimestamp();
        using (var it = log.Scan(position, long.MaxValue))
        {
            while (it.UnsafeGetNext(out var entry, out var length, out var address, out _))
            {
                var record = new ReadOnlySpan<byte>(entry, length);
                if (RecordFormat.TryReadHeader(record, out var kind, out var flags, out var id) && kind == RecordKind.Message && (flags & RecordFlags.Copy) == 0)
                {
                    var w = new RecordWriter(value);
                    QueueEntryFormat.FromMessageRecord(record, address, held: false, [], ref w);
                    value = w.Buffer;
                    index.Upsert(id, w.Written);
                }

                it.UnsafeRelease();
            }
        }

        fields.Add(("replay_scan_apply_ms", Lap()));
        fields.Add(("rss_after_replay_mb", ProcessStats.RssMiB()));

        // Not part of Open: one pass over the whole index, which every checkpoint makes (Survey) and a graceful stop too.
        long entries = 0;
        t = Stopwatch.GetTimestamp();
        index.ForEach((_, _) => entries++);
        fields.Add(("index_survey_ms", Lap()));
        fields.Add(("index_entries", entries));
        var memory = ProcessStats.MemoryAfterGc();
        Console.WriteLine("CHILD " + ProcessStats.Fields([.. fields]) + " " + memory);
        Console.Out.Flush();
        Environment.Exit(0);
        return 0;
    }

    /// <summary>The log positions the spool is at (private fields, read for the report; omitted when renamed).</summary>
    private static string Positions(Spool.Spool spool)
    {
        var parts = new List<string>();
        var committed = (ProcessStats.Peek(spool, "_current") as LogInstance)?.Log.CommittedUntilAddress;
        var applied = ProcessStats.PeekLong(spool, "_applied");
        var checkpointed = ProcessStats.PeekLong(spool, "_checkpointedAt");
        var replayedFrom = ProcessStats.PeekLong(spool, "ReplayedFrom");
        if (committed is { } c && applied is { } ap)
        {
            parts.Add($"applier_lag_mb={(c - ap) / 1048576.0:0.0}");
        }

        if (committed is { } c2 && checkpointed is { } cp)
        {
            parts.Add($"since_checkpoint_mb={(c2 - cp) / 1048576.0:0.0}");
        }

        if (committed is { } c3 && replayedFrom is { } rf)
        {
            parts.Add($"replayed_mb={(c3 - rf) / 1048576.0:0.0}");
        }

        return string.Join(' ', parts);
    }

    private static Dictionary<string, string> OpenChild(string dir, string[] tuning, bool dropCaches)
    {
        if (dropCaches)
        {
            DropCaches();
        }

        return SelfProcess.RunForResult(["child-open", "--dir", dir, .. tuning], ChildTimeout);
    }

    private static void Summarize(string variant, long messages, List<Dictionary<string, string>> results, Dictionary<string, string>? filled = null)
    {
        string Stat(string key)
        {
            var values = results.Where(r => r.ContainsKey(key)).Select(r => double.Parse(r[key], CultureInfo.InvariantCulture)).Order().ToArray();
            return values.Length == 0
                ? $"{key}=-"
                : $"{key}_min={values[0]:0.#} {key}_median={values[values.Length / 2]:0.#} {key}_max={values[^1]:0.#}";
        }

        var fill = filled is null ? string.Empty : " " + string.Join(' ', filled.Select(p => $"{p.Key}={p.Value}"));
        Console.WriteLine($"RESULT recovery variant={variant} messages={messages} runs={results.Count} {Stat("ready_ms")} {Stat("rss_mb")} {Stat("since_start_ms")} {Stat("gc_heap_mb")} {Stat("checkpoint_ms")} {Stat("ckpt_rss_mb")} {Stat("ckpt_hwm_mb")} {Stat("load")}{fill}");
    }

    private static void Reset(string dir)
    {
        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
        }

        Directory.CreateDirectory(dir);
    }

    /// <summary>Replaces <paramref name="to"/> with a copy of <paramref name="from"/> (cp -a: modes kept).</summary>
    private static void Copy(string from, string to)
    {
        if (Directory.Exists(to))
        {
            Directory.Delete(to, recursive: true);
        }

        using var cp = Process.Start(new ProcessStartInfo("cp", ["-a", from, to]) { UseShellExecute = false }) ?? throw new InvalidOperationException("cannot run cp");
        cp.WaitForExit();
        if (cp.ExitCode != 0)
        {
            throw new IOException($"cp -a {from} {to} failed");
        }
    }

    /// <summary>Cold start: writes back and drops the page cache (root only; the whole machine's cache).</summary>
    private static void DropCaches()
    {
        using (var sync = Process.Start("sync"))
        {
            sync.WaitForExit();
        }

        File.WriteAllText("/proc/sys/vm/drop_caches", "3");
    }

    private static long Megabytes(string dir, string pattern) =>
        Directory.Exists(dir) ? Directory.EnumerateFiles(dir, pattern, SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length) >> 20 : 0;
}
