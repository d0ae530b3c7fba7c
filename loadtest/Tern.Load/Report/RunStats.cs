using System.Diagnostics;
using HdrHistogram;

namespace Tern.Load.Report;

/// <summary>Why one message (or request) did not get its 2xx.</summary>
public enum FailureKind : byte
{
    /// <summary>The server answered with a 4xx or 5xx reply (or HTTP status); the code is recorded too.</summary>
    Reply,

    /// <summary>The TCP connection could not be made or was refused.</summary>
    Connect,

    /// <summary>The peer closed the connection or it broke in the middle of a transaction.</summary>
    Disconnect,

    /// <summary>No reply within the timeout.</summary>
    Timeout,

    /// <summary>The TLS handshake failed.</summary>
    Tls,

    /// <summary>A reply that could not be parsed (out of step with the protocol).</summary>
    Protocol,
}

/// <summary>
/// What a load run measures, shared by every worker of the run: outcome counters and latency in
/// microseconds in HDR histograms (wait-free recording through <see cref="Recorder"/>, no allocation
/// per message). The reporter takes an interval sample about once a second for the live line and the
/// throughput-over-time chart; the whole-run histogram is the sum of the intervals.
/// </summary>
public sealed class RunStats
{
    /// <summary>Highest latency the histograms record (10 minutes); longer values are clamped.</summary>
    public const long HighestMicros = 600_000_000;

    private readonly Recorder _recorder = new(1, HighestMicros, 3, static (id, low, high, digits) => new LongHistogram(id, low, high, digits));
    private readonly long[] _byCode = new long[600];
    private readonly long[] _byKind = new long[Enum.GetValues<FailureKind>().Length];
    private long _ok;
    private long _failed;
    private long _connections;
    private long _bytes;
    private long _started = Stopwatch.GetTimestamp();
    private HistogramBase? _recycle;

    /// <summary>Everything recorded so far (updated by <see cref="TakeInterval"/>).</summary>
    public LongHistogram Total { get; } = new(1, HighestMicros, 3);

    /// <summary>Successful messages (a 2xx final reply, or HTTP 2xx).</summary>
    public long Ok => Interlocked.Read(ref _ok);

    /// <summary>Messages that failed, all kinds.</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Connections opened (SMTP) or requests sent on new connections (HTTP).</summary>
    public long Connections => Interlocked.Read(ref _connections);

    /// <summary>Message bytes sent (or received, for the sink).</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    /// <summary>Time since <see cref="Start"/> (or since construction).</summary>
    public TimeSpan Elapsed => Stopwatch.GetElapsedTime(Interlocked.Read(ref _started));

    /// <summary>Marks the start of the measured run (after connections are set up, if any).</summary>
    public void Start() => Interlocked.Exchange(ref _started, Stopwatch.GetTimestamp());

    /// <summary>One message got its 2xx, <paramref name="latencyMicros"/> after it was sent (DATA end to reply).</summary>
    public void RecordOk(long latencyMicros, long bytes = 0)
    {
        _recorder.RecordValue(Math.Clamp(latencyMicros, 1, HighestMicros));
        Interlocked.Increment(ref _ok);
        if (bytes != 0)
        {
            Interlocked.Add(ref _bytes, bytes);
        }
    }

    /// <summary>One message failed; <paramref name="code"/> is the SMTP reply code or HTTP status when there was one, else 0.</summary>
    public void RecordFailed(FailureKind kind, int code = 0)
    {
        Interlocked.Increment(ref _failed);
        Interlocked.Increment(ref _byKind[(int)kind]);
        if (code is > 0 and < 600)
        {
            Interlocked.Increment(ref _byCode[code]);
        }
    }

    /// <summary>A connection was opened.</summary>
    public void ConnectionOpened() => Interlocked.Increment(ref _connections);

    /// <summary>Failures of one kind so far.</summary>
    public long FailuresOf(FailureKind kind) => Interlocked.Read(ref _byKind[(int)kind]);

    /// <summary>Failures by reply code (SMTP code or HTTP status), codes with a count only.</summary>
    public IReadOnlyList<(int Code, long Count)> FailuresByCode()
    {
        var list = new List<(int, long)>();
        for (var code = 0; code < _byCode.Length; code++)
        {
            var n = Interlocked.Read(ref _byCode[code]);
            if (n != 0)
            {
                list.Add((code, n));
            }
        }

        return list;
    }

    /// <summary>
    /// The latencies recorded since the last call, added to <see cref="Total"/> too. Call from one
    /// thread (the reporter). The returned histogram is valid until the next call.
    /// </summary>
    public HistogramBase TakeInterval()
    {
        var interval = _recorder.GetIntervalHistogram(_recycle);
        _recycle = interval;
        Total.Add(interval);
        return interval;
    }
}
