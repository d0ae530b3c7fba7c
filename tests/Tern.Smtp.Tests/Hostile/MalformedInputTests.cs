using System.Text;

namespace Tern.Smtp.Tests.Hostile;

/// <summary>
/// Bytes no honest client sends: huge lines, NUL, invalid UTF-8, bare CR and bare LF (RFC 5321 2.3.8),
/// SMTP smuggling terminators. Each gets its reply code, the session stays usable where it can, and
/// nothing is stored that should not be.
/// </summary>
public sealed class MalformedInputTests : IAsyncLifetime
{
    private TestServer _t = null!;

    public Task InitializeAsync()
    {
        _t = TestServer.Start(l => l with { MaxErrors = 50 });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _t.DisposeAsync();

    [Fact]
    public async Task One_megabyte_command_line_gets_500_once_and_the_session_goes_on()
    {
        await using var c = await Hostile.GreetedAsync(_t.Relay);
        var huge = new byte[1 << 20];
        Array.Fill(huge, (byte)'A');
        "MAIL FROM:<"u8.CopyTo(huge);
        await c.SendAsync(huge);
        await c.SendAsync("@x.example>\r\n");
        Assert.Equal("500 5.5.2 Line too long", await c.ReadReplyAsync());
        Assert.Equal("250 2.1.0 Sender OK", await c.CommandAsync("MAIL FROM:<a@client.example>"));

        // One megabyte with no line end at all, then a normal command on the next line.
        Array.Fill(huge, (byte)'B');
        await c.SendAsync(huge);
        Assert.Equal("500 5.5.2 Line too long", await c.ReadReplyAsync());
        await c.SendAsync("\r\nRSET\r\n");
        Assert.Equal("250 2.0.0 Reset", await c.ReadReplyAsync());
    }

    [Theory]
    [InlineData("NO\0OP", "500 5.5.1 Command not recognized")]
    [InlineData("NOOP\0", "500 5.5.1 Command not recognized")]
    [InlineData("EHLO a\0b.example", "501 5.5.4 EHLO/HELO requires a domain or address literal")]
    [InlineData("MAIL FROM:<a\0b@client.example>", "501 5.1.7 Bad sender address syntax")]
    [InlineData("MAIL FROM:<ab@client.example>\0", "501 5.5.4 Syntax error in parameters or arguments")]
    [InlineData("MAIL FROM:<a@client\0.example>", "501 5.1.7 Bad sender address syntax")]
    public async Task Nul_bytes_in_commands_are_refused(string command, string reply)
    {
        await using var c = await Hostile.GreetedAsync(_t.Relay);
        Assert.Equal(reply, await c.CommandAsync(command));
        Assert.Equal("250 2.0.0 OK", await c.CommandAsync("NOOP"));
    }

    [Fact]
    public async Task Nul_in_a_recipient_is_refused()
    {
        await using var c = await Hostile.GreetedAsync(_t.Relay);
        await c.CommandAsync("MAIL FROM:<a@client.example>");
        Assert.Equal("501 5.1.3 Bad recipient address syntax", await c.CommandAsync("RCPT TO:<b\0@ours.example>"));
        Assert.Equal("501 5.1.3 Bad recipient address syntax", await c.CommandAsync("RCPT TO:<b@ours\0.example>"));
    }

    [Theory]
    [InlineData(new byte[] { 0xC3, 0x28 })] // invalid 2-byte sequence
    [InlineData(new byte[] { 0xFF, 0xFE })] // never valid in UTF-8
    [InlineData(new byte[] { 0xC0, 0xAF })] // overlong '/'
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 })] // UTF-16 surrogate
    [InlineData(new byte[] { 0xE2, 0x82 })] // truncated sequence
    public async Task Invalid_utf8_in_addresses_is_refused_with_or_without_smtputf8(byte[] bad)
    {
        await using var c = await Hostile.GreetedAsync(_t.Relay);
        var sender = Encoding.ASCII.GetBytes("MAIL FROM:<a").Concat(bad).Concat(Encoding.ASCII.GetBytes("@client.example>\r\n")).ToArray();
        await c.SendAsync(sender);
        Assert.StartsWith("5", await c.ReadReplyAsync(), StringComparison.Ordinal);
        var withUtf8 = Encoding.ASCII.GetBytes("MAIL FROM:<a").Concat(bad).Concat(Encoding.ASCII.GetBytes("@client.example> SMTPUTF8\r\n")).ToArray();
        await c.SendAsync(withUtf8);
        Assert.StartsWith("5", await c.ReadReplyAsync(), StringComparison.Ordinal);

        Assert.Equal("250 2.1.0 Sender OK", await c.CommandAsync("MAIL FROM:<a@client.example>"));
        var rcpt = Encoding.ASCII.GetBytes("RCPT TO:<b").Concat(bad).Concat(Encoding.ASCII.GetBytes("@ours.example>\r\n")).ToArray();
        await c.SendAsync(rcpt);
        Assert.StartsWith("5", await c.ReadReplyAsync(), StringComparison.Ordinal);
        var domain = Encoding.ASCII.GetBytes("RCPT TO:<b@ours").Concat(bad).Concat(Encoding.ASCII.GetBytes(".example>\r\n")).ToArray();
        await c.SendAsync(domain);
        Assert.StartsWith("5", await c.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.Equal("503 5.5.1 Need RCPT command first", await c.CommandAsync("DATA"));
    }

    [Fact]
    public async Task Invalid_utf8_and_nul_in_helo_and_verbs()
    {
        await using var c = await Hostile.GreetedAsync(_t.Relay);
        await c.SendAsync(Encoding.Latin1.GetBytes("EHLO \u00ff\u00fe.example\r\n"));
        Assert.Equal("501 5.5.4 EHLO/HELO requires a domain or address literal", await c.ReadReplyAsync());
        Assert.StartsWith("250", await c.CommandAsync("EHLO b\u00fccher.example"), StringComparison.Ordinal);
        await c.SendAsync([0xC3, 0x28, (byte)'\r', (byte)'\n']);
        Assert.Equal("500 5.5.1 Command not recognized", await c.ReadReplyAsync());
    }

    [Fact]
    public async Task Nul_and_invalid_utf8_in_data_are_stored_byte_exact()
    {
        // Message content is opaque to SMTP (8BITMIME, RFC 6152): stored as sent, flagged 8-bit.
        await using var c = await Hostile.GreetedAsync(_t.Relay);
        await c.CommandAsync("MAIL FROM:<nul@client.example>");
        await c.CommandAsync("RCPT TO:<b@ours.example>");
        await c.CommandAsync("DATA");
        var body = Encoding.Latin1.GetBytes("Subject: nul\r\n\r\na\0b\u00ff\u00c3(c\r\n");
        await c.SendAsync([.. body, .. ".\r\n"u8]);
        Assert.StartsWith("250 2.0.0 OK", await c.ReadReplyAsync(), StringComparison.Ordinal);
        var m = Assert.Single(_t.Store.Messages, m => m.Sender == "nul@client.example");
        Assert.Equal(body, m.Body[^body.Length..]);
        Assert.True(m.EightBit);
    }

    [Theory]
    [InlineData("NOOP\rRSET\r\n", "500 5.5.1 Command not recognized")]
    [InlineData("MAIL FROM:<a@client.example>\rRCPT TO:<x@elsewhere.example>\r\n", "501 5.5.4 Syntax error in parameters or arguments")]
    [InlineData("MAIL FROM:<a@client.example\r>\r\n", "501 5.1.7 Bad sender address syntax")]
    public async Task Bare_cr_in_commands_is_not_a_line_end(string input, string reply)
    {
        await using var c = await Hostile.GreetedAsync(_t.Relay);
        await c.SendAsync(input);
        Assert.Equal(reply, await c.ReadReplyAsync());
        Assert.Equal("250 2.0.0 OK", await c.CommandAsync("NOOP"));
    }

    [Fact]
    public async Task Bare_lf_ends_a_command_line_as_it_does_in_other_servers()
    {
        // RFC 5321 2.3.8 asks clients for CRLF; commands ended by LF alone are accepted (as Postfix
        // does), which is harmless: a command line cannot smuggle a message.
        await using var c = await Hostile.GreetedAsync(_t.Relay);
        await c.SendAsync("MAIL FROM:<lf@client.example>\nRCPT TO:<b@ours.example>\nDATA\n");
        Assert.Equal("250 2.1.0 Sender OK", await c.ReadReplyAsync());
        Assert.Equal("250 2.1.5 Recipient OK", await c.ReadReplyAsync());
        Assert.StartsWith("354", await c.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.StartsWith("250 2.0.0 OK", await c.CommandAsync("body\r\n."), StringComparison.Ordinal);
    }

    /// <summary>
    /// SMTP smuggling (CVE-2023-51764 and kin): endings other than CRLF.CRLF must not end the data,
    /// so a second message hidden after them is never a separate message; the message with the bare
    /// CR/LF is refused with 550 5.5.2 once the real terminator arrives.
    /// </summary>
    [Theory]
    [InlineData("\n.\r\n")]
    [InlineData("\r.\r\n")]
    [InlineData("\n.\n")]
    [InlineData("\r\n.\n")]
    [InlineData("\r\n.\r")]
    [InlineData("\r.\r")]
    [InlineData("\n.\r")]
    public async Task Smuggled_terminators_do_not_end_the_data(string ending)
    {
        await using var c = await Hostile.GreetedAsync(_t.Relay);
        var tag = Guid.NewGuid().ToString("N");
        await c.CommandAsync($"MAIL FROM:<{tag}@client.example>");
        await c.CommandAsync("RCPT TO:<b@ours.example>");
        await c.CommandAsync("DATA");
        var smuggled = $"Subject: outer\r\n\r\nouter{ending}MAIL FROM:<smuggled@client.example>\r\nRCPT TO:<victim@ours.example>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n";
        await c.SendAsync(smuggled);
        Assert.Equal("550 5.5.2 Bare CR or LF in message data, use CRLF line endings", await c.ReadReplyAsync());

        // Exactly one reply: the smuggled commands were message data, not commands.
        Assert.Equal("250 2.0.0 OK", await c.CommandAsync("NOOP"));
        Assert.DoesNotContain(_t.Store.Messages, m => m.Sender == tag + "@client.example" || m.Sender == "smuggled@client.example");
    }

    [Theory]
    [InlineData("line\rwith bare cr\r\n")]
    [InlineData("line\nwith bare lf\r\n")]
    [InlineData("ends with cr\r")]
    public async Task Bare_cr_or_lf_inside_data_is_refused_and_the_session_goes_on(string content)
    {
        await using var c = await Hostile.GreetedAsync(_t.Relay);
        await c.CommandAsync("MAIL FROM:<bare@client.example>");
        await c.CommandAsync("RCPT TO:<b@ours.example>");
        await c.CommandAsync("DATA");
        await c.SendAsync(content + "\r\n.\r\n");
        Assert.Equal("550 5.5.2 Bare CR or LF in message data, use CRLF line endings", await c.ReadReplyAsync());
        await c.CommandAsync("MAIL FROM:<good@client.example>");
        await c.CommandAsync("RCPT TO:<b@ours.example>");
        await c.CommandAsync("DATA");
        Assert.StartsWith("250 2.0.0 OK", await c.CommandAsync("fine\r\n."), StringComparison.Ordinal);
        Assert.DoesNotContain(_t.Store.Messages, m => m.Sender == "bare@client.example");
    }
}
