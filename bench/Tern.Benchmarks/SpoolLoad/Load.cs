using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;
using HdrHistogram;
using Tern.Spool;

namespace Tern.Benchmarks.SpoolLoad;

/// <summary>
/// The writers: each appends durable 1 KiB messages (one sender, one recipient), like the SMTP
/// session before its 250: Begin, envelope, body, CommitAsync, dispose. One async loop per writer,
/// so the loader itself allocates nothing per message: the message is written inline in the loop (an
/// async helper per message would box its state machine on every asynchronous commit).
/// </summary>
internal static class Load
{
    public const int BodySize = 1024;

    private static readonly byte[] Body = CreateBody();

    /// <summary>Closed loop until <paramref name="total"/> messages are committed (shared among the writers).</summary>
    public static async Task<TimeSpan> CountAsync(Spool.Spool spool, int writers, long total, LatencyRecording? recording = null)
    {
        var next = new Counter();
        var started = Stopwatch.GetTimestamp();
        var tasks = new Task[writers];
        for (var w = 0; w < writers; w++)
        {
            tasks[w] = Task.Run(() => CountWriterAsync(spool, next, total, recording));
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
        return Stopwatch.GetElapsedTime(started);
    }

    /// <summary>Closed loop for <paramref name="duration"/>: every writer starts its next message as soon as the last is durable.</summary>
    public static async Task<long> TimedAsync(Spool.Spool spool, int writers, TimeSpan duration, LatencyRecording recording)
    {
        var end = recording.Start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var tasks = new Task<long>[writers];
        for (var w = 0; w < writers; w++)
        {
            tasks[w] = Task.Run(() => TimedWriterAsync(spool, end, recording));
        }

        return (await Task.WhenAll(tasks).ConfigureAwait(false)).Sum();
    }

    /// <summary>Open loop: arrivals at <paramref name="rate"/>/s for <paramref name="duration"/>, served by up to <paramref name="writers"/> at once.</summary>
    public static async Task<long> PacedAsync(Spool.Spool spool, int writers, double rate, TimeSpan duration, LatencyRecording recording)
    {
        var arrivals = Pacer.Start(rate, duration, recording.Start);
        var tasks = new Task<long>[writers];
        for (var w = 0; w < writers; w++)
        {
            tasks[w] = Task.Run(() => PacedWriterAsync(spool, arrivals, recording));
        }

        return (await Task.WhenAll(tasks).ConfigureAwait(false)).Sum();
    }

    private static async Task CountWriterAsync(Spool.Spool spool, Counter next, long total, LatencyRecording? recording)
    {
        while (Interlocked.Increment(ref next.Value) <= total)
        {
            var start = Stopwatch.GetTimestamp();
            using (var writer = Prepare(spool.Begin()))
            {
                if (!await writer.CommitAsync(CancellationToken.None).ConfigureAwait(false))
                {
                    throw CommitFailed();
                }
            }

            recording?.Record(start, start, Stopwatch.GetTimestamp());
        }
    }

    private static async Task<long> TimedWriterAsync(Spool.Spool spool, long end, LatencyRecording recording)
    {
        long n = 0;
        long start;
        while ((start = Stopwatch.GetTimestamp()) < end)
        {
            using (var writer = Prepare(spool.Begin()))
            {
                if (!await writer.CommitAsync(CancellationToken.None).ConfigureAwait(false))
                {
                    throw CommitFailed();
                }
            }

            recording.Record(start, start, Stopwatch.GetTimestamp());
            n++;
        }

        return n;
    }

    private static async Task<long> PacedWriterAsync(Spool.Spool spool, ChannelReader<long> arrivals, LatencyRecording recording)
    {
        long n = 0;
        while (await arrivals.WaitToReadAsync().ConfigureAwait(false))
        {
            while (arrivals.TryRead(out var intended))
            {
                var start = Stopwatch.GetTimestamp();
                using (var writer = Prepare(spool.Begin()))
            {
                if (!await writer.CommitAsync(CancellationToken.None).ConfigureAwait(false))
                {
                    throw CommitFailed();
                }
            }

                recording.Record(intended, start, Stopwatch.GetTimestamp());
                n++;
            }
        }

        return n;
    }

    /// <summary>Fills in one message: the envelope and the 1 KiB body.</summary>
    private static SpoolWriter Prepare(SpoolWriter writer)
    {
        writer.Envelope.SetSender("sender@example.org"u8);
        writer.Envelope.AddRecipient("recipient@example.net"u8, StoredNotify.Unspecified, default);
        writer.Write(Body);
        return writer;
    }

    private static InvalidOperationException CommitFailed() => new("a commit failed (see the spool's log)");

    private static byte[] CreateBody()
    {
        var body = new byte[BodySize];
        new Random(1).NextBytes(body);
        return body;
    }

    /// <summary>A shared message counter (Interlocked needs a field).</summary>
    private sealed class Counter
    {
        public long Value;
    }
}

/// <summary>
/// Latencies of one run, in microseconds: response time from the intended start (open loop: the
/// arrival; closed loop: the actual start) to durability, service time from the actual start, and
/// response time per second of the run (to line up slow seconds with checkpoints).
/// </summary>
internal sealed class LatencyRecording
{
    private const long Highest = 120_000_000; // 2 minutes
    private readonly LongConcurrentHistogram[] _perSecond;

    public LatencyRecording(int seconds)
    {
        Start = Stopwatch.GetTimestamp();
        _perSecond = new LongConcurrentHistogram[seconds + 120];
        for (var i = 0; i < _perSecond.Length; i++)
        {
            _perSecond[i] = new LongConcurrentHistogram(1, Highest, 2);
        }
    }

    /// <summary>Stopwatch timestamp of the run's start (t0 of the arrivals).</summary>
    public long Start { get; }

    public LongConcurrentHistogram Response { get; } = new(1, Highest, 3);

    public LongConcurrentHistogram Service { get; } = new(1, Highest, 3);

    public long LastEnd => Interlocked.Read(ref _lastEnd);

    /// <summary>Messages made durable so far.</summary>
    public long Completed => Interlocked.Read(ref _completed);

    private long _lastEnd;
    private long _completed;

    public void Record(long intended, long start, long end)
    {
        Interlocked.Increment(ref _completed);
        var response = Micros(end - intended);
        Response.RecordValue(response);
        Service.RecordValue(Micros(end - start));
        var second = (int)((end - Start) / Stopwatch.Frequency);
        _perSecond[Math.Clamp(second, 0, _perSecond.Length - 1)].RecordValue(response);
        long last;
        while ((last = Interlocked.Read(ref _lastEnd)) < end && Interlocked.CompareExchange(ref _lastEnd, end, last) != last)
        {
        }
    }

    public IEnumerable<(int Second, HistogramBase Histogram)> Seconds() =>
        _perSecond.Select((h, i) => (i, (HistogramBase)h)).Where(s => s.Item2.TotalCount > 0);

    /// <summary>p50/p90/p99/p99.9/max in milliseconds, as key=value fields.</summary>
    public static string Percentiles(string prefix, HistogramBase h) =>
        string.Join(' ',
            new (string Name, double Value)[]
            {
                ("p50", h.GetValueAtPercentile(50)),
                ("p90", h.GetValueAtPercentile(90)),
                ("p99", h.GetValueAtPercentile(99)),
                ("p99.9", h.GetValueAtPercentile(99.9)),
                ("max", h.GetMaxValue()),
            }.Select(p => $"{prefix}{p.Name}_ms={(p.Value / 1000.0).ToString("0.000", CultureInfo.InvariantCulture)}"));

    private static long Micros(long ticks) => Math.Clamp(ticks * 1_000_000 / Stopwatch.Frequency, 1, Highest);
}
