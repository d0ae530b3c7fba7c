namespace Tern.Smtp.Tests;

/// <summary>Stopping: idle sessions get 421 at once, a transaction in flight finishes.</summary>
public sealed class ShutdownTests
{
    [Fact]
    public async Task Idle_sessions_are_closed_and_transactions_finish()
    {
        var t = TestServer.Start();
        await using var idle = await RawClient.ConnectAsync(t.Relay);
        await idle.ReadReplyAsync();
        await idle.CommandAsync("EHLO idle.example");

        await using var busy = await RawClient.ConnectAsync(t.Relay);
        await busy.ReadReplyAsync();
        await busy.CommandAsync("EHLO busy.example");
        await busy.CommandAsync("MAIL FROM:<a@b.example>");
        await busy.CommandAsync("RCPT TO:<c@d.example>");
        await busy.CommandAsync("DATA");
        await busy.SendAsync("Subject: in flight\r\n\r\n");

        var stop = t.Server.StopAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("421 4.4.2 mx.tern.test Service shutting down, closing connection", await idle.ReadReplyAsync());
        Assert.True(await idle.IsClosedAsync());

        // New connections are no longer accepted.
        await Assert.ThrowsAnyAsync<System.Net.Sockets.SocketException>(() => RawClient.ConnectAsync(t.Relay));

        await busy.SendAsync("the rest\r\n.\r\n");
        Assert.StartsWith("250 2.0.0 OK", await busy.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.Equal("421 4.4.2 mx.tern.test Service shutting down, closing connection", await busy.ReadReplyAsync());
        await stop;
        Assert.Single(t.Store.Messages);
        Assert.Equal(0, t.Server.ActiveSessions);
        await t.DisposeAsync();
    }

    [Fact]
    public async Task Grace_period_bounds_a_stalled_transaction()
    {
        var t = TestServer.Start();
        await using var busy = await RawClient.ConnectAsync(t.Relay);
        await busy.ReadReplyAsync();
        await busy.CommandAsync("EHLO busy.example");
        await busy.CommandAsync("MAIL FROM:<a@b.example>");
        var started = DateTime.UtcNow;
        await t.Server.StopAsync(TimeSpan.FromMilliseconds(300));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5));
        Assert.Equal("421 4.4.2 mx.tern.test Service shutting down, closing connection", await busy.ReadReplyAsync());
        Assert.Equal(0, t.Server.ActiveSessions);
        await t.DisposeAsync();
    }
}
