using Microsoft.Extensions.Logging.Abstractions;
using Tern.Spool.Queue;
using Tern.Tests.Support;

namespace Tern.Spool.Tests;

/// <summary>
/// What the spool counts for /metrics: messages accepted (not its own notices), notices by kind, the
/// held count (kept across a restart by the checkpoint) and the oldest queued message, all without
/// scanning the queue at scrape time.
/// </summary>
public sealed class SpoolMetricsTests : SpoolFixture
{
    private Spool OpenWith(RecordingMetrics metrics) =>
        Spool.Open(TestSpoolOptions.Small(Dir) with { ReportingMta = "mta.example.org" }, NullLoggerFactory.Instance, metrics, Clock);

    [Fact]
    public async Task Accepted_messages_notices_by_kind_held_count_and_oldest_message()
    {
        var metrics = new RecordingMetrics();
        var first = default(MessageId);
        var second = default(MessageId);
        await using (var spool = OpenWith(metrics))
        {
            Assert.Null(spool.OldestQueued);
            Assert.Equal(0, spool.Held);
            first = await Store(spool, "alice@example.org", "bob@example.net");
            Clock.Advance(TimeSpan.FromHours(1));
            second = await Store(spool, "alice@example.org", "carol@example.net");
            Assert.Equal(2, metrics.Value("tern_messages_accepted_total"));
            Assert.Equal(first.Time, spool.OldestQueued);
            Assert.Equal(2, metrics.Count("tern_spool_commit_seconds"));

            Assert.Equal(1, await spool.Queue.HoldAsync(Only(second)));
            await spool.CaughtUpAsync();
            Assert.Equal(1, spool.Held);
            await spool.Queue.ReleaseAsync(Only(second));
            await spool.CaughtUpAsync();
            Assert.Equal(0, spool.Held);
            await spool.Queue.HoldAsync(Only(second));
            await spool.CaughtUpAsync();
            Assert.Equal(1, spool.Held);

            // A remote 550 fails the first message: one failure notice, which is not a message accepted.
            await spool.RecordAttemptAsync(first, [new AttemptOutcome(0, RecipientStatus.Failed, "550 5.1.1 no such user")], Clock.GetUtcNow());
            await spool.CaughtUpAsync();
            Assert.Equal(1, metrics.Value("tern_dsn_queued_total", "failure"));
            Assert.Equal(0, metrics.Value("tern_dsn_queued_total", "delay"));
            Assert.Equal(0, metrics.Value("tern_dsn_queued_total", "success"));
            Assert.Equal(2, metrics.Value("tern_messages_accepted_total"));
            Assert.Equal(2, spool.Count);

            // The oldest left: its time stays until the next pass over the index (here a checkpoint's survey).
            Assert.Equal(first.Time, spool.OldestQueued);
            await spool.CheckpointNowAsync();
            Assert.Equal(second.Time, spool.OldestQueued);

            metrics.Collect();
            Assert.Equal(2, metrics.Value("tern_spool_messages"));
            Assert.True(metrics.Value("tern_spool_log_bytes") > 0);
        }

        // The held count comes back from the checkpoint; the start scan of a scheduler finds the oldest.
        await using (var spool = OpenWith(new RecordingMetrics()))
        {
            Assert.Equal(1, spool.Held);
            Assert.Equal(2, spool.Count);
            spool.ForEachQueued((_, _, _) => { });
            Assert.Equal(second.Time, spool.OldestQueued);
            await spool.Queue.ReleaseAsync(Only(second));
            await spool.CaughtUpAsync();
            Assert.Equal(0, spool.Held);
        }
    }

    [Fact]
    public async Task Delay_and_relayed_notices_are_counted_by_kind()
    {
        var metrics = new RecordingMetrics();
        await using var spool = OpenWith(metrics);
        var delayed = await Store(spool, "alice@example.org", [("bob@example.net", StoredNotify.Delay)], "Subject: a\r\n\r\nx\r\n");
        await spool.RecordAttemptAsync(delayed, [new AttemptOutcome(0, RecipientStatus.Deferred, "451 4.7.1 later")], Clock.GetUtcNow() + TimeSpan.FromMinutes(5), new AttemptNotices(Delay: true, WillRetryUntil: Clock.GetUtcNow() + TimeSpan.FromDays(1)));
        var relayed = await Store(spool, "alice@example.org", [("carol@example.net", StoredNotify.Success)], "Subject: b\r\n\r\ny\r\n");
        await spool.RecordAttemptAsync(relayed, [new AttemptOutcome(0, RecipientStatus.Delivered, "250 2.0.0 ok") { Relayed = true }], Clock.GetUtcNow());
        await spool.CaughtUpAsync();
        Assert.Equal(1, metrics.Value("tern_dsn_queued_total", "delay"));
        Assert.Equal(1, metrics.Value("tern_dsn_queued_total", "success"));
        Assert.Equal(0, metrics.Value("tern_dsn_queued_total", "failure"));
        Assert.Equal(2, metrics.Value("tern_messages_accepted_total"));
    }

    [Fact]
    public async Task A_compaction_run_is_counted_with_the_messages_it_copied()
    {
        var metrics = new RecordingMetrics();
        await using var spool = Spool.Open(
            TestSpoolOptions.Small(Dir) with { ReportingMta = "mta.example.org", CompactAbove = 2 << 20, CheckpointBytes = long.MaxValue, CompressAbove = 1 << 30 },
            NullLoggerFactory.Instance,
            metrics,
            Clock);
        await Store(spool, "a@example.org", [("b@example.net", StoredNotify.Failure)], "Subject: old\r\n\r\nx\r\n");
        Assert.Equal(0, metrics.Value("tern_spool_compaction_runs_total"));

        // 3 MB of mail dropped while the old message stays queued: its segment is compacted.
        var filler = new string('y', 30_000);
        var done = new List<MessageId>();
        for (var i = 0; i < 100; i++)
        {
            done.Add(await Store(spool, "a@example.org", [("c@example.net", StoredNotify.Failure)], filler));
        }

        await spool.Queue.DropAsync(new QueueFilter { Ids = done });
        await spool.CheckpointNowAsync();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (metrics.Value("tern_spool_compaction_runs_total") < 1 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.True(metrics.Value("tern_spool_compaction_runs_total") >= 1);
        Assert.Equal(1, metrics.Value("tern_spool_compacted_messages_total"));
        Assert.Equal(101, metrics.Value("tern_messages_accepted_total"));
    }
}
