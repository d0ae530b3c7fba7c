using System.Text;
using Tern.Spool.Queue;

namespace Tern.Spool.Tests;

/// <summary>
/// The free-space reserve (SpoolOptions.MinFreeBytes, [spool] min_free) on the real file system of
/// the test's directory: a reserve larger than any disk is "below the reserve" for certain, one of
/// half the free space leaves room for small messages only.
/// </summary>
public sealed class SpaceReserveTests : SpoolFixture
{
    /// <summary>More than any disk has free.</summary>
    private const long Huge = 1L << 60;

    [Fact]
    public async Task Below_the_reserve_new_messages_are_refused_while_delivery_and_notices_go_on()
    {
        MessageId original;
        await using (var spool = Open())
        {
            Assert.False(spool.BelowReserve);
            Assert.True(spool.HasRoom());
            original = await Store(spool, "sender@example.org", "rcpt@example.net");
        }

        await using (var spool = Open(o => o with { MinFreeBytes = Huge }))
        {
            Assert.True(spool.BelowReserve);
            Assert.False(spool.HasRoom());
            Assert.False(spool.HasRoom(1000));
            Assert.NotNull(spool.FreeBytes);
            Assert.Equal(Huge, spool.MinFreeBytes);

            // A message that got past MAIL is refused at its commit (452 after DATA), small or chunked.
            foreach (var size in new[] { 100, 3 * TestSpoolOptionsChunk })
            {
                using var w = spool.Begin();
                w.Envelope.SetSender("late@example.org"u8);
                w.Envelope.AddRecipient("rcpt@example.net"u8, StoredNotify.Unspecified, default);
                w.Write(new byte[size]);
                Assert.False(await w.CommitAsync(CancellationToken.None));
            }

            await spool.CaughtUpAsync();
            Assert.Equal([original], spool.Messages.Select(m => m.Id));

            // Delivery writes into the reserve: the attempt is recorded and the failure notice queued.
            var after = await spool.RecordAttemptAsync(original, [new AttemptOutcome(0, RecipientStatus.Failed, "550 5.1.1 no such user")], Clock.GetUtcNow());
            Assert.NotNull(after);
            await spool.CaughtUpAsync();
            var notice = Assert.Single(spool.Messages);
            Assert.NotEqual(original, notice.Id);
        }

        // The close checkpointed (or replays): the notice is still queued after a restart without the reserve.
        await using var again = Open();
        var kept = Assert.Single(again.Messages);
        var stored = await again.ReadAsync(kept.Id);
        Assert.NotNull(stored);
        Assert.Equal("", stored.Envelope.Sender);
        Assert.Contains("550 5.1.1 no such user", Encoding.UTF8.GetString(stored.Body), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_declared_size_must_fit_above_the_reserve()
    {
        long free;
        await using (var probe = Open())
        {
            free = probe.FreeBytes ?? throw new InvalidOperationException("statvfs failed on the test directory");
        }

        await using var spool = Open(o => o with { MinFreeBytes = free / 2 });
        Assert.False(spool.BelowReserve);
        Assert.True(spool.HasRoom());
        Assert.True(spool.HasRoom(1024));
        Assert.False(spool.HasRoom(free));
        var id = await Store(spool, "sender@example.org", "rcpt@example.net");
        Assert.NotNull(spool.Find(id));
    }

    [Fact]
    public async Task No_reserve_refuses_nothing()
    {
        await using var spool = Open(o => o with { MinFreeBytes = 0 });
        Assert.Equal(0, spool.MinFreeBytes);
        Assert.False(spool.BelowReserve);
        Assert.True(spool.HasRoom(Huge));
    }

    [Fact]
    public async Task A_reserve_too_small_for_a_checkpoint_is_raised_to_one()
    {
        // Checkpoints are postponed without room for them, and only they let the log be truncated:
        // a smaller reserve could leave delivered mail on a full disk for ever.
        await using var spool = Open(o => o with { MinFreeBytes = 1 });
        Assert.Equal(Spool.CheckpointRoom(spool.Options, full: true), spool.MinFreeBytes);
        Assert.True(spool.MinFreeBytes > spool.Options.IndexBuckets * 64);
    }

    [Fact]
    public void An_estimate_below_the_reserve_refuses_while_another_thread_reads()
    {
        var probe = new SpaceReserve(Dir, 0, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        var free = probe.Free;
        Assert.True(free is > 0 and < long.MaxValue, "statvfs failed on the test directory");
        var reserve = new SpaceReserve(Dir, free / 2, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        Assert.True(reserve.HasRoom(-1, out _));

        // The log took more than the reading left above the reserve, while another thread is reading.
        reserve.Consumed(free);
        Assert.True(reserve.TryBeginRead());
        try
        {
            Assert.False(reserve.HasRoom(-1, out var sizeRefused));
            Assert.False(sizeRefused);
            Assert.True(reserve.Low);
        }
        finally
        {
            reserve.EndRead();
        }

        // Then a reading of its own decides: the disk has the room.
        Assert.True(reserve.HasRoom(-1, out _));
        Assert.False(reserve.Low);
    }

    /// <summary>The chunk size of the small test options: three of them make a chunked message.</summary>
    private static int TestSpoolOptionsChunk => Tern.Tests.Support.TestSpoolOptions.Small("/").ChunkSize;
}
