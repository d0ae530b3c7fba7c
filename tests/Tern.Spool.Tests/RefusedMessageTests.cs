using Tern.Spool.Queue;

namespace Tern.Spool.Tests;

/// <summary>
/// A message refused with 4xx because the commit covering it failed must never be delivered, even
/// when the failed commit still put its record on the disk and the reopened log recovers it: the
/// client sends it again, and a delivered copy would be a duplicate. (On a full disk the failed
/// commit's record is normally not recovered; the state after one that was is set up here directly.)
/// </summary>
public sealed class RefusedMessageTests : SpoolFixture
{
    [Fact]
    public async Task A_refused_message_whose_record_is_recovered_is_never_queued()
    {
        MessageId refused;
        MessageId later;
        await using (var spool = Open(o => o with { CheckpointOnClose = false }))
        {
            using (var w = spool.Begin())
            {
                w.Envelope.SetSender("a@example.org"u8);
                w.Envelope.AddRecipient("b@example.net"u8, StoredNotify.Unspecified, default);
                w.Write("Subject: refused\r\n\r\nbody\r\n"u8);
                refused = w.Id;

                // As FailWaiters does when the commit covering the record fails; here the record
                // then becomes durable anyway, as if the reopened log had recovered it.
                spool.Refuse(refused);
                Assert.True(await w.CommitAsync(CancellationToken.None));
            }

            await spool.CaughtUpAsync();
            Assert.Null(spool.Find(refused));
            Assert.Empty(spool.Messages);
            Assert.Equal(0, spool.Count);
            Assert.True(spool.IsRefused(refused));

            // The reopen writes its Abandoned record; once applied, the id is released.
            spool.Abandon(refused);
            later = await Store(spool, "c@example.org", "d@example.net");
            Assert.False(spool.IsRefused(refused));
            Assert.Equal([later], spool.Messages.Select(m => m.Id));
        }

        // The Abandoned record keeps it out after a restart too (the log replayed: no close checkpoint).
        await using var again = Open();
        Assert.Null(again.Find(refused));
        Assert.Equal([later], again.Messages.Select(m => m.Id));
    }
}
