using System.Text;

namespace Tern.Spool.Tests;

public sealed class RecentRecordsTests : SpoolFixture
{
    [Fact]
    public void A_record_is_found_only_at_its_address_in_its_log_instance()
    {
        var recent = new RecentRecords();
        recent.Add(1, 4096, "record one"u8);

        Assert.Equal("record one"u8.ToArray(), Get(recent, 1, 4096));
        Assert.Null(Get(recent, 2, 4096));
        Assert.Null(Get(recent, 1, 4096 + 64));

        // A later record in the same slot replaces it; the old address then misses (and is read from the log).
        recent.Add(1, 4096 + (RecentRecords.Slots * 1024L), "record two"u8);
        Assert.Null(Get(recent, 1, 4096));
        Assert.Equal("record two"u8.ToArray(), Get(recent, 1, 4096 + (RecentRecords.Slots * 1024L)));
    }

    [Fact]
    public void A_record_larger_than_the_limit_is_not_kept_and_the_slot_keeps_its_older_record()
    {
        var recent = new RecentRecords();
        recent.Add(1, 8192, "older"u8);
        recent.Add(1, 8192 + (RecentRecords.Slots * 1024L), new byte[RecentRecords.MaxRecordBytes + 1]);
        Assert.Null(Get(recent, 1, 8192 + (RecentRecords.Slots * 1024L)));
        Assert.Equal("older"u8.ToArray(), Get(recent, 1, 8192));

        recent.Add(1, 16384, new byte[RecentRecords.MaxRecordBytes]);
        Assert.Equal(RecentRecords.MaxRecordBytes, Get(recent, 1, 16384)!.Length);
    }

    [Fact]
    public async Task Readers_racing_writers_on_the_same_slots_never_see_a_torn_record()
    {
        // Threads of their own (not pool tasks, which could run one after the other). Each record is one byte value repeated, with its address as the value's seed: a torn copy
        // (half one record, half another) or a record under the wrong address would show.
        var recent = new RecentRecords();
        using var stop = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        var torn = 0;
        var hits = 0L;
        var writers = Enumerable.Range(0, 2).Select(w => Task.Factory.StartNew(() =>
        {
            var record = new byte[1500];
            for (var i = 0L; !stop.IsCancellationRequested; i++)
            {
                var address = ((i % 8) * RecentRecords.Slots * 1024L) + 2048;
                record.AsSpan().Fill((byte)(address / (RecentRecords.Slots * 1024L)));
                recent.Add(1, address, record);
            }
        }, TaskCreationOptions.LongRunning)).ToArray();
        var readers = Enumerable.Range(0, 2).Select(_ => Task.Factory.StartNew(() =>
        {
            var buffer = new byte[RecentRecords.MaxRecordBytes];
            for (var i = 0L; !stop.IsCancellationRequested; i++)
            {
                var address = ((i % 8) * RecentRecords.Slots * 1024L) + 2048;
                var n = recent.TryCopy(1, address, buffer);
                if (n < 0)
                {
                    continue;
                }

                Interlocked.Increment(ref hits);
                var expected = (byte)(address / (RecentRecords.Slots * 1024L));
                if (n != 1500 || buffer.AsSpan(0, n).IndexOfAnyExcept(expected) >= 0)
                {
                    Interlocked.Increment(ref torn);
                }
            }
        }, TaskCreationOptions.LongRunning)).ToArray();
        await Task.WhenAll([.. writers, .. readers]);

        Assert.Equal(0, torn);
        Assert.True(hits > 0, "no read ever found its record");
    }

    private static byte[]? Get(RecentRecords recent, int generation, long address)
    {
        var buffer = new byte[RecentRecords.MaxRecordBytes];
        var n = recent.TryCopy(generation, address, buffer);
        return n < 0 ? null : buffer[..n];
    }

    [Fact]
    public async Task Messages_read_right_after_their_commit_equal_what_the_log_gives_back_later()
    {
        // Sizes around the limit of what is kept in memory, and enough messages that the first
        // ones have left the recent window before they are read.
        var sizes = new[] { 10, 900, RecentRecords.MaxRecordBytes - 300, RecentRecords.MaxRecordBytes + 500, 5_000, 40_000 };
        var stored = new List<(MessageId Id, string Body)>();
        await using (var spool = Open())
        {
            for (var i = 0; i < 600; i++)
            {
                var body = "Subject: m" + i + "\r\n\r\n" + new string((char)('a' + (i % 26)), sizes[i % sizes.Length]) + "\r\n";
                var id = await Store(spool, $"s{i}@example.org", [($"r{i}@example.net", StoredNotify.Failure)], body);
                var fresh = await spool.ReadAsync(id);
                Assert.Equal(body, Encoding.UTF8.GetString(fresh!.Body));
                Assert.Equal($"r{i}@example.net", fresh.Envelope.Recipients[0].Address);

                // The delivery's read (the envelope stepped over, not decoded) gives the same body.
                Assert.Equal(body, Encoding.UTF8.GetString((await spool.ReadBodyAsync(id))!));
                stored.Add((id, body));
            }

            // The early ones again (out of the recent window by now) from the same spool.
            var early = await spool.ReadAsync(stored[1].Id);
            Assert.Equal(stored[1].Body, Encoding.UTF8.GetString(early!.Body));
            Assert.Equal(stored[1].Body, Encoding.UTF8.GetString((await spool.ReadBodyAsync(stored[1].Id))!));

            // Not in the spool: neither read finds it.
            var unknown = new MessageId(1, 2);
            Assert.Null(await spool.ReadAsync(unknown));
            Assert.Null(await spool.ReadBodyAsync(unknown));
        }

        // A new spool has nothing in memory: every record comes from the log, with the same content.
        await using (var reopened = Open())
        {
            foreach (var (id, body) in stored)
            {
                var again = await reopened.ReadAsync(id);
                Assert.Equal(body, Encoding.UTF8.GetString(again!.Body));
                Assert.Equal(body, Encoding.UTF8.GetString((await reopened.ReadBodyAsync(id))!));
            }
        }
    }
}
