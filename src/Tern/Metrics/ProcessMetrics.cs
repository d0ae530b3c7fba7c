using System.Globalization;
using Tern.Observability.Logging;
using Tern.Observability.Metrics;

namespace Tern.Metrics;

/// <summary>
/// Metrics the host owns: build info, the panic counter of every component, and the standard process
/// metrics (the names Prometheus's client libraries use: <c>process_*</c>), read at scrape time from
/// the runtime and /proc.
/// </summary>
public sealed class ProcessMetrics
{
    private readonly ICounter _cpu;
    private readonly ICounter _allocated;
    private readonly ICounter _workItems;
    private readonly IGauge _resident;
    private readonly IGauge _virtual;
    private readonly IGauge _openFds;
    private readonly IGauge _maxFds;
    private readonly IGauge _heap;
    private readonly IGauge _threads;
    private readonly ICounter[] _collections;
    private readonly long[] _collected;
    private readonly Lock _lock = new();
    private double _cpuSeconds;
    private long _allocatedBytes;
    private long _workItemsDone;

    /// <param name="version">The informational version: "0.1.0+3f2a1b4" gives version 0.1.0 and revision 3f2a1b4.</param>
    public ProcessMetrics(IMetrics metrics, string version)
    {
        var plus = version.IndexOf('+', StringComparison.Ordinal);
        var (release, revision) = plus < 0 ? (version, "unknown") : (version[..plus], version[(plus + 1)..]);
        metrics.Gauge("tern_build_info", "Tern build: version and source revision labels, value 1.", "version", "revision").Labels(release, revision).Set(1);
        Panics = Tern.Observability.Metrics.Panics.Family(metrics);

        // Every label value exists from the start at 0, so that an increase() alert sees the first panic.
        foreach (var component in LogComponents.All)
        {
            Panics.Labels(component);
        }

        _cpu = metrics.Counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.");
        _allocated = metrics.Counter("dotnet_gc_allocated_bytes_total", "Bytes allocated on the managed heap since the start (allocation per message: its rate over the message rate).");
        _workItems = metrics.Counter("dotnet_threadpool_work_items_total", "Work items the thread pool has completed (thread hand-offs per message: its rate over the message rate).");
        _resident = metrics.Gauge("process_resident_memory_bytes", "Resident memory size in bytes.");
        _virtual = metrics.Gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.");
        _openFds = metrics.Gauge("process_open_fds", "Number of open file descriptors.");
        _maxFds = metrics.Gauge("process_max_fds", "Maximum number of open file descriptors.");
        _heap = metrics.Gauge("dotnet_gc_heap_bytes", "Bytes the garbage collector believes are allocated.");
        _threads = metrics.Gauge("dotnet_threadpool_threads", "Thread-pool threads.");
        var collections = metrics.Counter("dotnet_gc_collections_total", "Garbage collections, by generation.", "generation");
        _collections = [.. Enumerable.Range(0, GC.MaxGeneration + 1).Select(g => collections.Labels(g.ToString(CultureInfo.InvariantCulture)))];
        _collected = new long[_collections.Length];
        using (var self = System.Diagnostics.Process.GetCurrentProcess())
        {
            metrics.Gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.")
                .Set(new DateTimeOffset(self.StartTime.ToUniversalTime()).ToUnixTimeMilliseconds() / 1000.0);
        }

        metrics.OnCollect(Refresh);
    }

    public ICounterFamily Panics { get; }

    private void Refresh()
    {
        lock (_lock)
        {
            var cpu = Environment.CpuUsage.TotalTime.TotalSeconds;
            if (cpu > _cpuSeconds)
            {
                _cpu.Inc(cpu - _cpuSeconds);
                _cpuSeconds = cpu;
            }

            Advance(_allocated, ref _allocatedBytes, GC.GetTotalAllocatedBytes(precise: false));
            Advance(_workItems, ref _workItemsDone, ThreadPool.CompletedWorkItemCount);
            for (var g = 0; g < _collections.Length; g++)
            {
                Advance(_collections[g], ref _collected[g], GC.CollectionCount(g));
            }
        }

        _resident.Set(Environment.WorkingSet);
        _heap.Set(GC.GetTotalMemory(forceFullCollection: false));
        _threads.Set(ThreadPool.ThreadCount);
        if (VirtualBytes() is { } vm)
        {
            _virtual.Set(vm);
        }

        if (OpenFds() is { } open)
        {
            _openFds.Set(open);
        }

        if (MaxFds() is { } max)
        {
            _maxFds.Set(max);
        }
    }

    /// <summary>A counter follows a runtime total read at scrape time: it adds what the total grew by since the last scrape.</summary>
    private static void Advance(ICounter counter, ref long last, long now)
    {
        if (now > last)
        {
            counter.Inc(now - last);
            last = now;
        }
    }

    /// <summary>The first field of /proc/self/statm (pages).</summary>
    private static double? VirtualBytes()
    {
        try
        {
            var statm = File.ReadAllText("/proc/self/statm");
            var end = statm.IndexOf(' ', StringComparison.Ordinal);
            return long.TryParse(end < 0 ? statm : statm[..end], NumberStyles.None, CultureInfo.InvariantCulture, out var pages) ? (double)pages * Environment.SystemPageSize : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static int? OpenFds()
    {
        try
        {
            return Directory.EnumerateFileSystemEntries("/proc/self/fd").Count();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The soft limit on the "Max open files" line of /proc/self/limits.</summary>
    private static double? MaxFds()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/limits"))
            {
                if (line.StartsWith("Max open files", StringComparison.Ordinal))
                {
                    var fields = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return fields.Length > 0 && double.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var soft) ? soft : null;
                }
            }

            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
