using BenchmarkDotNet.Attributes;
using Tern.Spool;

namespace Tern.Benchmarks;

/// <summary>
/// Reading a queued message back (<see cref="Spool.Spool.ReadAsync"/>: the index lookup, the log
/// record, envelope and body parsed), and its body alone (<see cref="Spool.Spool.ReadBodyAsync"/>, the
/// envelope stepped over): what each delivery attempt does once per message, since the delivery has
/// the envelope from the queue entry. 4,096 committed 1 KiB (or 100 KiB, compressed above the
/// threshold) messages in a real spool. <see cref="ReadJustCommitted"/> reads among the last 500
/// committed, as a delivery right after acceptance does: small records are still in the spool's
/// RecentRecords (the last ~1 MiB of log, copied into one pinned block). <see cref="ReadFromLog"/>
/// reads among the first 1,000, which only the log has: FASTER's FasterLog.ReadAsync reads the record
/// from the device (the page cache here) into a buffer rented from the shared pool, most of the time.
/// </summary>
[MemoryDiagnoser]
public class SpoolReadBenchmarks
{
    private const int Messages = 4096;
    private const int Sample = 1000;
    private const int RecentSample = 500;
    private readonly List<MessageId> _ids = [];
    private MessageId[] _recent = [];
    private MessageId[] _old = [];
    private BenchSpool _bench = null!;
    private Spool.Spool _spool = null!;
    private int _next;

    [Params(1024, 102400)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var body = new byte[Size];
        var random = new Random(1);
        for (var i = 0; i < body.Length; i++)
        {
            // Text-like and compressible, as mail is.
            body[i] = (byte)(i % 78 == 77 ? '\n' : 'a' + random.Next(26));
        }

        _bench = new BenchSpool("tern-bench-spool-read-");
        _spool = _bench.Spool;
        for (var i = 0; i < Messages; i++)
        {
            using var writer = _spool.Begin();
            writer.Envelope.SetSender("sender@example.org"u8);
            writer.Envelope.AddRecipient("recipient@example.net"u8, StoredNotify.Unspecified, default);
            writer.Write(body);
            if (!writer.CommitAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult())
            {
                throw new InvalidOperationException("commit failed");
            }

            _ids.Add(writer.Id);
        }

        _spool.CaughtUpAsync().AsTask().GetAwaiter().GetResult();
        _recent = [.. _ids.TakeLast(RecentSample)];
        _old = [.. _ids.Take(Sample)];
        random.Shuffle(_recent);
        random.Shuffle(_old);

        // The benchmark must time a read that finds the message, never the "not found" path.
        foreach (var id in new[] { _recent[0], _old[0] })
        {
            var message = _spool.ReadAsync(id).GetAwaiter().GetResult() ?? throw new InvalidOperationException("a committed message was not found");
            if (message.Body.Length != Size)
            {
                throw new InvalidOperationException($"read back {message.Body.Length} bytes of body, wrote {Size}");
            }
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _bench.Dispose();

    [Benchmark]
    public Task<int> ReadJustCommitted() => ReadAsync(_recent);

    [Benchmark]
    public Task<int> ReadFromLog() => ReadAsync(_old);

    [Benchmark]
    public Task<int> BodyJustCommitted() => ReadBodyAsync(_recent);

    [Benchmark]
    public Task<int> BodyFromLog() => ReadBodyAsync(_old);

    private async Task<int> ReadBodyAsync(MessageId[] ids)
    {
        var id = ids[_next];
        _next = (_next + 1) % ids.Length;
        var body = await _spool.ReadBodyAsync(id);
        return body!.Length;
    }

    private async Task<int> ReadAsync(MessageId[] ids)
    {
        var id = ids[_next];
        _next = (_next + 1) % ids.Length;
        var message = await _spool.ReadAsync(id);
        return message!.Body.Length;
    }
}
