namespace Tern.Smtp.Tests;

/// <summary>Exact replies of a session over a real socket.</summary>
public sealed class SessionTests : IAsyncLifetime
{
    private TestServer _t = null!;

    public Task InitializeAsync()
    {
        _t = TestServer.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _t.DisposeAsync();

    private async Task<RawClient> Greeted(bool ehlo = true)
    {
        var c = await RawClient.ConnectAsync(_t.Relay);
        Assert.StartsWith("220 mx.tern.test ESMTP", await c.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.StartsWith("250", await c.CommandAsync(ehlo ? "EHLO client.example" : "HELO client.example"), StringComparison.Ordinal);
        return c;
    }

    [Fact]
    public async Task Ehlo_lists_extensions_and_starttls_before_tls()
    {
        await using var c = await RawClient.ConnectAsync(_t.Relay);
        await c.ReadReplyAsync();
        var ehlo = await c.CommandAsync("EHLO client.example");
        Assert.Equal(
            "250-mx.tern.test\n250-PIPELINING\n250-8BITMIME\n250-SMTPUTF8\n250-SIZE 52428800\n250-ENHANCEDSTATUSCODES\n250-CHUNKING\n250-BINARYMIME\n250-DSN\n250-STARTTLS\n250 LIMITS RCPTMAX=1000",
            ehlo);
    }

    [Fact]
    public async Task No_starttls_without_a_certificate()
    {
        await using var c = await RawClient.ConnectAsync(_t.RelayNoTls);
        await c.ReadReplyAsync();
        Assert.DoesNotContain("STARTTLS", await c.CommandAsync("EHLO client.example"), StringComparison.Ordinal);
        Assert.Equal("502 5.5.1 STARTTLS not available", await c.CommandAsync("STARTTLS"));
    }

    [Fact]
    public async Task Whole_transaction_is_stored_with_a_received_header()
    {
        await using var c = await Greeted();
        Assert.Equal("250 2.1.0 Sender OK", await c.CommandAsync("MAIL FROM:<alice@example.org> BODY=8BITMIME"));
        Assert.Equal("250 2.1.5 Recipient OK", await c.CommandAsync("RCPT TO:<bob@example.net> NOTIFY=FAILURE ORCPT=rfc822;bob@example.net"));
        Assert.Equal("250 2.1.5 Recipient OK", await c.CommandAsync("RCPT TO:<carol@example.net>"));
        Assert.StartsWith("354 ", await c.CommandAsync("DATA"), StringComparison.Ordinal);
        await c.SendAsync("Subject: hi\r\n\r\n..dot\r\nbody\r\n.\r\n");
        var reply = await c.ReadReplyAsync();
        Assert.StartsWith("250 2.0.0 OK id=T", reply, StringComparison.Ordinal);

        var m = Assert.Single(_t.Store.Messages);
        Assert.Equal("alice@example.org", m.Sender);
        Assert.Equal(["bob@example.net", "carol@example.net"], m.Recipients);
        Assert.Equal(["rfc822;bob@example.net", ""], m.Orcpts);
        Assert.EndsWith("\r\nSubject: hi\r\n\r\n.dot\r\nbody\r\n", m.Text, StringComparison.Ordinal);
        Assert.Matches(
            @"^Received: from client\.example \(\[127\.0\.0\.1\]\)\r\n\tby mx\.tern\.test \(Tern\) with ESMTP id T\d+; \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d \+0000\r\n",
            m.Text);
        Assert.Equal("250 2.0.0 OK", await c.CommandAsync("NOOP"));
        Assert.StartsWith("221 2.0.0", await c.CommandAsync("QUIT"), StringComparison.Ordinal);
        Assert.True(await c.IsClosedAsync());
    }

    [Fact]
    public async Task Pipelined_commands_are_answered_in_order()
    {
        await using var c = await RawClient.ConnectAsync(_t.Relay);
        await c.ReadReplyAsync();
        await c.SendAsync("EHLO a.example\r\nMAIL FROM:<a@a.example>\r\nRCPT TO:<b@b.example>\r\nRCPT TO:<bad>\r\nRCPT TO:<c@c.example>\r\nDATA\r\n");
        Assert.StartsWith("250-mx.tern.test", await c.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.Equal("250 2.1.0 Sender OK", await c.ReadReplyAsync());
        Assert.Equal("250 2.1.5 Recipient OK", await c.ReadReplyAsync());
        Assert.Equal("501 5.1.3 Bad recipient address syntax", await c.ReadReplyAsync());
        Assert.Equal("250 2.1.5 Recipient OK", await c.ReadReplyAsync());
        Assert.StartsWith("354", await c.ReadReplyAsync(), StringComparison.Ordinal);
        await c.SendAsync("x\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<d@d.example>\r\nDATA\r\ny\r\n.\r\nQUIT\r\n");
        Assert.StartsWith("250 2.0.0 OK id=", await c.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.Equal("250 2.1.0 Sender OK", await c.ReadReplyAsync());
        Assert.Equal("250 2.1.5 Recipient OK", await c.ReadReplyAsync());
        Assert.StartsWith("354", await c.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.StartsWith("250 2.0.0 OK id=", await c.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.StartsWith("221", await c.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.Equal(2, _t.Store.Messages.Count);
        Assert.Equal(["b@b.example", "c@c.example"], _t.Store.Messages.First().Recipients);
        Assert.Equal("", _t.Store.Messages.Last().Sender);
    }

    [Fact]
    public async Task Whole_session_fed_one_byte_at_a_time()
    {
        await using var c = await RawClient.ConnectAsync(_t.Relay);
        await c.ReadReplyAsync();
        var script = "EHLO a.example\r\nMAIL FROM:<a@a.example>\r\nRCPT TO:<b@b.example>\r\nDATA\r\nline one\r\n..two\r\n.\r\nQUIT\r\n"u8.ToArray();
        foreach (var b in script)
        {
            await c.SendAsync([b]);
        }

        Assert.StartsWith("250-", await c.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.StartsWith("250 2.1.0", await c.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.StartsWith("250 2.1.5", await c.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.StartsWith("354", await c.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.StartsWith("250 2.0.0 OK", await c.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.StartsWith("221", await c.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.EndsWith("\r\nline one\r\n.two\r\n", Assert.Single(_t.Store.Messages).Text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("MAIL FROM:<a@b.example>", "503 5.5.1 Send EHLO or HELO first")]
    [InlineData("RCPT TO:<a@b.example>", "503 5.5.1 Send EHLO or HELO first")]
    [InlineData("DATA", "503 5.5.1 Send EHLO or HELO first")]
    public async Task Commands_before_ehlo_are_out_of_sequence(string command, string reply)
    {
        await using var c = await RawClient.ConnectAsync(_t.Relay);
        await c.ReadReplyAsync();
        Assert.Equal(reply, await c.CommandAsync(command));
    }

    [Fact]
    public async Task Sequence_errors_and_rset()
    {
        await using var c = await Greeted();
        Assert.Equal("503 5.5.1 Need MAIL command first", await c.CommandAsync("RCPT TO:<a@b.example>"));
        Assert.Equal("503 5.5.1 Need MAIL command first", await c.CommandAsync("DATA"));
        Assert.Equal("250 2.1.0 Sender OK", await c.CommandAsync("MAIL FROM:<a@b.example>"));
        Assert.Equal("503 5.5.1 Sender already given", await c.CommandAsync("MAIL FROM:<a@b.example>"));
        Assert.Equal("503 5.5.1 Need RCPT command first", await c.CommandAsync("DATA"));
        Assert.Equal("250 2.0.0 Reset", await c.CommandAsync("RSET"));
        Assert.Equal("503 5.5.1 Need MAIL command first", await c.CommandAsync("RCPT TO:<a@b.example>"));
        Assert.Equal("501 5.5.4 No arguments allowed", await c.CommandAsync("RSET now"));
        Assert.Equal("500 5.5.1 Command not recognized", await c.CommandAsync("FROB"));
        Assert.Equal("501 5.5.4 EHLO/HELO requires a domain or address literal", await c.CommandAsync("EHLO"));
    }

    [Fact]
    public async Task Vrfy_expn_help_noop()
    {
        await using var c = await Greeted();
        Assert.StartsWith("252 2.5.0", await c.CommandAsync("VRFY bob"), StringComparison.Ordinal);
        Assert.Equal("501 5.5.4 Syntax error in parameters or arguments", await c.CommandAsync("VRFY"));
        Assert.Equal("502 5.5.1 EXPN not available", await c.CommandAsync("EXPN staff"));
        Assert.StartsWith("214 2.0.0", await c.CommandAsync("HELP"), StringComparison.Ordinal);
        Assert.Equal("250 2.0.0 OK", await c.CommandAsync("NOOP"));
    }

    [Fact]
    public async Task Esmtp_parameters_after_helo_are_refused()
    {
        await using var c = await Greeted(ehlo: false);
        Assert.Equal("503 5.5.1 Send EHLO to use this extension", await c.CommandAsync("MAIL FROM:<a@b.example> SIZE=100"));
        Assert.Equal("250 2.1.0 Sender OK", await c.CommandAsync("MAIL FROM:<a@b.example>"));
    }

    [Theory]
    [InlineData("MAIL FROM:<a@b.example> SIZE=x", "501 5.5.4 Syntax error in parameters or arguments")]
    [InlineData("MAIL FROM:<a@b.example> FOO=bar", "555 5.5.4 Unsupported MAIL or RCPT parameter")]
    [InlineData("MAIL FROM:a@b.example", "501 5.1.7 Bad sender address syntax")]
    [InlineData("MAIL FROM:<j\u00f6rg@b.example>", "553 5.6.7 Non-ASCII address requires SMTPUTF8")]
    [InlineData("MAIL FROM:<a@b.example> SIZE=52428801", "552 5.3.4 Message size exceeds fixed limit")]
    [InlineData("MAIL FROM:<a@b.example> REQUIRETLS", "530 5.7.10 REQUIRETLS needs a TLS connection")]
    public async Task Mail_errors(string command, string reply)
    {
        await using var c = await Greeted();
        Assert.Equal(reply, await c.CommandAsync(command));

        // The session still works.
        Assert.Equal("250 2.1.0 Sender OK", await c.CommandAsync("MAIL FROM:<a@b.example>"));
    }

    [Fact]
    public async Task Smtputf8_transaction()
    {
        await using var c = await Greeted();
        Assert.Equal("250 2.1.0 Sender OK", await c.CommandAsync("MAIL FROM:<j\u00f6rg@b\u00fccher.example> SMTPUTF8"));
        Assert.Equal("250 2.1.5 Recipient OK", await c.CommandAsync("RCPT TO:<\u7528\u6237@\u4f8b\u5b50.example>"));
        Assert.StartsWith("354", await c.CommandAsync("DATA"), StringComparison.Ordinal);
        Assert.StartsWith("250 2.0.0 OK", await c.CommandAsync("Subject: gr\u00fc\u00dfe\r\n\r\nx\r\n."), StringComparison.Ordinal);
        var m = Assert.Single(_t.Store.Messages);
        Assert.True(m.SmtpUtf8);
        Assert.True(m.EightBit);
        Assert.Equal("\u7528\u6237@\u4f8b\u5b50.example", m.Recipients[0]);
        Assert.Contains("with UTF8SMTP id", m.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bare_lf_in_data_is_refused_and_the_session_goes_on()
    {
        await using var c = await Greeted();
        await c.CommandAsync("MAIL FROM:<a@b.example>");
        await c.CommandAsync("RCPT TO:<c@d.example>");
        await c.CommandAsync("DATA");
        await c.SendAsync("Subject: smuggle\r\n\r\nx\n.\nMAIL FROM:<evil@x.example>\r\n.\r\n");
        Assert.Equal("550 5.5.2 Bare CR or LF in message data, use CRLF line endings", await c.ReadReplyAsync());
        Assert.Empty(_t.Store.Messages);
        Assert.Equal(1, _t.Store.Aborted);

        // Next transaction on the same connection works and nothing of the refused one leaks into it.
        Assert.Equal("250 2.1.0 Sender OK", await c.CommandAsync("MAIL FROM:<a@b.example>"));
        await c.CommandAsync("RCPT TO:<c@d.example>");
        await c.CommandAsync("DATA");
        Assert.StartsWith("250 2.0.0 OK", await c.CommandAsync("ok\r\n."), StringComparison.Ordinal);
        var m = Assert.Single(_t.Store.Messages);
        Assert.DoesNotContain("evil", m.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bdat_chunks_make_one_message()
    {
        await using var c = await Greeted();
        await c.CommandAsync("MAIL FROM:<a@b.example>");
        await c.CommandAsync("RCPT TO:<c@d.example>");
        await c.SendAsync("BDAT 12\r\nSubject: x\r\n");
        Assert.Equal("250 2.0.0 12 octets received", await c.ReadReplyAsync());
        await c.SendAsync("BDAT 8 LAST\r\n\r\nbody\r\n");
        Assert.StartsWith("250 2.0.0 OK id=", await c.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.EndsWith("\r\nSubject: x\r\n\r\nbody\r\n", Assert.Single(_t.Store.Messages).Text, StringComparison.Ordinal);
        await c.SendAsync("BDAT 3 LAST\r\nabc");
        Assert.Equal("503 5.5.1 Need MAIL command first", await c.ReadReplyAsync());
        Assert.Equal("250 2.0.0 OK", await c.CommandAsync("NOOP"));
    }

    [Fact]
    public async Task Bdat_refuses_bare_line_endings_and_data_after_bdat()
    {
        await using var c = await Greeted();
        await c.CommandAsync("MAIL FROM:<a@b.example>");
        await c.CommandAsync("RCPT TO:<c@d.example>");
        await c.SendAsync("BDAT 5\r\na\nb\r\n");
        Assert.Equal("250 2.0.0 5 octets received", await c.ReadReplyAsync());
        Assert.Equal("503 5.5.1 DATA not allowed after BDAT", await c.CommandAsync("DATA"));
        Assert.Equal("550 5.5.2 Bare CR or LF in message data, use CRLF line endings", await c.CommandAsync("BDAT 0 LAST"));
        Assert.Empty(_t.Store.Messages);
    }

    [Fact]
    public async Task Rset_or_ehlo_between_bdat_chunks_starts_clean()
    {
        await using var c = await Greeted();
        foreach (var reset in new[] { "RSET", "EHLO again.example" })
        {
            await c.CommandAsync("MAIL FROM:<a@b.example>");
            await c.CommandAsync("RCPT TO:<c@d.example>");
            await c.SendAsync("BDAT 5\r\na\nb\r\n");
            Assert.Equal("250 2.0.0 5 octets received", await c.ReadReplyAsync());
            Assert.StartsWith("250", await c.CommandAsync(reset), StringComparison.Ordinal);
        }

        // DATA is allowed again, and a new BDAT transaction carries nothing over (no bare LF flag, no size).
        await c.CommandAsync("MAIL FROM:<a@b.example>");
        await c.CommandAsync("RCPT TO:<c@d.example>");
        await c.CommandAsync("DATA");
        Assert.StartsWith("250 2.0.0 OK", await c.CommandAsync("clean\r\n."), StringComparison.Ordinal);
        await c.CommandAsync("MAIL FROM:<a@b.example>");
        await c.CommandAsync("RCPT TO:<c@d.example>");
        await c.SendAsync("BDAT 7 LAST\r\nclean\r\n");
        Assert.StartsWith("250 2.0.0 OK", await c.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.Equal(2, _t.Store.Messages.Count);
        Assert.Equal("\r\nclean\r\n", _t.Store.Messages.Last().Text[^9..]);
    }

    [Fact]
    public async Task Bdat_with_an_unreadable_size_closes_the_session()
    {
        await using var c = await Greeted();
        Assert.Equal("501 5.5.4 BDAT requires a chunk size and optional LAST", await c.CommandAsync("BDAT x"));
        Assert.Equal("421 4.5.0 mx.tern.test BDAT size unreadable, closing connection", await c.ReadReplyAsync());
        Assert.True(await c.IsClosedAsync());
    }

    [Fact]
    public async Task Store_failure_is_a_temporary_error()
    {
        _t.Store.Fail = true;
        await using var c = await Greeted();
        await c.CommandAsync("MAIL FROM:<a@b.example>");
        await c.CommandAsync("RCPT TO:<c@d.example>");
        await c.CommandAsync("DATA");
        Assert.Equal("452 4.3.1 Insufficient system storage, try again later", await c.CommandAsync("x\r\n."));
        _t.Store.Fail = false;
        Assert.Equal("250 2.1.0 Sender OK", await c.CommandAsync("MAIL FROM:<a@b.example>"));
    }

    [Fact]
    public async Task An_envelope_the_store_cannot_hold_is_refused_for_good_and_the_session_goes_on()
    {
        _t.Store.TooLarge = true;
        await using var c = await Greeted();
        await c.CommandAsync("MAIL FROM:<a@b.example>");
        await c.CommandAsync("RCPT TO:<c@d.example>");
        await c.CommandAsync("DATA");
        Assert.Equal("552 5.3.4 Envelope too large for one message, send it to fewer recipients at a time", await c.CommandAsync("x\r\n."));
        Assert.Empty(_t.Store.Messages);
        _t.Store.TooLarge = false;
        await c.CommandAsync("MAIL FROM:<a@b.example>");
        await c.CommandAsync("RCPT TO:<c@d.example>");
        await c.CommandAsync("DATA");
        Assert.StartsWith("250 2.0.0", await c.CommandAsync("x\r\n."), StringComparison.Ordinal);
        Assert.Single(_t.Store.Messages);
    }
}
