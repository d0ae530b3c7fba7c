using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Threading.Channels;

namespace Tern.Benchmarks.SpoolLoad;

/// <summary>
/// Open-loop arrivals: a dedicated thread publishes the intended start time of operation i,
/// t0 + i/rate, as soon as that time has come, whether or not a writer is free to take it. A
/// writer measures from the intended time, so time spent waiting for a free writer (the queueing
/// that a closed loop hides: coordinated omission) counts as latency. The thread sleeps with
/// nanosleep(2) between arrivals (Task.Delay and Thread.Sleep only resolve milliseconds), so an
/// arrival is published at most ~0.1 ms late; that lateness counts against the spool as well.
/// </summary>
internal static partial class Pacer
{
    /// <summary>Starts publishing <paramref name="rate"/> arrivals per second for <paramref name="duration"/>; the channel completes after the last.</summary>
    public static ChannelReader<long> Start(double rate, TimeSpan duration, long start)
    {
        var channel = Channel.CreateUnbounded<long>(new UnboundedChannelOptions { SingleWriter = true });
        var interval = Stopwatch.Frequency / rate;
        var end = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var thread = new Thread(() =>
        {
            long i = 0;
            while (true)
            {
                var intended = start + (long)(i * interval);
                if (intended >= end)
                {
                    break;
                }

                var now = Stopwatch.GetTimestamp();
                if (intended > now)
                {
                    Sleep(intended - now);
                    continue;
                }

                // Everything that is due goes out at once (several per wake-up at high rates).
                channel.Writer.TryWrite(intended);
                i++;
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
