using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Threading.Channels;

namespace Tern.Benchmarks.SpoolLoad;

/// <summary>
/// Open-loop arrivals: a dedicated thread publishes the intended start time of operation i,
/// t0 + i/rate, as soon as that time has come, whether or not a writer is free to take it. A
/// writer measures from the intended time, so time spent waiting for a free writer (the queueing
/// that a closed loop hides: coordinated omission) counts as latency. The thread sleeps with
/// nanosleep(2) (Task.Delay and Thread.Sleep only resolve milliseconds), at least
/// <see cref="MinimumSleep"/> at a time: waking for every arrival (every 35 µs at 29k/s) cost a
/// quarter of a core on 2 cores, taken from the spool. An arrival is thus published up to
/// ~0.25 ms late (the tick plus the kernel's timer slack); that lateness counts against the spool.
/// </summary>
internal static partial class Pacer
{
    private static readonly TimeSpan MinimumSleep = TimeSpan.FromMicroseconds(200);

    /// <summary>Starts publishing <paramref name="rate"/> arrivals per second for <paramref name="duration"/>; the channel completes after the last.</summary>
    public static ChannelReader<long> Start(double rate, TimeSpan duration, long start)
    {
        var channel = Channel.CreateUnbounded<long>(new UnboundedChannelOptions { SingleWriter = true });
        var interval = Stopwatch.Frequency / rate;
        var end = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var tick = (long)(MinimumSleep.TotalSeconds * Stopwatch.Frequency);
        var thread = new Thread(() =>
        {
            long i = 0;
            while (true)
            {
                // Everything that is due goes out at once (several per wake-up at high rates).
                var now = Stopwatch.GetTimestamp();
                var intended = start + (long)(i * interval);
                while (intended <= now && intended < end)
                {
                    channel.Writer.TryWrite(intended);
                    intended = start + (long)(++i * interval);
                }

                if (intended >= end)
                {
                    break;
                }

                Sleep(Math.Max(intended - now, tick));
            }

            channel.Writer.Complete();
        })
        {
            IsBackground = true,
            Name = "spool-load pacer",
            Priority = ThreadPriority.AboveNormal,
        };
        thread.Start();
        return channel.Reader;
    }

    private static void Sleep(long ticks)
    {
        var nanoseconds = (long)(ticks * 1e9 / Stopwatch.Frequency);
        var request = new Timespec { Seconds = nanoseconds / 1_000_000_000, Nanoseconds = nanoseconds % 1_000_000_000 };
        _ = Nanosleep(ref request, IntPtr.Zero);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "nanosleep")]
    private static partial int Nanosleep(ref Timespec request, IntPtr remaining);
}
