namespace Tern.Smtp.Tests;

/// <summary>
/// The store's free-space check at MAIL (IMessageStore.HasRoom; the host's spool answers it from its
/// [spool] min_free reserve): a store without room gets 452 4.3.1 at MAIL, as Postfix does below
/// queue_minfree, the session goes on, and mail is accepted again once the store has room.
/// </summary>
public sealed class StoreRoomTests : IAsyncLifetime
{
    private TestServer _t = null!;

    public Task InitializeAsync()
    {
        _t = TestServer.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _t.DisposeAsync();

    private async Task<RawClient> Greeted()
    {
        var c = await RawClient.ConnectAsync(_t.Relay);
        Assert.StartsWith("220 ", await c.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.StartsWith("250", await c.CommandAsync("EHLO client.example"), StringComparison.Ordinal);
        return c;
    }

    [Fact]
    public async Task A_store_without_room_is_refused_at_mail_until_it_has_room_again()
    {
        var room = false;
        var asked = new List<long>();
        _t.Store.Room = size =>
        {
            lock (asked)
            {
                asked.Add(size);
            }

            return room;
        };
        await using var c = await Greeted();
        Assert.Equal("452 4.3.1 Insufficient system storage, try again later", await c.CommandAsync("MAIL FROM:<a@b.example>"));

        // No transaction was started: RCPT needs a MAIL first, and nothing was begun in the store.
        Assert.StartsWith("503", await c.CommandAsync("RCPT TO:<c@d.example>"), StringComparison.Ordinal);
        Assert.Equal(0, _t.Store.Begun);

        room = true;
        Assert.Equal("250 2.1.0 Sender OK", await c.CommandAsync("MAIL FROM:<a@b.example>"));
        Assert.Equal("250 2.1.5 Recipient OK", await c.CommandAsync("RCPT TO:<c@d.example>"));
        Assert.StartsWith("354", await c.CommandAsync("DATA"), StringComparison.Ordinal);
        Assert.StartsWith("250 2.0.0", await c.CommandAsync("x\r\n."), StringComparison.Ordinal);
        Assert.Single(_t.Store.Messages);
        lock (asked)
        {
            Assert.Equal([-1L, -1L], asked);
        }
    }

    [Fact]
    public async Task The_declared_size_is_given_to_the_store()
    {
        _t.Store.Room = size => size < 5000;
        await using var c = await Greeted();
        Assert.Equal("452 4.3.1 Insufficient system storage, try again later", await c.CommandAsync("MAIL FROM:<a@b.example> SIZE=10000"));
        Assert.Equal("250 2.1.0 Sender OK", await c.CommandAsync("MAIL FROM:<a@b.example> SIZE=1000"));
    }

    [Fact]
    public async Task A_store_without_room_does_not_hide_a_permanent_refusal()
    {
        // 452 means "try again later": a sender that will never be accepted must hear its 5xx instead.
        await using var t = TestServer.StartWith(allowAuthWithoutTls: true);
        t.Store.Room = _ => false;
        await using var c = await RawClient.ConnectAsync(t.Submission);
        Assert.StartsWith("220 ", await c.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.StartsWith("250", await c.CommandAsync("EHLO client.example"), StringComparison.Ordinal);
        var client = Tern.Sasl.SaslClientFactory.Create("SCRAM-SHA-256", TestServer.User, TestServer.Password, Tern.Sasl.SaslChannel.Plaintext, ["SCRAM-SHA-256"]);
        Assert.Equal("235 2.7.0 Authentication successful", await SaslExchange.RunAsync(client, c.CommandAsync));
        Assert.Equal("530 5.7.10 REQUIRETLS needs a TLS connection", await c.CommandAsync($"MAIL FROM:<{TestServer.User}> REQUIRETLS"));
        Assert.Equal("553 5.7.1 Sender address not allowed for this account", await c.CommandAsync("MAIL FROM:<mallory@example.org>"));
        Assert.Equal("452 4.3.1 Insufficient system storage, try again later", await c.CommandAsync($"MAIL FROM:<{TestServer.User}>"));
    }

    [Fact]
    public async Task A_size_beyond_the_limit_is_refused_for_good_before_the_store_is_asked()
    {
        var asked = 0;
        _t.Store.Room = _ =>
        {
            Interlocked.Increment(ref asked);
            return false;
        };
        await using var c = await Greeted();
        Assert.StartsWith("552 5.3.4", await c.CommandAsync("MAIL FROM:<a@b.example> SIZE=999999999999"), StringComparison.Ordinal);
        Assert.Equal(0, Volatile.Read(ref asked));
    }
}
