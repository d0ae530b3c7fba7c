using System.Net.Sockets;
using System.Text;

namespace Tern.Smtp.Tests.Hostile;

/// <summary>Pipelining floods (RFC 2920 lets clients send ahead; not without bound): the session is cut, the server goes on.</summary>
[Collection(TimingCollection.Name)]
public sealed class PipeliningFloodTests
{
    [Fact]
    public async Task Thousands_of_noops_written_without_reading_are_cut_by_the_junk_limit()
    {
        await using var t = TestServer.Start();
        using var s = await Hostile.ConnectFromAsync(t.Relay, 20);
        var flood = Encoding.ASCII.GetBytes("EHLO flood.example\r\n" + string.Concat(Enumerable.Repeat("NOOP\r\n", 20_000)));
        var writer = Task.Run(async () =>
        {
            try
            {
                await s.SendAsync(flood, SocketFlags.None);
            }
            catch (SocketException)
            {
                // Cut while writing.
            }
        });

        await Task.Delay(200);
        var (text, closed) = await Hostile.ReadToCloseAsync(s, TimeSpan.FromSeconds(10));
        await writer;
        Assert.True(closed);

        // 100 junk commands, then 10 more counted as errors, then 421 (defaults).
        Assert.Equal(110, CountOccurrences(text, "250 2.0.0 OK\r\n"));
        Assert.EndsWith("421 4.7.0 mx.tern.test Too many errors, closing connection\r\n", text, StringComparison.Ordinal);
        await Hostile.NormalTransactionAsync(t, "after-noop-flood");
    }

    [Fact]
    public async Task Flood_of_valid_transactions_pipelined_without_reading_is_bounded_by_socket_buffers()
    {
        // RCPT/RSET cycles are not junk: the server answers as fast as the client reads, so a client
        // that never reads stalls its own session, which then times out; nobody else notices.
        await using var t = TestServer.Start(l => l with { CommandTimeout = TimeSpan.FromSeconds(3), MaxJunkCommands = 1_000_000 });
        var sockets = new List<Socket>();
        var cycle = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("MAIL FROM:<a@client.example>\r\nRCPT TO:<b@ours.example>\r\nRSET\r\n", 2_000)));
        var writers = new List<Task>();
        for (var i = 0; i < 20; i++)
        {
            var s = await Hostile.ConnectFromAsync(t.Relay, 100 + i);
            s.ReceiveBufferSize = 4096;
            sockets.Add(s);
            writers.Add(Task.Run(async () =>
            {
                try
                {
                    using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(8));
                    await s.SendAsync("EHLO flood.example\r\n"u8.ToArray(), SocketFlags.None);
                    for (var k = 0; k < 10; k++)
                    {
                        await s.SendAsync(cycle, SocketFlags.None, cts.Token);
                    }
                }
                catch (Exception e) when (e is SocketException or OperationCanceledException)
                {
                    // The server stopped reading us, then closed: expected.
                }
            }));
        }

        await Hostile.NormalTransactionAsync(t, "during-pipelining-flood");
        await Hostile.WaitForAsync(() => t.Server.ActiveSessions == 0, TimeSpan.FromSeconds(10));
        foreach (var s in sockets)
        {
            s.Dispose();
        }

        await Task.WhenAll(writers);
    }

    [Fact]
    public async Task Flood_of_unknown_commands_is_cut_by_the_error_limit()
    {
        await using var t = TestServer.Start();
        using var s = await Hostile.ConnectFromAsync(t.Relay, 21);
        var flood = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("XYZZY\r\n", 50_000)));
        var writer = Task.Run(async () =>
        {
            try
            {
                await s.SendAsync(flood, SocketFlags.None);
            }
            catch (SocketException)
            {
            }
        });
        var (text, closed) = await Hostile.ReadToCloseAsync(s, TimeSpan.FromSeconds(10));
        await writer;
        Assert.True(closed);
        Assert.Equal(11, CountOccurrences(text, "500 5.5.1 Command not recognized\r\n"));
        Assert.EndsWith("421 4.7.0 mx.tern.test Too many errors, closing connection\r\n", text, StringComparison.Ordinal);
    }

    private static int CountOccurrences(string text, string what)
    {
        var n = 0;
        for (var i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + what.Length, StringComparison.Ordinal))
        {
            n++;
        }

        return n;
    }
}
