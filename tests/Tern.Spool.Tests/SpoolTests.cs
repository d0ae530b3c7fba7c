using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Tern.Observability.Metrics;

namespace Tern.Spool.Tests;

public sealed class SpoolTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tern-spool-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private Spool Open(Func<SpoolOptions, SpoolOptions>? tune = null) =>
        Spool.Open((tune ?? (o => o))(new SpoolOptions { Directory = _dir, PageSizeBits = 20, MemorySizeBits = 23, SegmentSizeBits = 24 }), NullLoggerFactory.Instance, NullMetrics.Instance);

    private static async Task<MessageId> Store(Spool spool, string sender, string[] recipients, byte[] body)
    {
        using var w = spool.Begin();
        w.Envelope.SetSender(Encoding.UTF8.GetBytes(sender));
        foreach (var r in recipients)
        {
            w.Envelope.AddRecipient(Encoding.UTF8.GetBytes(r), StoredNotify.Failure | StoredNotify.Delay, Encoding.ASCII.GetBytes("rfc822;" + r));
        }

        w.Envelope.SetEnvelopeId("ENV1"u8);
        w.Envelope.SetClient("127.0.0.1"u8);
        w.Envelope.SetListener("relay"u8);
        w.Envelope.Tls = true;
        w.Envelope.RequireTls = true;
        w.Envelope.Ret = 2;
        w.Write(body);
        Assert.True(await w.CommitAsync(CancellationToken.None));

        // The index is built from the committed log by the applier, just after the commit.
        await spool.CaughtUpAsync();
        return w.Id;
    }

    private static byte[] Text(int size)
    {
        var sb = new StringBuilder();
        var i = 0;
        while (sb.Length < size)
        {
            sb.Append("Line ").Append(i++).Append(": the quick brown fox jumps over the lazy dog\r\n");
        }

        return Encoding.ASCII.GetBytes(sb.ToString(0, size));
    }

    [Fact]
    public async Task Message_survives_reopen_with_envelope_and_body()
    {
        MessageId id;
        var body = "Subject: hi\r\n\r\nhello\r\n"u8.ToArray();
        await using (var spool = Open())
        {
            id = await Store(spool, "alice@example.org", ["bob@example.net", "carol@example.net"], body);
            Assert.Equal(1, spool.Count);
        }

        await using (var spool = Open())
        {
            var entry = Assert.Single(spool.Messages);
            Assert.Equal(id, entry.Id);
            Assert.Equal(2, entry.Recipients);
            var m = await spool.ReadAsync(id);
            Assert.NotNull(m);
            Assert.Equal(body, m.Body);
            Assert.Equal("alice@example.org", m.Envelope.Sender);
            Assert.Equal(["bob@example.net", "carol@example.net"], m.Envelope.Recipients.Select(r => r.Address));
            Assert.Equal(StoredNotify.Failure | StoredNotify.Delay, m.Envelope.Recipients[0].Notify);
            Assert.Equal("rfc822;bob@example.net", m.Envelope.Recipients[0].OriginalRecipient);
            Assert.Equal("ENV1", m.Envelope.EnvelopeId);
            Assert.True(m.Envelope.Tls && m.Envelope.RequireTls);
            Assert.Equal(2, m.Envelope.Ret);
            Assert.Equal("relay", m.Envelope.Listener);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(100)]
    [InlineData(40 * 1024)]
    [InlineData(256 * 1024)]
    [InlineData(256 * 1024 + 1)]
    [InlineData(3 * 1024 * 1024)]
    public async Task Bodies_of_every_size_round_trip_byte_identical(int size)
    {
        var body = Text(size);
        MessageId id;
        await using (var spool = Open())
        {
            id = await Store(spool, "a@example.org", ["b@example.net"], body);
            Assert.Equal(body, (await spool.ReadAsync(id))!.Body);
        }

        await using (var spool = Open())
        {
            Assert.Equal(body, (await spool.ReadAsync(id))!.Body);
            Assert.Equal(size, spool.Messages.Single().BodyLength);
        }
    }

    [Fact]
    public async Task Body_written_in_small_pieces_across_chunks()
    {
        var body = Text(700 * 1024);
        await using var spool = Open();
        using var w = spool.Begin();
        w.Envelope.SetSender("a@example.org"u8);
        w.Envelope.AddRecipient("b@example.net"u8, StoredNotify.Unspecified, default);
        for (var i = 0; i < body.Length; i += 777)
        {
            w.Write(body.AsSpan(i, Math.Min(777, body.Length - i)));
        }

        Assert.True(await w.CommitAsync(CancellationToken.None));
        await spool.CaughtUpAsync();
        Assert.Equal(body, (await spool.ReadAsync(w.Id))!.Body);
    }

    [Fact]
    public async Task Concurrent_writers_share_commits_and_all_survive()
    {
        var ids = new System.Collections.Concurrent.ConcurrentBag<MessageId>();
        await using (var spool = Open())
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, 400), new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (i, _) =>
                ids.Add(await Store(spool, $"s{i}@example.org", [$"r{i}@example.net"], Text(1024 + i))));
            Assert.Equal(400, spool.Count);
        }

        await using (var spool = Open())
        {
            Assert.Equal(400, spool.Count);
            Assert.Equal(ids.OrderBy(x => x.ToString()), spool.Messages.Select(m => m.Id).OrderBy(x => x.ToString()));
            foreach (var id in ids.Take(20))
            {
                var m = (await spool.ReadAsync(id))!;
                var i = int.Parse(m.Envelope.Sender[1..m.Envelope.Sender.IndexOf('@', StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture);
                Assert.Equal(Text(1024 + i), m.Body);
            }
        }
    }

    [Fact]
    public async Task Uncommitted_message_is_not_in_the_spool()
    {
        await using (var spool = Open())
        {
            using (var w = spool.Begin())
            {
                w.Envelope.SetSender("a@example.org"u8);
                w.Write(Text(600 * 1024));
            }

            await Store(spool, "kept@example.org", ["b@example.net"], Text(10));
            Assert.Equal(1, spool.Count);
        }

        await using (var again = Open())
        {
            Assert.Equal("kept@example.org", (await again.ReadAsync(again.Messages.Single().Id))!.Envelope.Sender);
        }
    }

    [Fact]
    public async Task Unknown_record_versions_are_skipped_not_replayed()
    {
        await using (var spool = Open())
        {
            var junk = new byte[40];
            junk[0] = 2;
            junk[1] = 99;
            spool.Append(junk);
            await Store(spool, "a@example.org", ["b@example.net"], Text(10));
        }

        await using var again = Open();
        Assert.Equal(1, again.Count);
    }

    [Fact]
    public async Task Next_segment_file_exists_before_the_log_reaches_it()
    {
        var ids = new List<MessageId>();
        var body = Text(100 * 1024);
        await using (var spool = Open(o => o with { SegmentSizeBits = 20 }))
        {
            for (var i = 0; i < 40; i++)
            {
                ids.Add(await Store(spool, $"s{i}@example.org", ["b@example.net"], body));
                var segments = Directory.GetFiles(_dir, "tern.log.*").Select(f => int.Parse(Path.GetExtension(f)[1..], System.Globalization.CultureInfo.InvariantCulture)).ToList();

                // The highest segment file is always an empty one prepared ahead of the log.
                Assert.Equal(0, new FileInfo(Path.Combine(_dir, $"tern.log.{segments.Max()}")).Length);
            }
        }

        await using var again = Open(o => o with { SegmentSizeBits = 20 });
        Assert.Equal(40, again.Count);
        foreach (var id in ids)
        {
            Assert.Equal(body, (await again.ReadAsync(id))!.Body);
        }
    }

    [Fact]
    public async Task Abandoned_messages_are_dropped_on_recovery()
    {
        await using (var spool = Open())
        {
            var gone = await Store(spool, "gone@example.org", ["b@example.net"], Text(10));
            await Store(spool, "kept@example.org", ["b@example.net"], Text(10));
            spool.Abandon(gone);
            await Store(spool, "later@example.org", ["b@example.net"], Text(10));
        }

        await using var again = Open();
        Assert.Equal(2, again.Count);
        var senders = new List<string>();
        foreach (var m in again.Messages)
        {
            senders.Add((await again.ReadAsync(m.Id))!.Envelope.Sender);
        }

        // Ids order by arrival only to the millisecond (the rest is random): two messages stored within
        // one millisecond may list either way.
        Assert.Equal(["kept@example.org", "later@example.org"], senders.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Message_ids_are_time_ordered_and_parse_back()
    {
        var clock = TimeProvider.System;
        var a = MessageId.New(clock);
        Thread.Sleep(2);
        var b = MessageId.New(clock);
        Assert.True(string.CompareOrdinal(a.ToString(), b.ToString()) < 0);
        Assert.Equal(26, a.ToString().Length);
        Assert.True(MessageId.TryParse(a.ToString(), out var parsed));
        Assert.Equal(a, parsed);
        Assert.True(MessageId.TryParse(a.ToString().ToLowerInvariant(), out parsed));
        Assert.Equal(a, parsed);
        Assert.False(MessageId.TryParse("not-an-id", out _));
        Assert.True(Math.Abs((a.Time - DateTimeOffset.UtcNow).TotalSeconds) < 5);
    }
}
