using System.Diagnostics;
using System.Net.Security;
using System.Net.Sockets;

namespace Tern.Smtp.Tests.Hostile;

/// <summary>TLS handshakes that go wrong on purpose: garbage, TLS where plain text is expected, handshakes that stop.</summary>
[Collection(TimingCollection.Name)]
public sealed class TlsGarbageTests
{
    private static TestServer Start() => TestServer.Start(l => l with { TlsHandshakeTimeout = TimeSpan.FromMilliseconds(700), CommandTimeout = TimeSpan.FromSeconds(2) });

    [Fact]
    public async Task Random_bytes_after_starttls_close_the_connection_and_others_are_served()
    {
        await using var t = Start();
        var random = new Random(10);
        for (var i = 0; i < 10; i++)
        {
            await using var c = await Hostile.GreetedAsync(t.Relay);
            Assert.Equal("220 2.0.0 Ready to start TLS", await c.CommandAsync("STARTTLS"));
            var garbage = new byte[random.Next(1, 5000)];
            random.NextBytes(garbage);
            if (i % 2 == 0)
            {
                garbage[0] = 0x16; // a TLS handshake record header, then nonsense
                garbage[1] = 3;
            }

            try
            {
                await c.SendAsync(garbage);
            }
            catch (IOException)
            {
                // Closed while we wrote: fine.
            }

            Assert.True(await c.IsClosedAsync());
        }

        await Hostile.NormalTransactionAsync(t, "after-tls-garbage");
        await Hostile.WaitForAsync(() => t.Server.ActiveSessions == 0);
    }

    [Fact]
    public async Task Client_that_stops_mid_handshake_is_timed_out()
    {
        await using var t = Start();

        // A real ClientHello, and then silence: the server must not wait for ever.
        var hello = await CaptureClientHelloAsync();
        using (var plain = await Hostile.ConnectFromAsync(t.Relay, 6))
        {
            // Timed from before STARTTLS: the handshake deadline starts with the server's 220, so this is a
            // true lower bound however late the test reads that reply (the same below for the connect).
            var started = Stopwatch.StartNew();
            await plain.SendAsync("EHLO stall.example\r\nSTARTTLS\r\n"u8.ToArray(), SocketFlags.None);
            var replies = new System.Text.StringBuilder();
            var buf = new byte[4096];
            while (!replies.ToString().Contains("220 2.0.0 Ready to start TLS\r\n", StringComparison.Ordinal))
            {
                var n = await plain.ReceiveAsync(buf, SocketFlags.None);
                Assert.NotEqual(0, n);
                replies.Append(System.Text.Encoding.ASCII.GetString(buf, 0, n));
            }

            await plain.SendAsync(hello, SocketFlags.None);
            Assert.True((await Hostile.ReadToCloseAsync(plain, TimeSpan.FromSeconds(5))).Closed);
            Assert.InRange(started.Elapsed.TotalSeconds, 0.5, 5);
        }

        // The same on the implicit TLS port, where nothing is said before the handshake.
        var sw = Stopwatch.StartNew();
        using var s = await Hostile.ConnectFromAsync(t.Submissions, 7);
        await s.SendAsync(hello.AsMemory(0, 20), SocketFlags.None);
        var (text, closed) = await Hostile.ReadToCloseAsync(s, TimeSpan.FromSeconds(5));
        Assert.Equal(string.Empty, text);
        Assert.True(closed);
        Assert.InRange(sw.Elapsed.TotalSeconds, 0.5, 5);
        await Hostile.WaitForAsync(() => t.Server.ActiveSessions == 0);
    }

    [Fact]
    public async Task Client_trickling_a_handshake_is_cut_by_the_handshake_deadline()
    {
        await using var t = Start();
        // The hello first, then the clock, then the connection: the deadline starts at the accept.
        var hello = await CaptureClientHelloAsync();
        var sw = Stopwatch.StartNew();
        using var s = await Hostile.ConnectFromAsync(t.Submissions, 8);
        var reader = Hostile.ReadToCloseAsync(s, TimeSpan.FromSeconds(8));
        var (sent, _) = await Hostile.Trickle(s, hello, TimeSpan.FromMilliseconds(50), () => reader.IsCompleted);
        Assert.True(sent < hello.Length);
        Assert.True((await reader).Closed);
        Assert.InRange(sw.Elapsed.TotalSeconds, 0.5, 6);
    }

    [Fact]
    public async Task Tls_client_hello_on_the_plaintext_port_is_refused_as_commands()
    {
        await using var t = Start();
        var hello = await CaptureClientHelloAsync();
        using var s = await Hostile.ConnectFromAsync(t.RelayNoTls, 9);
        var greeting = new byte[512];
        await s.ReceiveAsync(greeting, SocketFlags.None);
        await s.SendAsync(hello, SocketFlags.None);

        // Binary without line ends: no command line completes; the command deadline closes it.
        var (text, closed) = await Hostile.ReadToCloseAsync(s, TimeSpan.FromSeconds(6));
        Assert.True(closed);
        Assert.Matches("^(500 [^\r\n]*\r\n)*421 4\\.[47]\\.[02] mx\\.tern\\.test [^\r\n]*\r\n$", text);
        await Hostile.NormalTransactionAsync(t, "after-hello-on-plain");
    }

    [Fact]
    public async Task Tls_client_hello_before_the_greeting_on_the_starttls_port_gets_no_tls()
    {
        // A client that speaks implicit TLS to the STARTTLS port: its hello is not a command.
        await using var t = Start();
        await using var c = await RawClient.ConnectAsync(t.Relay);
        var ssl = new SslStream(new NetworkStream(await Hostile.ConnectFromAsync(t.Relay, 10), ownsSocket: true), false, (_, _, _, _) => true);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(8));
        await Assert.ThrowsAnyAsync<Exception>(() => ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "mx.tern.test" }, cts.Token));
        await ssl.DisposeAsync();
        Assert.StartsWith("220 ", await c.ReadReplyAsync(), StringComparison.Ordinal);
    }

    /// <summary>The bytes a real TLS client sends first: captured from SslStream talking to a socket pair.</summary>
    private static async Task<byte[]> CaptureClientHelloAsync()
    {
        using var listener = new TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        using var client = new TcpClient();
        await client.ConnectAsync((System.Net.IPEndPoint)listener.LocalEndpoint);
        using var server = await listener.AcceptTcpClientAsync();
        var ssl = new SslStream(client.GetStream(), false, (_, _, _, _) => true);
        using var cts = new CancellationTokenSource();
        var handshake = ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "mx.tern.test" }, cts.Token);
        var buf = new byte[16 * 1024];
        var n = await server.GetStream().ReadAsync(buf);
        await cts.CancelAsync();
        server.Close();
        try
        {
            await handshake;
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or System.Security.Authentication.AuthenticationException)
        {
            // Expected: we never answer it.
        }

        await ssl.DisposeAsync();
        Assert.Equal(0x16, buf[0]);
        return buf[..n];
    }
}
