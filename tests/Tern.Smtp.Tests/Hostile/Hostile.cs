using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Tern.Smtp.Tests.Hostile;

/// <summary>Helpers for the hostile-client tests: raw sockets from chosen loopback sources, a control transaction, waits.</summary>
internal static class Hostile
{
    /// <summary>A TCP connection from 127.0.x.y (any 127/8 address is local on Linux), so per-IP limits see distinct clients.</summary>
    public static async Task<Socket> ConnectFromAsync(IPEndPoint server, int index)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(new IPAddress([127, 0, (byte)(1 + (index / 250)), (byte)(1 + (index % 250))]), 0));
        await s.ConnectAsync(server);
        return s;
    }

    /// <summary>A well-behaved client completes a whole transaction: the server keeps serving while an attack runs.</summary>
    public static async Task NormalTransactionAsync(TestServer t, string tag)
    {
        var sw = Stopwatch.StartNew();
        await using var c = await RawClient.ConnectAsync(t.Relay);
        Assert.StartsWith("220 ", await c.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.StartsWith("250", await c.CommandAsync("EHLO normal.example"), StringComparison.Ordinal);
        Assert.Equal("250 2.1.0 Sender OK", await c.CommandAsync("MAIL FROM:<normal@client.example>"));
        Assert.Equal("250 2.1.5 Recipient OK", await c.CommandAsync("RCPT TO:<rcpt@ours.example>"));
        Assert.StartsWith("354", await c.CommandAsync("DATA"), StringComparison.Ordinal);
        Assert.StartsWith("250 2.0.0 OK", await c.CommandAsync($"Subject: {tag}\r\n\r\nbody\r\n."), StringComparison.Ordinal);
        Assert.StartsWith("221", await c.CommandAsync("QUIT"), StringComparison.Ordinal);
        Assert.Contains(t.Store.Messages, m => m.Text.Contains("Subject: " + tag, StringComparison.Ordinal));

        // Served promptly, not after the attacker was dealt with.
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"normal transaction took {sw.Elapsed}");
    }

    /// <summary>Reads everything until the server closes (or <paramref name="timeout"/>); returns the text read and whether it closed.</summary>
    public static async Task<(string Text, bool Closed)> ReadToCloseAsync(Socket s, TimeSpan timeout)
    {
        var buf = new byte[64 * 1024];
        var text = new StringBuilder();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (true)
            {
                var n = await s.ReceiveAsync(buf, SocketFlags.None, cts.Token);
                if (n == 0)
                {
                    return (text.ToString(), true);
                }

                // Keep the head and the tail: floods produce megabytes of replies.
                text.Append(Encoding.Latin1.GetString(buf, 0, n));
                if (text.Length > 1 << 20)
                {
                    text.Remove(0, text.Length - (64 * 1024));
                }
            }
        }
        catch (OperationCanceledException)
        {
            return (text.ToString(), false);
        }
        catch (SocketException)
        {
            return (text.ToString(), true);
        }
    }

    /// <summary>
    /// Sends <paramref name="data"/> <paramref name="chunk"/> bytes at a time every <paramref name="every"/>,
    /// on a dedicated thread so thread-pool load cannot stretch the pauses, until done, <paramref name="stop"/>
    /// or the peer closes. Returns the bytes sent and the longest pause actually seen between sends.
    /// </summary>
    public static Task<(int Sent, TimeSpan MaxGap)> Trickle(Socket s, byte[] data, TimeSpan every, Func<bool> stop, int chunk = 1) =>
        Task.Factory.StartNew(
            () =>
            {
                var sw = Stopwatch.StartNew();
                var last = sw.Elapsed;
                var maxGap = TimeSpan.Zero;
                var sent = 0;
                while (sent < data.Length && !stop())
                {
                    try
                    {
                        sent += s.Send(data, sent, Math.Min(chunk, data.Length - sent), SocketFlags.None);
                    }
                    catch (SocketException)
                    {
                        break;
                    }

                    var now = sw.Elapsed;
                    maxGap = now - last > maxGap ? now - last : maxGap;
                    last = now;
                    Thread.Sleep(every);
                }

                return (sent, maxGap);
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);

    /// <summary>Connects, pipelines EHLO/MAIL/RCPT/DATA, and returns once the 354 has arrived.</summary>
    /// <param name="sinceData">Restarted just before DATA is sent: the server's data deadline starts after that, however late the 354 is read.</param>
    public static async Task<Socket> OpenDataAsync(IPEndPoint server, int sourceIndex, string sender, System.Diagnostics.Stopwatch? sinceData = null)
    {
        var s = await ConnectFromAsync(server, sourceIndex);
        sinceData?.Restart();
        await s.SendAsync(Encoding.ASCII.GetBytes($"EHLO client.example\r\nMAIL FROM:<{sender}>\r\nRCPT TO:<b@ours.example>\r\nDATA\r\n"), SocketFlags.None);
        var text = new StringBuilder();
        var buf = new byte[4096];
        while (!text.ToString().Contains("\r\n354 ", StringComparison.Ordinal))
        {
            var n = await s.ReceiveAsync(buf, SocketFlags.None);
            Assert.NotEqual(0, n);
            text.Append(Encoding.ASCII.GetString(buf, 0, n));
        }

        Assert.DoesNotContain("\r\n5", text.ToString(), StringComparison.Ordinal);
        return s;
    }

    /// <summary>Reads until the text read contains <paramref name="expected"/>, the server closes, or <paramref name="timeout"/>; returns the text.</summary>
    public static async Task<string> ReadUntilAsync(Socket s, string expected, TimeSpan timeout)
    {
        var buf = new byte[4096];
        var text = new StringBuilder();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (!text.ToString().Contains(expected, StringComparison.Ordinal))
            {
                var n = await s.ReceiveAsync(buf, SocketFlags.None, cts.Token);
                if (n == 0)
                {
                    break;
                }

                text.Append(Encoding.ASCII.GetString(buf, 0, n));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException)
        {
            // Returned as read so far: the caller's assertion shows what came.
        }

        return text.ToString();
    }

    public static async Task WaitForAsync(Func<bool> condition, TimeSpan? timeout = null)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(sw.Elapsed < (timeout ?? TimeSpan.FromSeconds(10)), "condition not reached in time");
            await Task.Delay(20);
        }
    }

    public static async Task<RawClient> GreetedAsync(IPEndPoint ep, string ehlo = "EHLO client.example")
    {
        var c = await RawClient.ConnectAsync(ep);
        await c.ReadReplyAsync();
        await c.CommandAsync(ehlo);
        return c;
    }
}

/// <summary>Tests whose assertions are about time (deadlines, pacing) run alone, after the parallel ones, so a loaded machine cannot skew them.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingCollection
{
    public const string Name = "hostile timing";
}
