using System.Globalization;
using System.Reflection;

namespace Tern.Benchmarks.SpoolLoad;

/// <summary>Memory figures of this process: /proc/self/status and the GC's view, after a full collection.</summary>
internal static class ProcessStats
{
    private const double MiB = 1024 * 1024;

    /// <summary>Collects (blocking, compacting, twice around the finalizers), then reads the figures as key=value fields in MiB.</summary>
    public static string MemoryAfterGc(string prefix = "")
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        var status = ReadStatus();
        var gc = GC.GetGCMemoryInfo(GCKind.Any);
        // GenerationInfo: 0, 1, 2, large object heap, pinned object heap (FASTER's page buffers are pinned arrays).
        var generations = gc.GenerationInfo.ToArray().Select(g => g.SizeAfterBytes / MiB).ToArray();
        double Gen(int i) => i < generations.Length ? generations[i] : 0;
        return Fields(prefix,
            ("rss_mb", status.GetValueOrDefault("VmRSS") / MiB),
            ("hwm_mb", status.GetValueOrDefault("VmHWM") / MiB),
            ("rss_anon_mb", status.GetValueOrDefault("RssAnon") / MiB),
            ("rss_file_mb", status.GetValueOrDefault("RssFile") / MiB),
            ("gc_heap_mb", gc.HeapSizeBytes / MiB),
            ("gc_committed_mb", gc.TotalCommittedBytes / MiB),
            ("gc_soh_mb", Gen(0) + Gen(1) + Gen(2)),
            ("gc_loh_mb", Gen(3)),
            ("gc_poh_mb", Gen(4)));
    }

    /// <summary>VmRSS in MiB, without collecting first.</summary>
    public static double RssMiB() => ReadStatus().GetValueOrDefault("VmRSS") / MiB;

    /// <summary>The kB fields of /proc/self/status, in bytes.</summary>
    public static Dictionary<string, long> ReadStatus()
    {
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0 || !line.EndsWith(" kB", StringComparison.Ordinal))
            {
                continue;
            }

            if (long.TryParse(line.AsSpan(colon + 1, line.Length - colon - 4).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var kb))
            {
                result[line[..colon]] = kb * 1024;
            }
        }

        return result;
    }

    public static string Fields(params (string Name, double Value)[] fields) => Fields(string.Empty, fields);

    public static string Fields(string prefix, params (string Name, double Value)[] fields) =>
        string.Join(' ', fields.Select(f => prefix + f.Name + "=" + f.Value.ToString("0.###", CultureInfo.InvariantCulture)));

    /// <summary>
    /// A private field or property of a library object, for diagnostics only (positions the spool
    /// does not expose). Null when the member is gone: the loader keeps working, the figure is omitted.
    /// </summary>
    public static object? Peek(object target, string member)
    {
        const BindingFlags Flags = BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public;
        var type = target.GetType();
        return type.GetField(member, Flags)?.GetValue(target) ?? type.GetProperty(member, Flags)?.GetValue(target);
    }

    public static long? PeekLong(object target, string member) => Peek(target, member) is long v ? v : null;
}
