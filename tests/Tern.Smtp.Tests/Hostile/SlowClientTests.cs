using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace Tern.Smtp.Tests.Hostile;

/// <summary>
/// Slowloris: a client trickling bytes must not hold a connection past the command deadline (a whole
/// command line within command_timeout, not an idle time per read) or the data deadline (data_timeout
/// plus size/min_data_rate, for all the BDAT chunks of a message); a client looping on NOOP or EHLO is cut
/// by the junk-command limit.
/// </summary>
[Collection(TimingCollection.Name)]
public sealed class SlowClientTests
{
    private static readonly string Timeout421 = "421 4.4.2 mx.tern.test Timeout waiting for input, closing connection";

    [Fact]
    public async Task Command_trickled_one_byte_at_a_time_hits_the_command_deadline()
    {
        await using var t = TestServer.Start(l => l with { CommandTimeout = TimeSpan.FromSeconds(1) });

        // Timed from before the connection: the server's deadline starts with its greeting, so this is a
        // true lower bound however late the test reads the greeting.
        var sw = Stopwatch.StartNew();
        using var s = await Hostile.ConnectFromAsync(t.Relay, 1);
        var greeting = new byte[512];
        await s.ReceiveAsync(greeting, SocketFlags.None);

        // One byte every 50 ms, from a dedicated thread (immune to thread-pool delays): each read comes
        // well within the timeout, the line never ends.
        var reader = Hostile.ReadToCloseAsync(s, TimeSpan.FromSeconds(10));
        var line = Encoding.ASCII.GetBytes("EHLO " + new string('a', 200));
        var (sent, maxGap) = await Hostile.Trickle(s, line, TimeSpan.FromMilliseconds(50), () => reader.IsCompleted);

        var (text, closed) = await reader;
        Assert.True(closed);
        Assert.Equal(Timeout421 + "\r\n", text);
        Assert.InRange(sw.Elapsed.TotalSeconds, 0.9, 8);

        // Never idle for the timeout: only a deadline for the whole line could have closed it.
        Assert.True(maxGap < TimeSpan.FromMilliseconds(800), $"gap {maxGap}");
        Assert.True(sent < line.Length);
    }

    [Fact]
    public async Task Message_data_trickled_hits_the_data_deadline_and_nothing_is_stored()
    {
        // 1 s of data time plus one second per 1000 bytes: 20 bytes/s never earn enough extra time.
        await using var t = TestServer.Start(l => l with { DataTimeout = TimeSpan.FromSeconds(1), MinDataRate = 1000 });

        // Timed from before DATA is sent (a fresh-clone run read the 354 0.85 s late on a busy machine,
        // and the deadline then seemed to come after 0.15 s).
        var sw = new Stopwatch();
        using var s = await Hostile.OpenDataAsync(t.Relay, 2, "a@client.example", sw);
        var reader = Hostile.ReadToCloseAsync(s, TimeSpan.FromSeconds(10));
        var (_, maxGap) = await Hostile.Trickle(s, Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("xx\r\n", 200))), TimeSpan.FromMilliseconds(50), () => reader.IsCompleted, chunk: 4);
        var (text, closed) = await reader;
        Assert.True(closed);
        Assert.Equal(Timeout421 + "\r\n", text);
        Assert.InRange(sw.Elapsed.TotalSeconds, 0.9, 4);
        Assert.True(maxGap < TimeSpan.FromMilliseconds(800), $"gap {maxGap}");
        Assert.Empty(t.Store.Messages);
        await Hostile.WaitForAsync(() => t.Store.Aborted == 1);
    }

    [Fact]
    public async Task Data_at_the_minimum_rate_earns_its_time()
    {
        // 1 s of data time, 100 bytes/s minimum: 5000 bytes/s over 2.5 s stays well inside the deadline.
        await using var t = TestServer.Start(l => l with { DataTimeout = TimeSpan.FromSeconds(1), MinDataRate = 100 });
        using var s = await Hostile.OpenDataAsync(t.Relay, 3, "a@client.example");
        var body = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat(new string('y', 498) + "\r\n", 25)) + ".\r\n");
        var (sent, _) = await Hostile.Trickle(s, body, TimeSpan.FromMilliseconds(100), () => false, chunk: 500);
        Assert.Equal(body.Length, sent);
        var buf = new byte[256];
        var n = await s.ReceiveAsync(buf, SocketFlags.None);
        Assert.StartsWith("250 2.0.0 OK", Encoding.ASCII.GetString(buf, 0, n), StringComparison.Ordinal);
        Assert.Single(t.Store.Messages);
    }

    [Fact]
    public async Task Bdat_chunks_of_one_message_share_one_data_deadline()
    {
        // 1 s of data time plus one second per 1000 bytes, for the whole message: a fresh budget per
        // chunk would let `BDAT 1` every few minutes (each within the command deadline) hold the
        // connection for max_message_size times the command timeout.
        await using var t = TestServer.Start(l => l with { DataTimeout = TimeSpan.FromSeconds(1), MinDataRate = 1000 });
        using var s = await Hostile.ConnectFromAsync(t.Relay, 4);
        await s.SendAsync(Encoding.ASCII.GetBytes("EHLO client.example\r\nMAIL FROM:<first@client.example>\r\nRCPT TO:<b@ours.example>\r\nBDAT 3 LAST\r\nabc"), SocketFlags.None);
        Assert.Contains("250 2.0.0 OK", await Hostile.ReadUntilAsync(s, "250 2.0.0 OK", TimeSpan.FromSeconds(10)), StringComparison.Ordinal);

        // Past the first message's data time: the deadline belongs to a message, the next one starts afresh.
        await Task.Delay(1200);
        await s.SendAsync(Encoding.ASCII.GetBytes("MAIL FROM:<slow@client.example>\r\nRCPT TO:<b@ours.example>\r\n"), SocketFlags.None);
        Assert.Contains("250 2.1.5", await Hostile.ReadUntilAsync(s, "250 2.1.5", TimeSpan.FromSeconds(10)), StringComparison.Ordinal);

        // One 1-byte chunk every 250 ms: each chunk and each wait between chunks is well within its own limit.
        var sw = Stopwatch.StartNew();
        var reader = Hostile.ReadToCloseAsync(s, TimeSpan.FromSeconds(10));
        var chunks = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("BDAT 1\r\nX", 30)));
        var (sent, maxGap) = await Hostile.Trickle(s, chunks, TimeSpan.FromMilliseconds(250), () => reader.IsCompleted, chunk: 9);
        var (text, closed) = await reader;
        Assert.True(closed);
        Assert.StartsWith("250 2.0.0 1 octets received\r\n", text, StringComparison.Ordinal);
        Assert.EndsWith(Timeout421 + "\r\n", text, StringComparison.Ordinal);
        Assert.InRange(sw.Elapsed.TotalSeconds, 0.9, 4);
        Assert.True(maxGap < TimeSpan.FromMilliseconds(800), $"gap {maxGap}");
        Assert.True(sent < chunks.Length);
        Assert.Single(t.Store.Messages);
        await Hostile.WaitForAsync(() => t.Store.Aborted == 1);
    }

    [Fact]
    public async Task Data_pipelined_behind_the_DATA_line_earns_its_time()
    {
        // 2000 bytes sent with the DATA line earn 2 s on top of the 1 s data time: the 2 s trickle
        // that follows fits (were they not counted, 1 s would end it).
        await using var t = TestServer.Start(l => l with { DataTimeout = TimeSpan.FromSeconds(1), MinDataRate = 1000 });
        using var s = await Hostile.ConnectFromAsync(t.Relay, 5);
        var head = "EHLO client.example\r\nMAIL FROM:<piped@client.example>\r\nRCPT TO:<b@ours.example>\r\nDATA\r\n"
            + string.Concat(Enumerable.Repeat(new string('z', 98) + "\r\n", 20));
        await s.SendAsync(Encoding.ASCII.GetBytes(head), SocketFlags.None);
        var sw = Stopwatch.StartNew();
        var (sent, _) = await Hostile.Trickle(s, Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("zz\r\n", 8)) + ".\r\n"), TimeSpan.FromMilliseconds(250), () => false, chunk: 4);
        Assert.Equal(35, sent);
        var text = await Hostile.ReadUntilAsync(s, "250 2.0.0 OK", TimeSpan.FromSeconds(10));
        Assert.True(sw.Elapsed > TimeSpan.FromSeconds(1.5), $"trickle took only {sw.Elapsed}");
        Assert.Contains("250 2.0.0 OK", text, StringComparison.Ordinal);
        Assert.DoesNotContain("421", text, StringComparison.Ordinal);
        Assert.Single(t.Store.Messages);
    }

    [Fact]
    public async Task A_commit_slower_than_the_data_deadline_still_gets_its_250()
    {
        // The store's commit (an fsync) is the server's time: the client's data deadline must not cut
        // the connection between a durable commit and its 250 (the client would send the message again).
        await using var t = TestServer.Start(l => l with { DataTimeout = TimeSpan.FromSeconds(1) });
        t.Store.CommitDelay = TimeSpan.FromSeconds(2);
        await using var c = await Hostile.GreetedAsync(t.Relay);
        await c.CommandAsync("MAIL FROM:<fsync@client.example>");
        await c.CommandAsync("RCPT TO:<b@ours.example>");
        Assert.StartsWith("354", await c.CommandAsync("DATA"), StringComparison.Ordinal);
        Assert.StartsWith("250 2.0.0 OK", await c.CommandAsync("slow disk\r\n."), StringComparison.Ordinal);
        Assert.Single(t.Store.Messages);
        Assert.Equal("250 2.0.0 OK", await c.CommandAsync("NOOP"));
    }

    [Fact]
    public async Task An_expired_deadline_is_answered_with_421_never_a_bare_close()
    {
        // A deadline already past when the read is about to start (here: no time at all) must close with
        // the 421 timeout reply, like any timeout, not tear the connection down silently.
        await using var t = TestServer.Start(l => l with { CommandTimeout = TimeSpan.Zero });
        for (var i = 0; i < 40; i++)
        {
            using var s = await Hostile.ConnectFromAsync(t.Relay, 6 + i);
            var (text, closed) = await Hostile.ReadToCloseAsync(s, TimeSpan.FromSeconds(10));
            Assert.True(closed);
            Assert.EndsWith("\r\n" + Timeout421 + "\r\n", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Whole_commands_slower_than_the_timeout_are_fine_one_by_one()
    {
        // The deadline is per command: a patient client sending whole commands is not cut.
        // 8 x 400 ms idle in all, well past the 2 s timeout, and 1.6 s to spare for each command.
        await using var t = TestServer.Start(l => l with { CommandTimeout = TimeSpan.FromSeconds(2) });
        await using var c = await Hostile.GreetedAsync(t.Relay);
        for (var i = 0; i < 8; i++)
        {
            await Task.Delay(400);
            Assert.Equal("250 2.1.0 Sender OK", await c.CommandAsync("MAIL FROM:<a@client.example>"));
            Assert.Equal("250 2.0.0 Reset", await c.CommandAsync("RSET"));
        }
    }

    [Fact]
    public async Task Noop_loop_is_cut_by_the_junk_limit_and_a_message_resets_it()
    {
        await using var t = TestServer.Start(l => l with { MaxJunkCommands = 20, MaxErrors = 3 });
        await using var c = await Hostile.GreetedAsync(t.Relay);
        for (var i = 0; i < 20; i++)
        {
            Assert.StartsWith("250 2.0.0", await c.CommandAsync(i % 2 == 0 ? "NOOP" : "RSET"), StringComparison.Ordinal);
        }

        // An accepted message resets the count: relays reusing a connection send RSET between messages.
        await c.CommandAsync("MAIL FROM:<a@client.example>");
        await c.CommandAsync("RCPT TO:<b@ours.example>");
        await c.CommandAsync("DATA");
        Assert.StartsWith("250 2.0.0 OK", await c.CommandAsync("hi\r\n."), StringComparison.Ordinal);
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal("250 2.0.0 OK", await c.CommandAsync("NOOP"));
        }

        // Past the limit each junk command is still answered, and counts as an error.
        for (var i = 0; i < 3; i++)
        {
            Assert.StartsWith("2", await c.CommandAsync(i == 1 ? "VRFY x" : "HELP"), StringComparison.Ordinal);
        }

        Assert.Equal("421 4.7.0 mx.tern.test Too many errors, closing connection", await c.CommandAsync("NOOP"));
        Assert.True(await c.IsClosedAsync());
    }

    [Fact]
    public async Task Repeated_ehlo_is_junk_until_a_message_is_accepted()
    {
        // EHLO resets the transaction: alternating it with MAIL moves no mail and, not being junk,
        // would loop forever. The first EHLO, and the first after an accepted message, are not junk.
        await using var t = TestServer.Start(l => l with { MaxJunkCommands = 4, MaxErrors = 2 });
        await using var c = await Hostile.GreetedAsync(t.Relay);
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal("250 2.1.0 Sender OK", await c.CommandAsync("MAIL FROM:<a@client.example>"));
            Assert.StartsWith("250", await c.CommandAsync(i % 2 == 0 ? "EHLO client.example" : "HELO client.example"), StringComparison.Ordinal);
        }

        await c.CommandAsync("MAIL FROM:<a@client.example>");
        await c.CommandAsync("RCPT TO:<b@ours.example>");
        await c.CommandAsync("DATA");
        Assert.StartsWith("250 2.0.0 OK", await c.CommandAsync("hi\r\n."), StringComparison.Ordinal);
        for (var i = 0; i < 5 + 2; i++)
        {
            Assert.StartsWith("250", await c.CommandAsync("EHLO client.example"), StringComparison.Ordinal);
        }

        Assert.Equal("421 4.7.0 mx.tern.test Too many errors, closing connection", await c.CommandAsync("EHLO client.example"));
        Assert.True(await c.IsClosedAsync());
    }

    [Fact]
    public async Task Many_slowloris_clients_time_out_while_a_normal_client_is_served()
    {
        // 5 s: all 200 connect (each deadline starts with its greeting) and the normal client's commands get
        // through before the first is cut, on a loaded machine too.
        await using var t = TestServer.Start(l => l with { CommandTimeout = TimeSpan.FromSeconds(5) });
        var sockets = new List<Socket>();
        for (var i = 0; i < 200; i++)
        {
            sockets.Add(await Hostile.ConnectFromAsync(t.Relay, i));
        }

        using var stop = new CancellationTokenSource();
        var trickle = Task.Run(async () =>
        {
            var b = "E"u8.ToArray();
            while (!stop.IsCancellationRequested)
            {
                foreach (var s in sockets)
                {
                    try
                    {
                        await s.SendAsync(b, SocketFlags.None);
                    }
                    catch (SocketException)
                    {
                        // Cut by the server: expected.
                    }
                }

                await Task.Delay(100);
            }
        });

        await Hostile.WaitForAsync(() => t.Server.ActiveSessions == 200);
        await Hostile.NormalTransactionAsync(t, "during-slowloris");
        await Hostile.WaitForAsync(() => t.Server.ActiveSessions == 0, TimeSpan.FromSeconds(20));
        await stop.CancelAsync();
        await trickle;
        foreach (var s in sockets)
        {
            s.Dispose();
        }
    }
}
