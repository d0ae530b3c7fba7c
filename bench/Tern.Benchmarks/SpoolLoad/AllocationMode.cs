using System.Reflection;

namespace Tern.Benchmarks.SpoolLoad;

/// <summary>
/// Bytes allocated per durable append by the whole process (writers, commit loop, applier, FASTER's
/// threads): GC.GetTotalAllocatedBytes(precise) around a steady-state run. BenchmarkDotNet's
/// figure counts only the benchmark thread's allocations. Steady state means after a warm-up with
/// 128 writers long enough for FASTER's in-memory circular buffers (the log's 64 MiB, the index's
/// 64 MiB, i.e. ~365k entries) to have wrapped once: until then every new 4 MiB page is a fresh
/// pinned array, ~1.5 KB per append that a running relay does not pay. The measured run has no
/// checkpoint (reported); one forced checkpoint is measured apart. With --types, the GC's
/// allocation sampling says which types the bytes are (see AllocationSampler).
/// </summary>
internal static class AllocationMode
{
    public static int Run(LoadArguments a)
    {
        var writersList = a.Ints("writers", [1, 16, 128]);
        var messages = a.Long("messages", 40_000);
        var warmup = a.Long("warmup-messages", 400_000);
        SpoolLoadCommand.PrintEnvironment("alloc");
        Console.WriteLine($"# {messages} messages per run after a warm-up of {warmup} with 128 writers, 1 KiB, 1 recipient");
        foreach (var writers in writersList)
        {
            var dir = SpoolLoadCommand.NewDirectory(a, "alloc");
            using var loggers = SpoolLoadCommand.Loggers();
            var metrics = new ProbeMetrics();
            var spool = Spool.Spool.Open(SpoolLoadCommand.Options(dir, a), loggers, metrics);
            try
            {
                Load.CountAsync(spool, 128, warmup).GetAwaiter().GetResult();
                spool.CaughtUpAsync().AsTask().GetAwaiter().GetResult();
                GC.Collect();
                GC.WaitForPendingFinalizers();
                using var sampler = a.Flag("types") ? new AllocationSampler() : null;
                var checkpoints = metrics.Get("tern_spool_checkpoints_total");
                var checkpoints0 = checkpoints.Count;
                var gcs = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
                var machine = new MachineSampler();
                var before = GC.GetTotalAllocatedBytes(precise: true);
                sampler?.Start();
                var elapsed = Load.CountAsync(spool, writers, messages).GetAwaiter().GetResult();
                spool.CaughtUpAsync().AsTask().GetAwaiter().GetResult();
                sampler?.Stop();
                var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
                var line =
                    $"RESULT alloc writers={writers} messages={messages} bytes_per_append={allocated / (double)messages:0} " +
                    $"allocated_mb={allocated / 1048576.0:0.0} rate={messages / elapsed.TotalSeconds:0} checkpoints={checkpoints.Count - checkpoints0} " +
                    $"gc={GC.CollectionCount(0) - gcs.Item1}/{GC.CollectionCount(1) - gcs.Item2}/{GC.CollectionCount(2) - gcs.Item3} {machine.Fields()}";

                // One checkpoint (index fold-over and the upkeep's pass over the whole index), with this many queued.
                if (spool.GetType().GetMethod("CheckpointNowAsync", BindingFlags.Instance | BindingFlags.NonPublic) is { } checkpointNow)
                {
                    before = GC.GetTotalAllocatedBytes(precise: true);
                    ((Task)checkpointNow.Invoke(spool, null)!).GetAwaiter().GetResult();
                    line += $" checkpoint_alloc_mb={(GC.GetTotalAllocatedBytes(precise: true) - before) / 1048576.0:0.0} queued={spool.Count}";
                }

                Console.WriteLine(line + $" load={SpoolLoadCommand.LoadAverage()}");
                if (sampler is not null)
                {
                    // The sampling itself allocates (event payloads): bytes_per_append is exact only without --types.
                    Console.WriteLine($"# writers={writers}: allocated types (sampled every ~100 KB by the GC's AllocationTick event):");
                    foreach (var type in sampler.Top(15))
                    {
                        Console.WriteLine("#   " + type);
                    }
                }
            }
            finally
            {
                spool.DisposeAsync().AsTask().GetAwaiter().GetResult();
                Directory.Delete(dir, recursive: true);
            }
        }

        return 0;
    }
}
