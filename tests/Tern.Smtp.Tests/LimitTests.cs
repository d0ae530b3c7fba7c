using Tern.Smtp.Server;

namespace Tern.Smtp.Tests;

/// <summary>Every limit answers with its RFC code and leaves the session (or the next one) working.</summary>
public sealed class LimitTests
{
    private static async Task<RawClient> Greeted(TestServer t)
    {
        var c = await RawClient.ConnectAsync(t.Relay);
        await c.ReadReplyAsync();
        await c.CommandAsync("EHLO client.example");
        return c;
    }

    [Fact]
    public async Task Too_many_recipients_gets_452_and_the_accepted_ones_are_kept()
    {
        await using var t = TestServer.Start(l => l with { MaxRecipients = 3 });
        await using var c = await Greeted(t);
        await c.CommandAsync("MAIL FROM:<a@b.example>");
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal("250 2.1.5 Recipient OK", await c.CommandAsync($"RCPT TO:<r{i}@d.example>"));
        }

        Assert.Equal("452 4.5.3 Too many recipients", await c.CommandAsync("RCPT TO:<r3@d.example>"));
        await c.CommandAsync("DATA");
        Assert.StartsWith("250 2.0.0 OK", await c.CommandAsync("x\r\n."), StringComparison.Ordinal);
        Assert.Equal(3, Assert.Single(t.Store.Messages).Recipients.Length);
    }

    [Fact]
    public async Task Message_over_the_size_limit_is_refused_after_the_data()
    {
        await using var t = TestServer.Start(l => l with { MaxMessageSize = 100 });
        await using var c = await Greeted(t);
        Assert.Contains("250-SIZE 100", await c.CommandAsync("EHLO again.example"), StringComparison.Ordinal);
        await c.CommandAsync("MAIL FROM:<a@b.example>");
        await c.CommandAsync("RCPT TO:<c@d.example>");
        await c.CommandAsync("DATA");
        Assert.Equal("552 5.3.4 Message size exceeds fixed limit", await c.CommandAsync(string.Concat(Enumerable.Repeat("0123456789012345678\r\n", 10)) + "."));
        Assert.Empty(t.Store.Messages);
        Assert.Equal(1, t.Store.Aborted);

        await c.CommandAsync("MAIL FROM:<a@b.example> SIZE=50");
        await c.CommandAsync("RCPT TO:<c@d.example>");
        await c.CommandAsync("DATA");
        Assert.StartsWith("250 2.0.0 OK", await c.CommandAsync("small\r\n."), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bdat_over_the_size_limit_is_refused()
    {
        await using var t = TestServer.Start(l => l with { MaxMessageSize = 10 });
        await using var c = await Greeted(t);
        await c.CommandAsync("MAIL FROM:<a@b.example>");
        await c.CommandAsync("RCPT TO:<c@d.example>");
        await c.SendAsync("BDAT 20 LAST\r\n01234567890123456789");
        Assert.Equal("552 5.3.4 Message size exceeds fixed limit", await c.ReadReplyAsync());
        Assert.Equal("250 2.0.0 OK", await c.CommandAsync("NOOP"));
    }

    [Fact]
    public async Task Data_line_over_1000_octets_is_refused()
    {
        await using var t = TestServer.Start();
        await using var c = await Greeted(t);
        await c.CommandAsync("MAIL FROM:<a@b.example>");
        await c.CommandAsync("RCPT TO:<c@d.example>");
        await c.CommandAsync("DATA");
        Assert.Equal("500 5.5.2 Line too long in message data (RFC 5321 4.5.3.1.6)", await c.CommandAsync(new string('x', 1001) + "\r\n."));
        Assert.Empty(t.Store.Messages);
    }

    [Fact]
    public async Task Command_line_over_the_limit_is_refused_and_skipped()
    {
        await using var t = TestServer.Start(l => l with { MaxCommandLine = 512 });
        await using var c = await Greeted(t);
        Assert.Equal("500 5.5.2 Line too long", await c.CommandAsync("NOOP " + new string('x', 5000)));
        Assert.Equal("250 2.0.0 OK", await c.CommandAsync("NOOP"));
    }

    [Fact]
    public async Task Too_many_errors_close_the_session_with_421()
    {
        await using var t = TestServer.Start(l => l with { MaxErrors = 3 });
        await using var c = await Greeted(t);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal("500 5.5.1 Command not recognized", await c.CommandAsync("BOGUS"));
        }

        Assert.Equal("500 5.5.1 Command not recognized", await c.CommandAsync("BOGUS"));
        Assert.Equal("421 4.7.0 mx.tern.test Too many errors, closing connection", await c.ReadReplyAsync());
        Assert.True(await c.IsClosedAsync());
    }

    [Fact]
    public async Task Error_limit_reached_by_a_refused_message_closes_the_session()
    {
        await using var t = TestServer.Start(l => l with { MaxErrors = 1 });
        await using var c = await Greeted(t);
        Assert.Equal("500 5.5.1 Command not recognized", await c.CommandAsync("FOO"));
        await c.CommandAsync("MAIL FROM:<a@b.example>");
        await c.CommandAsync("RCPT TO:<c@d.example>");
        await c.CommandAsync("DATA");
        Assert.Equal("550 5.5.2 Bare CR or LF in message data, use CRLF line endings", await c.CommandAsync("bare\nlf\r\n."));
        Assert.Equal("421 4.7.0 mx.tern.test Too many errors, closing connection", await c.ReadReplyAsync());
        Assert.True(await c.IsClosedAsync());
    }

    [Fact]
    public async Task Client_that_never_reads_its_replies_is_disconnected()
    {
        await using var t = TestServer.Start(l => l with { CommandTimeout = TimeSpan.FromMilliseconds(500) });
        using var tcp = new System.Net.Sockets.TcpClient { ReceiveBufferSize = 4096 };
        await tcp.ConnectAsync(t.Relay);
        var stream = tcp.GetStream();
        var noops = System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("NOOP\r\n", 100_000)));
        try
        {
            // Pipeline far more than the socket buffers hold, and never read a reply.
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            for (var i = 0; i < 20; i++)
            {
                await stream.WriteAsync(noops, cts.Token);
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            // The server gave up on us (or our writes blocked because it stopped reading): both expected.
        }

        await WaitFor(() => t.Server.ActiveSessions == 0);
    }

    [Fact]
    public void Limits_count_ipv6_clients_by_their_64()
    {
        Assert.Equal(System.Net.IPAddress.Parse("2001:db8:1:2::"), ClientAddress.LimitKey(System.Net.IPAddress.Parse("2001:db8:1:2:aaaa:bbbb:cccc:dddd")));
        Assert.Equal(System.Net.IPAddress.Parse("192.0.2.7"), ClientAddress.LimitKey(System.Net.IPAddress.Parse("192.0.2.7")));
        Assert.Equal(System.Net.IPAddress.Parse("192.0.2.7"), ClientAddress.LimitKey(System.Net.IPAddress.Parse("::ffff:192.0.2.7")));
    }

    [Fact]
    public async Task Idle_client_is_timed_out_with_421()
    {
        // 2 s: the greeting and EHLO must get through before it, on a loaded machine too.
        await using var t = TestServer.Start(l => l with { CommandTimeout = TimeSpan.FromSeconds(2) });
        await using var c = await Greeted(t);
        Assert.Equal("421 4.4.2 mx.tern.test Timeout waiting for input, closing connection", await c.ReadReplyAsync());
        Assert.True(await c.IsClosedAsync());
    }

    [Fact]
    public async Task Stalled_data_is_timed_out_and_nothing_is_stored()
    {
        await using var t = TestServer.Start(l => l with { DataTimeout = TimeSpan.FromMilliseconds(300) });
        await using var c = await Greeted(t);
        await c.CommandAsync("MAIL FROM:<a@b.example>");
        await c.CommandAsync("RCPT TO:<c@d.example>");
        await c.CommandAsync("DATA");
        await c.SendAsync("partial line without end");
        Assert.Equal("421 4.4.2 mx.tern.test Timeout waiting for input, closing connection", await c.ReadReplyAsync());
        Assert.Empty(t.Store.Messages);
        await WaitFor(() => t.Store.Aborted == 1);
    }

    [Fact]
    public async Task Per_ip_connection_limit_gets_421_and_frees_up()
    {
        await using var t = TestServer.Start(l => l with { MaxConnectionsPerIp = 2 });
        var a = await Greeted(t);
        var b = await Greeted(t);
        await using (var c = await RawClient.ConnectAsync(t.Relay))
        {
            Assert.Equal("421 4.7.0 mx.tern.test Too many connections from your address, try again later", await c.ReadReplyAsync());
        }

        await a.CommandAsync("QUIT");
        await a.DisposeAsync();
        await WaitFor(() => t.Server.ActiveSessions == 1);
        await using var d = await RawClient.ConnectAsync(t.Relay);
        Assert.StartsWith("220", await d.ReadReplyAsync(), StringComparison.Ordinal);
        await b.DisposeAsync();
    }

    [Fact]
    public async Task Client_disconnect_mid_data_leaves_nothing()
    {
        await using var t = TestServer.Start();
        var c = await Greeted(t);
        await c.CommandAsync("MAIL FROM:<a@b.example>");
        await c.CommandAsync("RCPT TO:<c@d.example>");
        await c.CommandAsync("DATA");
        await c.SendAsync("Subject: half\r\n\r\nhalf a message");
        await c.DisposeAsync();
        await WaitFor(() => t.Server.ActiveSessions == 0);
        Assert.Empty(t.Store.Messages);
        Assert.Equal(1, t.Store.Aborted);
    }

    internal static async Task WaitFor(Func<bool> condition)
    {
        for (var i = 0; i < 500 && !condition(); i++)
        {
            await Task.Delay(10);
        }

        Assert.True(condition());
    }
}
