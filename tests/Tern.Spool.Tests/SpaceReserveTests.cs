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
        Assert.False(spool.BelowReserve);
        Assert.True(spool.HasRoom(Huge));
    }

    /// <summary>The chunk size of the small test options: three of them make a chunked message.</summary>
    private static int TestSpoolOptionsChunk => Tern.Tests.Support.TestSpoolOptions.Small("/").ChunkSize;
}
