using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Tern.Metrics;
using Tern.Suppression;

namespace Tern.Tests.Metrics;

/// <summary>The queue gauges the host computes at scrape time from the components' counts, through prometheus-net.</summary>
public sealed class QueueMetricsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tern-queue-metrics-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public async Task Queue_states_oldest_age_and_suppression_size_without_a_scheduler()
    {
        var clock = new ManualClock();
        var metrics = new PrometheusMetrics();
        await using var spool = Spool.Spool.Open(
            new Spool.SpoolOptions { Directory = Path.Combine(_dir, "spool"), PageSizeBits = 16, MemorySizeBits = 20, SegmentSizeBits = 20, IndexBuckets = 1 << 12, IndexPageSizeBits = 15, IndexMemorySizeBits = 20, IndexSegmentSizeBits = 22 },
            NullLoggerFactory.Instance,
            metrics,
            clock);
        using var suppression = SuppressionList.Open(Path.Combine(_dir, "suppression.tsv"), clock);
        _ = new QueueMetrics(metrics, spool, scheduler: null, suppression, clock);

        var empty = await Scrape(metrics);
        Assert.Contains("tern_queue_oldest_message_age_seconds 0", empty, StringComparison.Ordinal);
        Assert.Contains("tern_queue_messages{state=\"waiting\"} 0", empty, StringComparison.Ordinal);
        Assert.DoesNotContain("tern_queue_due_messages", empty, StringComparison.Ordinal);

        var first = await StoreAsync(spool);
        clock.Advance(TimeSpan.FromSeconds(90));
        await StoreAsync(spool);
        await spool.Queue.HoldAsync(new Spool.Queue.QueueFilter { Ids = [first] });
        await spool.CaughtUpAsync();
        suppression.Add("gone@example.net", "550 5.1.1 by hand");

        var text = await Scrape(metrics);
        Assert.Contains("tern_queue_messages{state=\"held\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("tern_queue_messages{state=\"waiting\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("tern_queue_messages{state=\"delivering\"} 0", text, StringComparison.Ordinal);
        Assert.Contains("tern_queue_oldest_message_age_seconds 90", text, StringComparison.Ordinal);
        Assert.Contains("tern_suppression_entries 1", text, StringComparison.Ordinal);
        Assert.Contains("tern_spool_messages 2", text, StringComparison.Ordinal);
        Assert.Contains("tern_messages_accepted_total 2", text, StringComparison.Ordinal);
    }

    private static async Task<Spool.MessageId> StoreAsync(Spool.Spool spool)
    {
        using var w = spool.Begin();
        w.Envelope.SetSender("alice@example.org"u8);
        w.Envelope.AddRecipient("bob@example.net"u8, Spool.StoredNotify.Failure, []);
        w.Write(Encoding.ASCII.GetBytes("Subject: hi\r\n\r\nbody\r\n"));
        Assert.True(await w.CommitAsync(CancellationToken.None));
        await spool.CaughtUpAsync();
        return w.Id;
    }

    private static async Task<string> Scrape(PrometheusMetrics metrics)
    {
        using var stream = new MemoryStream();
        await metrics.WriteAsync(stream, CancellationToken.None);
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>A clock the test moves by hand, with real timers (the spool's commit loop must run).</summary>
    private sealed class ManualClock : TimeProvider
    {
        private DateTimeOffset _now = DateTimeOffset.FromUnixTimeMilliseconds(1_790_000_000_000);

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
