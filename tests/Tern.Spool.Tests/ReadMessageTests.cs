using System.Text;
using Tern.Spool.Queue;

namespace Tern.Spool.Tests;

/// <summary>
/// <see cref="IQueueOperations.ReadMessageAsync"/> (behind <c>tern queue cat</c>): a message byte for
/// byte while queued, and while retired until the log is truncated past its body.
/// </summary>
public sealed class ReadMessageTests : SpoolFixture
{
    private Spool Open() => Open(o => o with { CheckpointBytes = long.MaxValue });

    private static async Task<MessageId> Store(Spool spool, byte[] message)
    {
        using var w = spool.Begin();
        w.Envelope.SetSender("alice@example.org"u8);
        w.Envelope.AddRecipient("bob@example.net"u8, StoredNotify.Failure, []);
        w.Write(message);
        Assert.True(await w.CommitAsync(CancellationToken.None));
        await spool.CaughtUpAsync();
        return w.Id;
    }

    /// <summary>CRLF lines, 8-bit bytes that are not UTF-8, and (large) a body spread over several chunks.</summary>
    private static byte[] Message(int bodyBytes)
    {
        var head = Encoding.ASCII.GetBytes("Received: from client.example.org by mx.example.net (Tern)\r\nFrom: <alice@example.org>\r\nSubject: cat\r\n\r\n");
        var body = new byte[bodyBytes];
        for (var i = 0; i < body.Length; i++)
        {
            body[i] = (i % 100) switch { 98 => (byte)'\r', 99 => (byte)'\n', var c => (byte)(0x80 + c) };
        }

        return [.. head, .. body];
    }

    [Fact]
    public async Task A_queued_message_comes_back_byte_for_byte_small_or_chunked()
    {
        await using var spool = Open();
        foreach (var size in new[] { 10, 300_000 })
        {
            var message = Message(size);
            var id = await Store(spool, message);
            var content = await spool.Queue.ReadMessageAsync(id);
            Assert.NotNull(content);
            Assert.Equal(id, content.Entry.Id);
            Assert.Equal(MessageState.Queued, content.Entry.State);
            Assert.Equal(message, content.Message);
        }
    }

    /// <summary>
    /// Writers grow their buffer past 16 KiB from the shared array pool and give it back when disposed,
    /// so the next writer may get the same array: eight writers at a time, five rounds, bodies of
    /// 17 KiB-300 KB (one buffer size, several, chunked) each with its own bytes, all read back intact.
    /// </summary>
    [Fact]
    public async Task Large_messages_written_at_the_same_time_come_back_byte_for_byte()
    {
        // Random bytes do not compress: pages large enough for a whole 256 KiB chunk.
        await using var spool = Open(o => o with { CheckpointBytes = long.MaxValue, PageSizeBits = 20, MemorySizeBits = 22, SegmentSizeBits = 24 });
        var stored = new System.Collections.Concurrent.ConcurrentBag<(MessageId Id, byte[] Message)>();
        await Task.WhenAll(Enumerable.Range(0, 8).Select(writer => Task.Run(async () =>
        {
            for (var round = 0; round < 5; round++)
            {
                var size = new[] { 17_000, 40_000, 70_000, 130_000, 300_000 }[(writer + round) % 5] + writer;
                var message = new byte[size];
                new Random((writer * 10) + round).NextBytes(message);
                stored.Add((await Store(spool, message), message));
            }
        })));

        Assert.Equal(40, stored.Count);
        foreach (var (id, message) in stored)
        {
            var content = await spool.Queue.ReadMessageAsync(id);
            Assert.NotNull(content);
            Assert.True(message.AsSpan().SequenceEqual(content.Message), $"message {id} ({message.Length} bytes) came back different");
        }
    }

    [Fact]
    public async Task An_unknown_id_is_null()
    {
        await using var spool = Open();
        await Store(spool, Message(10));
        Assert.Null(await spool.Queue.ReadMessageAsync(new MessageId(0x0123_4567_89AB_0001, 42)));
    }

    [Fact]
    public async Task A_retired_message_comes_back_until_the_log_is_truncated_past_its_body()
    {
        await using var spool = Open();
        var message = Message(50_000);
        var id = await Store(spool, message);
        Assert.Equal(1, await spool.Queue.DropAsync(new QueueFilter { Ids = [id] }));

        var retired = await spool.Queue.ReadMessageAsync(id);
        Assert.Equal(MessageState.Retired, retired!.Entry.State);
        Assert.Equal(message, retired.Message);

        // Finished mail after it, then checkpoints: nothing queued pins the log, so it is truncated past the body.
        var done = new List<MessageId>();
        for (var i = 0; i < 60; i++)
        {
            done.Add(await Store(spool, Message(30_000)));
        }

        await spool.Queue.DropAsync(new QueueFilter { Ids = done });
        await spool.CheckpointNowAsync();
        await spool.CheckpointNowAsync();
        Assert.True(spool.LogBeginAddress > retired.Entry.FirstAddress, $"log begin {spool.LogBeginAddress} not past the body at {retired.Entry.FirstAddress}");

        // The entry stays in the history; the body is gone.
        var gone = await spool.Queue.ReadMessageAsync(id);
        Assert.NotNull(gone);
        Assert.Equal(MessageState.Retired, gone.Entry.State);
        Assert.Null(gone.Message);
    }
}
