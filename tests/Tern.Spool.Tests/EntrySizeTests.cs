using System.Text;
using Tern.Spool.Queue;

namespace Tern.Spool.Tests;

/// <summary>
/// One queue entry must fit in a page of the index: replies are cut to fit, an envelope that could
/// never fit is refused at acceptance, and an index is always read with the page size it was made with.
/// </summary>
public sealed class EntrySizeTests : SpoolFixture
{
    private static string LongReply(int i) =>
        string.Concat(Enumerable.Range(0, 40).Select(n => $"450-4.2.0 recipient {i} line {n}: mailbox busy, é try later\r\n")) + "450 4.2.0 end";

    [Fact]
    public async Task Long_replies_are_cut_to_fit_an_index_page_and_keep_their_beginning()
    {
        var recipients = Enumerable.Range(0, 40).Select(i => $"r{i}@example.net").ToArray();
        MessageId id;
        int maxEntry;
        await using (var spool = Open(o => o with { CheckpointOnClose = false }))
        {
            maxEntry = spool.MaxEntryBytes;
            id = await Store(spool, "a@example.org", recipients);
            var outcomes = recipients.Select((_, i) => new AttemptOutcome(i, RecipientStatus.Deferred, LongReply(i))).ToList();
            Assert.True(outcomes.Sum(o => Encoding.UTF8.GetByteCount(o.Reply)) > 4 * maxEntry);
            var recorded = await spool.RecordAttemptAsync(id, outcomes, Clock.GetUtcNow().AddMinutes(10));
            Assert.NotNull(recorded);
            await spool.CaughtUpAsync();
        }

        // Once from the replay of the log (no checkpoint on close), once from the checkpoint.
        for (var round = 0; round < 2; round++)
        {
            await using var spool = Open();
            var entry = (await spool.Queue.ShowAsync(id))!.Entry;
            Assert.Equal(MessageState.Queued, entry.State);
            Assert.Equal(1, entry.Attempts);
            var encoded = QueueEntryFormat.Encode(entry, out var buffer).Length;
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            Assert.True(encoded <= maxEntry, $"entry of {encoded} bytes, page allows {maxEntry}");
            for (var i = 0; i < recipients.Length; i++)
            {
                var r = entry.Recipients[i];
                Assert.Equal(RecipientStatus.Deferred, r.Status);
                Assert.True(r.LastReply.Length >= 200, $"reply {i} kept only {r.LastReply.Length} characters");
                Assert.StartsWith(r.LastReply, LongReply(i), StringComparison.Ordinal);
                Assert.DoesNotContain('\uFFFD', r.LastReply);
            }
        }
    }

    [Fact]
    public void A_short_entry_is_written_whole_whatever_the_limit()
    {
        var entry = QueueEntryFormat.Read(default, Entry("550-5.1.1 first\r\n550 5.1.1 second"));
        var w = new RecordWriter(new byte[64]);
        QueueEntryFormat.Write(entry, ref w, maxLength: 4096);
        var back = QueueEntryFormat.Read(default, w.Written);
        System.Buffers.ArrayPool<byte>.Shared.Return(w.Buffer);
        Assert.Equal("550-5.1.1 first\r\n550 5.1.1 second", back.Recipients[0].LastReply);
    }

    [Fact]
    public async Task An_envelope_too_large_for_an_entry_is_refused_before_it_is_written()
    {
        await using var spool = Open();
        using (var big = spool.Begin())
        {
            big.Envelope.SetSender("a@example.org"u8);
            for (var i = 0; i < 100; i++)
            {
                big.Envelope.AddRecipient(Encoding.ASCII.GetBytes(new string('x', 200) + i + "@example.net"), StoredNotify.Unspecified, []);
            }

            big.Write("Subject: x\r\n\r\nx\r\n"u8);
            Assert.False(big.EnvelopeFits);
            Assert.False(await big.CommitAsync(CancellationToken.None));
        }

        var queued = 0;
        spool.ForEachQueued((_, _, _) => queued++);
        Assert.Equal(0, queued);

        // The spool is not failing because of it: the next ordinary message is accepted.
        using var small = spool.Begin();
        small.Envelope.SetSender("a@example.org"u8);
        small.Envelope.AddRecipient("b@example.net"u8, StoredNotify.Unspecified, []);
        small.Write("Subject: x\r\n\r\nx\r\n"u8);
        Assert.True(small.EnvelopeFits);
        Assert.True(await small.CommitAsync(CancellationToken.None));
        Assert.False(spool.Failing);
    }

    [Fact]
    public async Task An_index_keeps_the_page_size_it_was_created_with()
    {
        var file = Path.Combine(Dir, "index", "index.page-bits");
        MessageId id;
        await using (var spool = Open(o => o with { IndexPageSizeBits = 15, CheckpointOnClose = false }))
        {
            id = await Store(spool, "a@example.org", "b@example.net");
        }

        Assert.Equal("15", File.ReadAllText(file).Trim());

        // Reopened with other options, it still reads its 32 KiB pages.
        await using (var spool = Open(o => o with { IndexPageSizeBits = 12 }))
        {
            Assert.Equal(15, spool.IndexPageSizeBits);
            Assert.NotNull(await spool.Queue.ShowAsync(id));
        }

        // An index made before the size was recorded had 4 MiB pages.
        File.Delete(file);
        await using (var spool = Open())
        {
            Assert.Equal(22, spool.IndexPageSizeBits);
            Assert.NotNull(await spool.Queue.ShowAsync(id));
        }

        Assert.Equal("22", File.ReadAllText(file).Trim());

        // A file that cannot be read makes the index unreadable: like any unreadable index it is
        // rebuilt from the log (with the page size wanted now), and nothing is lost.
        await File.WriteAllTextAsync(file, "big\n");
        await using (var spool = Open(o => o with { IndexPageSizeBits = 14 }))
        {
            Assert.Equal(14, spool.IndexPageSizeBits);
            Assert.NotNull(await spool.Queue.ShowAsync(id));
        }

        Assert.Equal("14", File.ReadAllText(file).Trim());
    }

    [Fact]
    public async Task An_index_keeps_the_bucket_count_it_was_created_with()
    {
        var file = Path.Combine(Dir, "index", "index.buckets");
        MessageId id;
        await using (var spool = Open(o => o with { IndexBuckets = 1 << 11 }))
        {
            id = await Store(spool, "a@example.org", "b@example.net");
        }

        Assert.Equal("2048", File.ReadAllText(file).Trim());
        Assert.NotEmpty(Directory.EnumerateFileSystemEntries(Path.Combine(Dir, "index", "checkpoints")));

        // Reopened with other options, it recovers its checkpoint with the table it was made with.
        // The free-space reserve (raised to one full checkpoint's room) counts that table too, not the one configured.
        await using (var spool = Open(o => o with { IndexBuckets = 1 << 12, MinFreeBytes = 1 }))
        {
            Assert.Equal(1 << 11, spool.IndexBuckets);
            Assert.NotNull(await spool.Queue.ShowAsync(id));
            Assert.Equal(Spool.CheckpointRoom(spool.Options with { IndexBuckets = 1 << 11 }, full: true), spool.MinFreeBytes);
        }

        // An index made before the count was recorded had 2^18 buckets.
        File.Delete(file);
        await using (var spool = Open(o => o with { MinFreeBytes = 1 }))
        {
            Assert.Equal(1 << 18, spool.IndexBuckets);
            Assert.NotNull(await spool.Queue.ShowAsync(id));
            Assert.Equal(Spool.CheckpointRoom(spool.Options with { IndexBuckets = 1 << 18 }, full: true), spool.MinFreeBytes);
        }

        Assert.Equal("262144", File.ReadAllText(file).Trim());

        // A file that cannot be read makes the index unreadable: rebuilt from the log with the count wanted now.
        await File.WriteAllTextAsync(file, "3000\n");
        await using (var spool = Open(o => o with { IndexBuckets = 1 << 10 }))
        {
            Assert.Equal(1 << 10, spool.IndexBuckets);
            Assert.NotNull(await spool.Queue.ShowAsync(id));
        }

        Assert.Equal("1024", File.ReadAllText(file).Trim());
    }

    private static byte[] Entry(string reply)
    {
        var entry = new QueueEntry
        {
            Id = default,
            State = MessageState.Queued,
            Received = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000),
            Envelope = new SpoolEnvelope { Sender = "a@example.org", Recipients = [new SpoolRecipient("b@example.net", StoredNotify.Unspecified, "")] },
            Recipients = [new RecipientState { Address = "b@example.net", Status = RecipientStatus.Failed, LastReply = reply }],
        };
        var span = QueueEntryFormat.Encode(entry, out var buffer);
        var copy = span.ToArray();
        System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        return copy;
    }
}
