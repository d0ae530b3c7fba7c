using System.Text;

namespace Tern.Spool.Tests;

public sealed class RecentRecordsTests : SpoolFixture
{
    [Fact]
    public void A_record_is_found_only_at_its_address_in_its_log_instance()
    {
        var recent = new RecentRecords();
        recent.Add(1, 4096, "record one"u8);

        Assert.Equal("record one"u8.ToArray(), recent.Get(1, 4096));
        Assert.Null(recent.Get(2, 4096));
        Assert.Null(recent.Get(1, 4096 + 64));

        // A later record in the same slot replaces it; the old address then misses (and is read from the log).
        recent.Add(1, 4096 + (RecentRecords.Slots * 1024L), "record two"u8);
        Assert.Null(recent.Get(1, 4096));
        Assert.Equal("record two"u8.ToArray(), recent.Get(1, 4096 + (RecentRecords.Slots * 1024L)));
    }

    [Fact]
    public void A_record_larger_than_the_limit_is_not_kept()
    {
        var recent = new RecentRecords();
        recent.Add(1, 8192, new byte[RecentRecords.MaxRecordBytes + 1]);
        Assert.Null(recent.Get(1, 8192));
    }

    [Fact]
    public async Task Messages_read_right_after_their_commit_equal_what_the_log_gives_back_later()
    {
        // Sizes around the limit of what is kept in memory, and enough messages that the first
        // ones have left the recent window before they are read.
        var sizes = new[] { 10, 900, 5_000, RecentRecords.MaxRecordBytes - 200, RecentRecords.MaxRecordBytes + 500, 40_000 };
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
                stored.Add((id, body));
            }

            // The early ones again (out of the recent window by now) from the same spool.
            var early = await spool.ReadAsync(stored[1].Id);
            Assert.Equal(stored[1].Body, Encoding.UTF8.GetString(early!.Body));
        }

        // A new spool has nothing in memory: every record comes from the log, with the same content.
        await using (var reopened = Open())
        {
            foreach (var (id, body) in stored)
            {
                var again = await reopened.ReadAsync(id);
                Assert.Equal(body, Encoding.UTF8.GetString(again!.Body));
            }
        }
    }
}
