namespace Tern.Smtp.Tests;

/// <summary>Never an open relay: an untrusted, unauthenticated client reaches only the accepted domains.</summary>
public sealed class RelayTests : IAsyncLifetime
{
    private TestServer _t = null!;

    public Task InitializeAsync()
    {
        // Loopback is NOT trusted here: the test client is an outsider.
        _t = TestServer.Start(trustLoopback: false, acceptDomains: ["ours.example", "xn--bcher-kva.example"]);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _t.DisposeAsync();

    [Theory]
    [InlineData("<victim@elsewhere.example>")]
    [InlineData("<victim@ELSEWHERE.example>")]
    [InlineData("<victim%elsewhere.example@ours.example>")]
    [InlineData("<elsewhere.example!victim@ours.example>")]
    [InlineData("<\"victim@elsewhere.example\"@ours.example>")]
    [InlineData("<@ours.example:victim@elsewhere.example>")]
    [InlineData("<victim@elsewhere.example.>")]
    [InlineData("<victim@ours.example.>")]
    [InlineData("<victim@[192.0.2.1]>")]
    [InlineData("<victim@[127.0.0.1]>")]
    [InlineData("<victim@ours.example@elsewhere.example>")]
    [InlineData("<victim@sub.ours.example>")]
    [InlineData("victim@elsewhere.example")]

    // Percent hack and bang paths, alone and combined.
    [InlineData("<victim%elsewhere.example@OURS.example>")]
    [InlineData("<victim%elsewhere.example%ours.example@ours.example>")]
    [InlineData("<elsewhere.example!ours.example!victim@ours.example>")]
    [InlineData("<victim%elsewhere.example>")]
    [InlineData("<elsewhere.example!victim>")]

    // Source routes (RFC 5321 4.1.2 A-d-l), several hops, and routes ending elsewhere.
    [InlineData("<@ours.example,@elsewhere.example:victim@elsewhere.example>")]
    [InlineData("<@a.example,@b.example:victim@elsewhere.example>")]
    [InlineData("<@ours.example:victim%elsewhere.example@ours.example>")]

    // Several @, quoted local parts hiding @, % or !.
    [InlineData("<victim@elsewhere.example@ours.example>")]
    [InlineData("<\"victim%elsewhere.example\"@ours.example>")]
    [InlineData("<\"elsewhere.example!victim\"@ours.example>")]
    [InlineData("<\"victim@elsewhere.example\"@OURS.EXAMPLE>")]
    [InlineData("<\"victim\\@elsewhere.example\"@ours.example>")]

    // Address literals, ours or not (only domains are accepted).
    [InlineData("<victim@[IPv6:::1]>")]
    [InlineData("<victim@[IPv6:2001:db8::1]>")]
    [InlineData("<postmaster@[127.0.0.1]>")]
    [InlineData("<victim@[ours.example]>")]

    // Trailing dots, case, lookalikes and IDN homographs.
    [InlineData("<victim@ELSEWHERE.EXAMPLE.>")]
    [InlineData("<victim@ours.example..>")]
    [InlineData("<victim@.ours.example>")]
    [InlineData("<victim@ours..example>")]
    [InlineData("<victim@ours.examp1e>")]
    [InlineData("<victim@ours-example>")]
    [InlineData("<victim@ours.example.elsewhere.example>")]
    [InlineData("<victim@oursexample>")]
    [InlineData("<victim@xn--urs-ptd.example>")]

    // Whitespace and RFC 5322 comment syntax that some parsers strip.
    [InlineData("<victim@elsewhere.example (ours.example)>")]
    [InlineData("<victim@(comment)elsewhere.example>")]
    [InlineData("<victim @ours.example>")]
    [InlineData("<victim@ ours.example>")]
    [InlineData("<victim@ours.example >")]
    [InlineData("<victim@elsewhere.example> <victim@ours.example>")]
    [InlineData("<victim@elsewhere.example>,<victim@ours.example>")]
    [InlineData("<victim@elsewhere.example\t>")]
    [InlineData("ours.example <victim@elsewhere.example>")]
    [InlineData("<<victim@elsewhere.example>>")]

    // Postmaster elsewhere, the server's own name, localhost, empty paths.
    [InlineData("<postmaster@elsewhere.example>")]
    [InlineData("<Postmaster@Elsewhere.Example>")]
    [InlineData("<victim@mx.tern.test>")]
    [InlineData("<victim@localhost>")]
    [InlineData("<victim@localhost.localdomain>")]
    [InlineData("<>")]
    [InlineData("")]
    [InlineData("<@ours.example:>")]
    public async Task Relay_tricks_are_refused(string recipient)
    {
        await using var c = await RawClient.ConnectAsync(_t.Relay);
        await c.ReadReplyAsync();
        await c.CommandAsync("EHLO outsider.example");
        await c.CommandAsync("MAIL FROM:<spammer@outsider.example>");
        var reply = await c.CommandAsync("RCPT TO:" + recipient);
        Assert.True(reply[0] == '5', reply);
        Assert.Equal("503 5.5.1 Need RCPT command first", await c.CommandAsync("DATA"));
        Assert.Empty(_t.Store.Messages);
    }

    [Theory]
    [InlineData("<user@ours.example>")]
    [InlineData("<User@OURS.EXAMPLE>")]
    [InlineData("<postmaster>")]
    [InlineData("<Postmaster>")]
    public async Task Accepted_domains_and_postmaster_are_reachable(string recipient)
    {
        await using var c = await RawClient.ConnectAsync(_t.Relay);
        await c.ReadReplyAsync();
        await c.CommandAsync("EHLO outsider.example");
        await c.CommandAsync("MAIL FROM:<someone@outsider.example>");
        Assert.Equal("250 2.1.5 Recipient OK", await c.CommandAsync("RCPT TO:" + recipient));
    }

    [Theory]
    [InlineData("<user@xn--bcher-kva.example>", "")]
    [InlineData("<user@B\u00fccher.example>", " SMTPUTF8")]
    [InlineData("<user@b\u00fccher.EXAMPLE>", " SMTPUTF8")]
    public async Task Accepted_idn_domains_match_in_either_form(string recipient, string mailParameter)
    {
        await using var c = await RawClient.ConnectAsync(_t.Relay);
        await c.ReadReplyAsync();
        await c.CommandAsync("EHLO outsider.example");
        await c.CommandAsync("MAIL FROM:<someone@outsider.example>" + mailParameter);
        Assert.Equal("250 2.1.5 Recipient OK", await c.CommandAsync("RCPT TO:" + recipient));
    }

    [Fact]
    public async Task Specific_replies_for_relay_denied_and_routing_characters()
    {
        await using var c = await RawClient.ConnectAsync(_t.Relay);
        await c.ReadReplyAsync();
        await c.CommandAsync("EHLO outsider.example");
        await c.CommandAsync("MAIL FROM:<someone@outsider.example>");
        Assert.Equal("554 5.7.1 Relay access denied", await c.CommandAsync("RCPT TO:<v@elsewhere.example>"));
        Assert.Equal("550 5.7.1 Source routing characters ('%', '!', quoted '@') are not accepted", await c.CommandAsync("RCPT TO:<v%elsewhere.example@ours.example>"));
    }

    [Theory]
    [InlineData("<victim@\u043eurs.example>")] // Cyrillic o
    [InlineData("<victim@ours.exampl\u0435>")] // Cyrillic e
    [InlineData("<victim@b\u00fccher.example.elsewhere.example>")]
    [InlineData("<victim@elsewhere.example\u3002>")] // ideographic full stop as trailing dot
    [InlineData("<victim%elsewhere.example@b\u00fccher.example>")]
    public async Task Unicode_lookalikes_are_refused_even_with_smtputf8(string recipient)
    {
        await using var c = await Outsider("MAIL FROM:<someone@outsider.example> SMTPUTF8");
        var reply = await c.CommandAsync("RCPT TO:" + recipient);
        Assert.True(reply[0] == '5', reply);
        Assert.Equal("503 5.5.1 Need RCPT command first", await c.CommandAsync("DATA"));
        Assert.Empty(_t.Store.Messages);
    }

    [Fact]
    public async Task Rcpt_without_mail_is_refused()
    {
        await using var c = await RawClient.ConnectAsync(_t.Relay);
        await c.ReadReplyAsync();
        Assert.Equal("503 5.5.1 Send EHLO or HELO first", await c.CommandAsync("RCPT TO:<victim@elsewhere.example>"));
        await c.CommandAsync("EHLO outsider.example");
        Assert.Equal("503 5.5.1 Need MAIL command first", await c.CommandAsync("RCPT TO:<victim@elsewhere.example>"));
        Assert.Equal("503 5.5.1 Need MAIL command first", await c.CommandAsync("RCPT TO:<user@ours.example>"));
        Assert.Equal("503 5.5.1 Need MAIL command first", await c.CommandAsync("DATA"));
        Assert.Empty(_t.Store.Messages);
    }

    [Theory]
    [InlineData("<user@ours.example>")]
    [InlineData("<postmaster@ours.example>")]
    [InlineData("<>")]
    [InlineData("<someone@[127.0.0.1]>")]
    [InlineData("<someone@mx.tern.test>")]
    public async Task A_sender_in_an_accepted_domain_does_not_open_the_relay(string sender)
    {
        await using var c = await Outsider("MAIL FROM:" + sender);
        Assert.Equal("554 5.7.1 Relay access denied", await c.CommandAsync("RCPT TO:<victim@elsewhere.example>"));
        Assert.Equal("250 2.1.5 Recipient OK", await c.CommandAsync("RCPT TO:<user@ours.example>"));
        Assert.Equal("554 5.7.1 Relay access denied", await c.CommandAsync("RCPT TO:<victim2@elsewhere.example>"));
        Assert.StartsWith("354", await c.CommandAsync("DATA"), StringComparison.Ordinal);
        Assert.StartsWith("250 2.0.0 OK", await c.CommandAsync("hello\r\n."), StringComparison.Ordinal);
        var m = Assert.Single(_t.Store.Messages);
        Assert.Equal(["user@ours.example"], m.Recipients);
    }

    [Theory]
    [InlineData("EHLO localhost")]
    [InlineData("EHLO mx.tern.test")]
    [InlineData("EHLO MX.TERN.TEST")]
    [InlineData("EHLO [127.0.0.1]")]
    [InlineData("EHLO [IPv6:::1]")]
    [InlineData("HELO ours.example")]
    [InlineData("EHLO localhost.localdomain")]
    public async Task Claiming_to_be_local_or_the_server_in_helo_changes_nothing(string helo)
    {
        await using var c = await RawClient.ConnectAsync(_t.Relay);
        await c.ReadReplyAsync();
        Assert.StartsWith("250", await c.CommandAsync(helo), StringComparison.Ordinal);
        await c.CommandAsync("MAIL FROM:<someone@outsider.example>");
        Assert.Equal("554 5.7.1 Relay access denied", await c.CommandAsync("RCPT TO:<victim@elsewhere.example>"));
        Assert.Empty(_t.Store.Messages);
    }

    [Theory]
    [InlineData("XCLIENT ADDR=127.0.0.1 NAME=localhost")]
    [InlineData("XCLIENT ADDR=10.0.0.1 LOGIN=alice@example.org")]
    [InlineData("XFORWARD ADDR=127.0.0.1 NAME=localhost")]
    [InlineData("XAUTH alice@example.org")]
    [InlineData("PROXY TCP4 127.0.0.1 127.0.0.1 25 25")]
    [InlineData("ONEX")]
    [InlineData("XEXCH50 1 2")]
    public async Task Proxy_and_forwarding_commands_are_not_honoured(string command)
    {
        await using var c = await RawClient.ConnectAsync(_t.Relay);
        await c.ReadReplyAsync();
        var ehlo = await c.CommandAsync("EHLO outsider.example");
        Assert.DoesNotContain("XCLIENT", ehlo, StringComparison.Ordinal);
        Assert.DoesNotContain("XFORWARD", ehlo, StringComparison.Ordinal);
        Assert.Equal("500 5.5.1 Command not recognized", await c.CommandAsync(command));
        await c.CommandAsync("MAIL FROM:<someone@outsider.example>");
        Assert.Equal("554 5.7.1 Relay access denied", await c.CommandAsync("RCPT TO:<victim@elsewhere.example>"));
    }

    [Fact]
    public async Task Rset_and_a_new_transaction_keep_the_relay_closed()
    {
        await using var c = await Outsider("MAIL FROM:<someone@outsider.example>");
        Assert.Equal("250 2.1.5 Recipient OK", await c.CommandAsync("RCPT TO:<user@ours.example>"));
        Assert.Equal("250 2.0.0 Reset", await c.CommandAsync("RSET"));
        await c.CommandAsync("MAIL FROM:<someone@outsider.example>");
        Assert.Equal("554 5.7.1 Relay access denied", await c.CommandAsync("RCPT TO:<victim@elsewhere.example>"));

        // Nor does a second EHLO (which resets the transaction too, RFC 5321 4.1.4).
        await c.CommandAsync("EHLO localhost");
        await c.CommandAsync("MAIL FROM:<user@ours.example>");
        Assert.Equal("554 5.7.1 Relay access denied", await c.CommandAsync("RCPT TO:<victim@elsewhere.example>"));
        Assert.Empty(_t.Store.Messages);
    }

    [Fact]
    public async Task A_failed_or_cancelled_auth_keeps_the_relay_closed()
    {
        await using var c = await RawClient.ConnectAsync(_t.Relay);
        await c.ReadReplyAsync();
        await c.CommandAsync("EHLO outsider.example");
        await c.CommandAsync("STARTTLS");
        await c.TlsAsync();
        await c.CommandAsync("EHLO outsider.example");
        Assert.Equal("535 5.7.8 Authentication credentials invalid", await c.CommandAsync("AUTH PLAIN " + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"\0{TestServer.User}\0wrong"))));
        await c.CommandAsync("MAIL FROM:<someone@outsider.example>");
        Assert.Equal("554 5.7.1 Relay access denied", await c.CommandAsync("RCPT TO:<victim@elsewhere.example>"));
        await c.CommandAsync("RSET");
        Assert.StartsWith("334", await c.CommandAsync("AUTH LOGIN"), StringComparison.Ordinal);
        Assert.Equal("501 5.7.0 Authentication cancelled", await c.CommandAsync("*"));
        await c.CommandAsync("MAIL FROM:<someone@outsider.example>");
        Assert.Equal("554 5.7.1 Relay access denied", await c.CommandAsync("RCPT TO:<victim@elsewhere.example>"));
        Assert.Empty(_t.Store.Messages);
    }

    [Fact]
    public async Task Relay_refusals_are_not_errors_that_end_the_probe_early_but_nothing_ever_gets_through()
    {
        // A relay prober tries its whole list in one session: every RCPT is refused, none is queued.
        await using var c = await Outsider("MAIL FROM:<probe@outsider.example>");
        var tricks = new[] { "v@elsewhere.example", "v%elsewhere.example@ours.example", "elsewhere.example!v@ours.example", "@ours.example:v@elsewhere.example", "v@[192.0.2.1]" };
        var refused = 0;
        foreach (var r in tricks)
        {
            var reply = await c.CommandAsync($"RCPT TO:<{r}>");
            if (reply.StartsWith("421", StringComparison.Ordinal))
            {
                break;
            }

            Assert.StartsWith("5", reply, StringComparison.Ordinal);
            refused++;
        }

        Assert.Equal(tricks.Length, refused);
        Assert.Empty(_t.Store.Messages);
    }

    private async Task<RawClient> Outsider(string mail)
    {
        var c = await RawClient.ConnectAsync(_t.Relay);
        await c.ReadReplyAsync();
        await c.CommandAsync("EHLO outsider.example");
        Assert.Equal("250 2.1.0 Sender OK", await c.CommandAsync(mail));
        return c;
    }
}
