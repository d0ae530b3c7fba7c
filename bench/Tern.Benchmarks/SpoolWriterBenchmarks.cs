using BenchmarkDotNet.Attributes;
using Tern.Spool;

namespace Tern.Benchmarks;

/// <summary>
/// A message's body streaming into the spool (<see cref="SpoolWriter.Write"/>), as the SMTP server
/// feeds it during DATA: 4 KiB pieces into a pooled writer, up to one chunk kept in memory. A 100 KiB
/// body outgrows the writer's own 16 KiB buffer; the larger one comes from the shared array pool and
/// goes back when the writer does, so nothing is allocated per message (it was 240 KiB, a 128 KiB
/// array of it on the large object heap). No commit: the log's append is measured by
/// <see cref="SpoolCommitBenchmarks"/>.
/// </summary>
[MemoryDiagnoser]
public class SpoolWriterBenchmarks
{
    private const int Piece = 4096;
    private byte[] _body = [];
    private BenchSpool _bench = null!;
    private Spool.Spool _spool = null!;

    [Params(1024, 102400)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _body = new byte[Size];
        new Random(1).NextBytes(_body);
        _bench = new BenchSpool("tern-bench-spool-writer-");
        _spool = _bench.Spool;
    }

    [GlobalCleanup]
    public void Cleanup() => _bench.Dispose();

    [Benchmark]
    public ulong WriteBody()
    {
        using var writer = _spool.Begin();
        writer.Envelope.SetSender("sender@example.org"u8);
        writer.Envelope.AddRecipient("recipient@example.net"u8, StoredNotify.Unspecified, default);
        for (var at = 0; at < _body.Length; at += Piece)
        {
            writer.Write(_body.AsSpan(at, Math.Min(Piece, _body.Length - at)));
        }

        return writer.Id.Low;
    }
}
