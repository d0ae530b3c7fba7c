using BenchmarkDotNet.Attributes;
using Tern.Spool;

namespace Tern.Benchmarks;

/// <summary>
/// Durable acceptance: <see cref="Writers"/> concurrent writers each commit one 1 KiB message and
/// wait until it is durable (what the SMTP server does before its 250). One operation is one
/// message, so "ns/op" is the disk-bound cost per durable message with that many writers sharing
/// commits; messages/s = 1e9 / (ns/op). Real files in a temporary directory.
/// </summary>
[MemoryDiagnoser]
public class SpoolCommitBenchmarks
{
    /// <summary>Messages per invocation, split evenly among the writers: one operation is one message.</summary>
    private const int Messages = 1024;
    private readonly byte[] _body = new byte[1024];
    private BenchSpool _bench = null!;
    private Spool.Spool _spool = null!;

    [Params(1, 16, 128)]
    public int Writers { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        new Random(1).NextBytes(_body);
        _bench = new BenchSpool("tern-bench-spool-");
        _spool = _bench.Spool;
    }

    [GlobalCleanup]
    public void Cleanup() => _bench.Dispose();

    [Benchmark(OperationsPerInvoke = Messages)]
    public async Task DurableCommit()
    {
        var tasks = new Task[Writers];
        for (var w = 0; w < Writers; w++)
        {
            tasks[w] = WriteAsync();
        }

        await Task.WhenAll(tasks);
    }

    private async Task WriteAsync()
    {
        for (var i = 0; i < Messages / Writers; i++)
        {
            using var writer = _spool.Begin();
            writer.Envelope.SetSender("sender@example.org"u8);
            writer.Envelope.AddRecipient("recipient@example.net"u8, StoredNotify.Unspecified, default);
            writer.Write(_body);
            if (!await writer.CommitAsync(CancellationToken.None))
            {
                throw new InvalidOperationException("commit failed");
            }
        }
    }
}
