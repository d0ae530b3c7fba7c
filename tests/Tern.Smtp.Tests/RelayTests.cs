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
}
