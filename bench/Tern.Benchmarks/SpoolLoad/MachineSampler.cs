using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Tern.Benchmarks.SpoolLoad;

/// <summary>
/// What the rest of the machine did during a run: CPU busy time of all processes versus this one
/// (/proc/stat, /proc/self/stat), VM steal time, and disk writes of the whole machine versus this
/// process (/proc/diskstats, /proc/self/io). On a shared 2-core machine another build or test run
/// moves latency tails by 10x; these fields say whether a figure was measured on a quiet machine.
/// </summary>
internal sealed partial class MachineSampler
{
    private const double UserHz = 100;
    private readonly long _start = Stopwatch.GetTimestamp();
    private readonly Snapshot _before = Snapshot.Take();

    /// <summary>key=value fields for the time since construction.</summary>
    public string Fields()
    {
        var after = Snapshot.Take();
        var seconds = Math.Max(1e-3, Stopwatch.GetElapsedTime(_start).TotalSeconds);
        var machineBusy = (after.Busy - _before.Busy) / UserHz / seconds;
        var own = (after.OwnCpu - _before.OwnCpu).TotalSeconds / seconds;
        var total = Math.Max(1, after.Total - _before.Total);
        return ProcessStats.Fields(
            ("machine_cpu_cores", machineBusy),
            ("other_cpu_cores", Math.Max(0, machineBusy - own)),
            ("steal_pct", (after.Steal - _before.Steal) * 100.0 / total),
            ("disk_writes_per_s", (after.DiskWrites - _before.DiskWrites) / seconds),
            ("disk_write_mb_s", (after.DiskSectors - _before.DiskSectors) * 512 / 1048576.0 / seconds),
            ("own_write_mb_s", (after.OwnWriteBytes - _before.OwnWriteBytes) / 1048576.0 / seconds));
    }

    [GeneratedRegex(@"^(vd|sd|xvd)[a-z]+$|^nvme\d+n\d+$")]
    private static partial Regex Disk();

    private readonly record struct Snapshot(long Busy, long Steal, long Total, TimeSpan OwnCpu, long DiskWrites, long DiskSectors, long OwnWriteBytes)
    {
        public static Snapshot Take()
        {
            // cpu  user nice system idle iowait irq softirq steal guest guest_nice (USER_HZ ticks)
            var cpu = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
            var busy = cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6];
            long writes = 0, sectors = 0;
            foreach (var line in File.ReadLines("/proc/diskstats"))
            {
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f.Length > 9 && Disk().IsMatch(f[2]))
                {
                    writes += long.Parse(f[7], CultureInfo.InvariantCulture);
                    sectors += long.Parse(f[9], CultureInfo.InvariantCulture);
                }
            }

            var ownWrites = File.ReadLines("/proc/self/io").FirstOrDefault(l => l.StartsWith("write_bytes:", StringComparison.Ordinal)) is { } w
                ? long.Parse(w["write_bytes:".Length..].Trim(), CultureInfo.InvariantCulture)
                : 0;
            return new Snapshot(busy, cpu.Length > 7 ? cpu[7] : 0, cpu.Sum(), Process.GetCurrentProcess().TotalProcessorTime, writes, sectors, ownWrites);
        }
    }
}
