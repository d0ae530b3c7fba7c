using System.Text;

namespace Tern.Smtp.Tests.Hostile;

/// <summary>BDAT (RFC 3030) with sizes that lie: the chunk is exactly the declared octets, whatever they contain.</summary>
public sealed class BdatAbuseTests : IAsyncLifetime
{
    private TestServer _t = null!;

    public Task InitializeAsync()
    {
        _t = TestServer.Start(l => l with { MaxMessageSize = 1 << 20, DataTimeout = TimeSpan.FromSeconds(3) });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _t.DisposeAsync();

    private async Task<RawClient> InTransaction(string sender)
    {
        var c = await Hostile.GreetedAsync(_t.Relay);
        Assert.Equal("250 2.1.0 Sender OK", await c.CommandAsync($"MAIL FROM:<{sender}@client.example>"));
        Assert.Equal("250 2.1.5 Recipient OK", await c.CommandAsync("RCPT TO:<b@ours.example>"));
        return c;
    }

    [Fact]
    public async Task Declared_size_larger_than_sent_then_disconnect_stores_nothing()
    {
        var before = _t.Store.Aborted;
        await using (var c = await InTransaction("short"))
        {
            await c.SendAsync("BDAT 1000 LAST\r\nonly a few bytes");
        }

        await Hostile.WaitForAsync(() => _t.Store.Aborted > before);
        Assert.DoesNotContain(_t.Store.Messages, m => m.Sender == "short@client.example");
        await Hostile.WaitForAsync(() => _t.Server.ActiveSessions == 0);
    }

    [Fact]
    public async Task Declared_size_larger_than_sent_then_silence_times_out()
    {
        await using var c = await InTransaction("stall");
        await c.SendAsync("BDAT 1000 LAST\r\nonly a few bytes");
        Assert.Equal("421 4.4.2 mx.tern.test Timeout waiting for input, closing connection", await c.ReadReplyAsync());
        Assert.True(await c.IsClosedAsync());
        Assert.DoesNotContain(_t.Store.Messages, m => m.Sender == "stall@client.example");
    }

    [Fact]
    public async Task Declared_size_smaller_than_sent_leaves_the_rest_to_be_parsed_as_commands()
    {
        await using var c = await InTransaction("smaller");

        // 10 octets of chunk; "RCPT TO:<x@elsewhere.example>" that follows is a command, not data.
        await c.SendAsync("BDAT 10 LAST\r\n0123456789QUIT-NOT\r\nNOOP\r\n");
        Assert.StartsWith("250 2.0.0 OK", await c.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.Equal("500 5.5.1 Command not recognized", await c.ReadReplyAsync());
        Assert.Equal("250 2.0.0 OK", await c.ReadReplyAsync());
        var m = Assert.Single(_t.Store.Messages, m => m.Sender == "smaller@client.example");
        Assert.EndsWith("0123456789", m.Text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("BDAT 99999999999999999999999 LAST")]
    [InlineData("BDAT 18446744073709551615")]
    [InlineData("BDAT -5")]
    [InlineData("BDAT ten")]
    [InlineData("BDAT 0x10")]
    [InlineData("BDAT +10")]
    [InlineData("BDAT")]
    public async Task Unreadable_sizes_close_the_session(string command)
    {
        await using var c = await InTransaction("nonnumeric");
        var reply = await c.CommandAsync(command);
        Assert.StartsWith("501 5.5.4 BDAT requires a chunk size and optional LAST", reply, StringComparison.Ordinal);
        Assert.Contains("421 4.5.0", reply + await c.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.True(await c.IsClosedAsync());
    }

    [Fact]
    public async Task Huge_declared_size_is_streamed_not_buffered_and_cut_by_the_data_deadline()
    {
        await using var c = await InTransaction("huge");

        // 9 EB declared: the server streams what arrives and refuses at the size limit, holding nothing.
        await c.SendAsync("BDAT 9000000000000000000 LAST\r\n");
        var chunk = new byte[256 * 1024];
        Array.Fill(chunk, (byte)'x');
        for (var i = 0; i < 8; i++)
        {
            await c.SendAsync(chunk);
        }

        // The chunk can never end: the session must be cut by the data deadline, and nothing kept.
        Assert.Equal("421 4.4.2 mx.tern.test Timeout waiting for input, closing connection", await c.ReadReplyAsync(TimeSpan.FromSeconds(15)));
        Assert.DoesNotContain(_t.Store.Messages, m => m.Sender == "huge@client.example");
    }

    [Fact]
    public async Task Bdat_0_last_ends_the_message()
    {
        await using var c = await InTransaction("zero");
        await c.SendAsync("BDAT 5\r\nhello");
        Assert.Equal("250 2.0.0 5 octets received", await c.ReadReplyAsync());
        Assert.StartsWith("250 2.0.0 OK", await c.CommandAsync("BDAT 0 LAST"), StringComparison.Ordinal);
        Assert.EndsWith("hello", Assert.Single(_t.Store.Messages, m => m.Sender == "zero@client.example").Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bdat_0_last_alone_is_an_empty_message_and_outside_a_transaction_is_refused()
    {
        await using var c = await Hostile.GreetedAsync(_t.Relay);
        Assert.Equal("503 5.5.1 Need MAIL command first", await c.CommandAsync("BDAT 0 LAST"));
        await c.CommandAsync("MAIL FROM:<empty@client.example>");
        Assert.Equal("503 5.5.1 Need RCPT command first", await c.CommandAsync("BDAT 0 LAST"));
        await c.CommandAsync("RCPT TO:<b@ours.example>");
        Assert.StartsWith("250 2.0.0 OK", await c.CommandAsync("BDAT 0 LAST"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bdat_chunk_outside_a_transaction_is_read_past_not_executed()
    {
        await using var c = await Hostile.GreetedAsync(_t.Relay);

        // The chunk holds commands; they are data to be skipped, not commands (RFC 3030 2).
        var payload = "MAIL FROM:<x@client.example>\r\nRCPT TO:<v@elsewhere.example>\r\n";
        await c.SendAsync($"BDAT {Encoding.ASCII.GetByteCount(payload)} LAST\r\n{payload}NOOP\r\n");
        Assert.Equal("503 5.5.1 Need MAIL command first", await c.ReadReplyAsync());
        Assert.Equal("250 2.0.0 OK", await c.ReadReplyAsync());
    }

    [Fact]
    public async Task Data_after_bdat_and_bdat_after_data_do_not_mix()
    {
        await using var c = await InTransaction("mix");
        await c.SendAsync("BDAT 3\r\nabc");
        Assert.Equal("250 2.0.0 3 octets received", await c.ReadReplyAsync());
        Assert.Equal("503 5.5.1 DATA not allowed after BDAT", await c.CommandAsync("DATA"));
        Assert.StartsWith("250 2.0.0 OK", await c.CommandAsync("BDAT 0 LAST"), StringComparison.Ordinal);

        // DATA then "BDAT" inside the data: just content.
        await c.CommandAsync("MAIL FROM:<mix2@client.example>");
        await c.CommandAsync("RCPT TO:<b@ours.example>");
        Assert.StartsWith("354", await c.CommandAsync("DATA"), StringComparison.Ordinal);
        Assert.StartsWith("250 2.0.0 OK", await c.CommandAsync("BDAT 4 LAST\r\nabcd\r\n."), StringComparison.Ordinal);
        Assert.Contains("BDAT 4 LAST", Assert.Single(_t.Store.Messages, m => m.Sender == "mix2@client.example").Text, StringComparison.Ordinal);
        Assert.Equal("503 5.5.1 Need MAIL command first", await c.CommandAsync("BDAT 0 LAST"));
    }

    [Fact]
    public async Task Bdat_with_garbage_after_the_size_is_refused()
    {
        await using var c = await InTransaction("garbage");
        Assert.Equal("501 5.5.4 BDAT requires a chunk size and optional LAST", await c.CommandAsync("BDAT 0 LASTX"));
        Assert.Equal("501 5.5.4 BDAT requires a chunk size and optional LAST", await c.CommandAsync("BDAT 0 LAST NOW"));
        Assert.StartsWith("250 2.0.0 OK", await c.CommandAsync("BDAT 0 last"), StringComparison.Ordinal);
    }
}
