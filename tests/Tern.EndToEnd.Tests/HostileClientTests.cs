using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Tern.EndToEnd.Tests;

/// <summary>
/// Hostile clients against the published binary, where memory (RSS from /proc) and thousands of
/// sockets are real: idle connections cost a bounded amount each, a mix of abusive sessions leaves
/// memory bounded and the server serving, and swaks's relay attempts from an outsider queue nothing.
/// Longer versions: TERN_HOSTILE_CONNECTIONS (default 2000).
/// </summary>
public sealed class HostileClientTests
{
    private static readonly int IdleConnections = int.TryParse(Environment.GetEnvironmentVariable("TERN_HOSTILE_CONNECTIONS"), out var n) ? n : 2000;

    [Fact]
    public async Task Thousands_of_idle_connections_cost_little_each_and_others_are_served()
    {
        using var dir = new TempDir();
        var config = Config(dir, "max_connections = 100000\ncommand_timeout = \"2m\"");
        await using var tern = TernProcess.Start(dir.Path, "serve", "-c", config);
        var relay = await tern.ListenerAsync("relay");
        await SendOneAsync(relay, "warm-up");
        await Task.Delay(500);
        var before = ProcStatus.Rss(tern.Pid);

        var sockets = new List<Socket>(IdleConnections);
        try
        {
            // Each from its own 127.0.x.y (the per-IP limit is per address), each greeted.
            for (var batch = 0; batch < IdleConnections; batch += 200)
            {
                var opened = await Task.WhenAll(Enumerable.Range(batch, Math.Min(200, IdleConnections - batch)).Select(async i =>
                {
                    var s = await ConnectFromAsync(relay, i);
                    Assert.StartsWith("220 ", await ReadSomeAsync(s), StringComparison.Ordinal);
                    return s;
                }));
                sockets.AddRange(opened);
            }

            await Task.Delay(500);
            var after = ProcStatus.Rss(tern.Pid);
            var perConnection = (after - before) / IdleConnections;
            Console.WriteLine($"idle connections: {IdleConnections}, RSS {before / 1024} KiB -> {after / 1024} KiB, {perConnection / 1024.0:F1} KiB per connection");
            File.AppendAllText(Path.Combine(Path.GetTempPath(), "tern-hostile-figures.txt"), $"{DateTime.UtcNow:O} idle={IdleConnections} rss_before_kib={before / 1024} rss_after_kib={after / 1024} per_connection_kib={perConnection / 1024.0:F1}\n");
            Assert.True(perConnection < 48 * 1024, $"{perConnection} bytes per idle connection");

            // A normal client is served promptly while they all wait.
            var sw = Stopwatch.StartNew();
            await SendOneAsync(relay, "during-idle-flood");
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), sw.Elapsed.ToString());
        }
        finally
        {
            foreach (var s in sockets)
            {
                s.Dispose();
            }
        }

        tern.Signal(TernProcess.SIGTERM);
        Assert.Equal(0, await tern.WaitForExitAsync(TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public async Task A_mix_of_abusive_sessions_keeps_memory_bounded_and_the_server_serving()
    {
        using var dir = new TempDir();
        var config = Config(dir, "max_connections = 100000\nmax_message_size = \"1MiB\"\ndata_timeout = \"2s\"\ncommand_timeout = \"2s\"\ntls_handshake_timeout = \"2s\"");
        await using var tern = TernProcess.Start(dir.Path, "serve", "-c", config);
        var relay = await tern.ListenerAsync("relay");
        await SendOneAsync(relay, "warm-up");
        await Task.Delay(500);
        var before = ProcStatus.Rss(tern.Pid);

        var megabyteLine = new byte[1 << 20];
        Array.Fill(megabyteLine, (byte)'A');
        var noopFlood = Encoding.ASCII.GetBytes("EHLO x\r\n" + string.Concat(Enumerable.Repeat("NOOP\r\n", 20_000)));
        var bdat = new byte[2 << 20];
        Array.Fill(bdat, (byte)'b');
        var garbage = RandomNumberGenerator.GetBytes(64 * 1024);
        garbage[0] = 0x16;
        garbage[1] = 3;

        // 50 of each at once: long lines, NOOP floods, BDAT declaring 9 EB, garbage after STARTTLS.
        var attacks = new List<Task>();
        for (var i = 0; i < 50; i++)
        {
            attacks.Add(AbuseAsync(relay, 1000 + i, "EHLO x\r\n"u8.ToArray(), megabyteLine, megabyteLine));
            attacks.Add(AbuseAsync(relay, 2000 + i, noopFlood));
            attacks.Add(AbuseAsync(relay, 3000 + i, "EHLO x\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<b@ours.example>\r\nBDAT 9000000000000000000 LAST\r\n"u8.ToArray(), bdat));
            attacks.Add(AbuseAsync(relay, 4000 + i, "EHLO x\r\nSTARTTLS\r\n"u8.ToArray(), garbage));
        }

        var sw = Stopwatch.StartNew();
        await SendOneAsync(relay, "during-abuse");
        var served = sw.Elapsed;
        await Task.WhenAll(attacks);

        var peak = ProcStatus.PeakRss(tern.Pid);
        await Task.Delay(1000);
        var after = ProcStatus.Rss(tern.Pid);
        var growth = peak - before;
        Console.WriteLine($"abusive sessions: 200, RSS {before / 1024} KiB -> peak {peak / 1024} KiB -> {after / 1024} KiB after; normal client served in {served.TotalMilliseconds:F0} ms");
        File.AppendAllText(Path.Combine(Path.GetTempPath(), "tern-hostile-figures.txt"), $"{DateTime.UtcNow:O} abusive=200 rss_before_kib={before / 1024} peak_kib={peak / 1024} after_kib={after / 1024} served_ms={served.TotalMilliseconds:F0}\n");

        // Bounded: far less than the 300 MB the attackers sent; under 512 KiB per abusive session at the peak.
        Assert.True(growth / 200 < 512 * 1024, $"peak RSS grew by {growth / 1024} KiB for 200 sessions");
        Assert.True(served < TimeSpan.FromSeconds(10), served.ToString());
        await SendOneAsync(relay, "after-abuse");

        tern.Signal(TernProcess.SIGTERM);
        Assert.Equal(0, await tern.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        Assert.DoesNotContain("l=error", tern.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Swaks_relay_tricks_from_an_outsider_are_refused_and_nothing_is_queued()
    {
        using var dir = new TempDir();
        const string Admin = "hostile-admin-token-0123456789";
        var config = Config(dir, string.Empty, $"admin_token = \"{Admin}\"");
        await using var tern = TernProcess.Start(dir.Path, "serve", "-c", config);
        var relay = await tern.ListenerAsync("relay");
        var http = int.Parse((await tern.WaitForLogAsync(new Regex(@"m=listening c=http address=127\.0\.0\.1:(\d+)"))).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);

        string[] tricks =
        [
            "victim@elsewhere.example",
            "victim%elsewhere.example@ours.example",
            "elsewhere.example!victim@ours.example",
            "\"victim@elsewhere.example\"@ours.example",
            "@ours.example:victim@elsewhere.example",
            "victim@[192.0.2.1]",
            "victim@elsewhere.example.",
            "postmaster@elsewhere.example",
        ];
        foreach (var (to, helo, from) in tricks.Select(t => (t, "localhost", "user@ours.example"))
            .Append(("victim@elsewhere.example", "[127.0.0.1]", "postmaster@ours.example"))
            .Append(("victim@elsewhere.example", "mx.tern.test", "<>")))
        {
            var (code, stdout, stderr) = await TernProcess.RunProgramAsync("swaks", dir.Path, TimeSpan.FromSeconds(30), "--server", "127.0.0.1", "--port", relay.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--ehlo", helo, "--from", from == "<>" ? string.Empty : from, "--to", to, "--body", "relay test");
            var output = stdout + stderr;
            Assert.True(code != 0, output);
            Assert.Matches(new Regex(@"<\*\* 5\d\d ", RegexOptions.Multiline), output);
            Assert.DoesNotContain("queued", output, StringComparison.OrdinalIgnoreCase);
        }

        // XCLIENT is not a thing here.
        var (xcode, xout, xerr) = await TernProcess.RunProgramAsync("swaks", dir.Path, TimeSpan.FromSeconds(30), "--server", "127.0.0.1", "--port", relay.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--xclient-addr", "127.0.0.1", "--xclient-optional", "--to", "victim@elsewhere.example", "--from", "a@ours.example");
        Assert.True(xcode != 0, xout + xerr);

        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{http}") };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Admin);
        var queue = JsonDocument.Parse(await client.GetStringAsync("/api/v1/queue")).RootElement;
        Assert.Equal(0, queue.GetProperty("total").GetInt32());
        var metrics = await client.GetStringAsync("/metrics");
        Assert.Matches(new Regex(@"relay_denied\S*\s+([1-9]\d*)", RegexOptions.Multiline), metrics);

        tern.Signal(TernProcess.SIGTERM);
        Assert.Equal(0, await tern.WaitForExitAsync(TimeSpan.FromSeconds(20)));
    }

    /// <param name="http">Lines of the [http] table besides its listen port (each test has its own).</param>
    private static string Config(TempDir dir, string smtp, string http = "")
    {
        var (certPath, keyPath, _) = SelfSignedCertificate.Write(dir.Path);
        return dir.File("tern.toml", $"""
            hostname = "mx.tern.test"
            data_dir = "data"
            [log]
            level = "info"
            [delivery]
            enabled = false
            [relay]
            networks = []
            domains = ["ours.example"]
            [smtp]
            {smtp}
            [http]
            listen = "127.0.0.1:{TestPorts.Free()}"
            {http}
            [listeners.relay]
            kind = "relay"
            address = "127.0.0.1:0"
            tls_cert = "{certPath}"
            tls_key = "{keyPath}"
            """);
    }

    /// <summary>Connects from 127.0.x.y so that each connection counts as another client address.</summary>
    private static async Task<Socket> ConnectFromAsync(IPEndPoint server, int index)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(new IPAddress([127, (byte)(1 + (index / 62500)), (byte)(1 + (index / 250 % 250)), (byte)(1 + (index % 250))]), 0));
        await s.ConnectAsync(server);
        return s;
    }

    private static async Task<string> ReadSomeAsync(Socket s)
    {
        var buf = new byte[1024];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var n = await s.ReceiveAsync(buf, SocketFlags.None, cts.Token);
        return Encoding.ASCII.GetString(buf, 0, n);
    }

    /// <summary>Sends the parts without reading, then drains replies until the server closes (or 20 s).</summary>
    private static async Task AbuseAsync(IPEndPoint server, int index, params byte[][] parts)
    {
        using var s = await ConnectFromAsync(server, index);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var drain = Task.Run(async () =>
        {
            var buf = new byte[16 * 1024];
            try
            {
                while (await s.ReceiveAsync(buf, SocketFlags.None, cts.Token) > 0)
                {
                }
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
            }
        });
        try
        {
            foreach (var p in parts)
            {
                await s.SendAsync(p, SocketFlags.None, cts.Token);
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            // The server cut us off: expected for most of these.
        }

        await drain;
        Assert.False(cts.IsCancellationRequested, "an abusive session was not closed by the server within 20 s");
    }

    /// <summary>A complete transaction to an accepted domain; fails if it is not accepted.</summary>
    private static async Task SendOneAsync(IPEndPoint relay, string tag)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(relay);
        var stream = tcp.GetStream();
        using var reader = new StreamReader(stream, Encoding.ASCII);
        async Task<string> Reply()
        {
            string line;
            do
            {
                line = await reader.ReadLineAsync() ?? "<closed>";
            }
            while (line.Length > 3 && line[3] == '-');
            return line;
        }

        async Task<string> Command(string c)
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes(c + "\r\n"));
            return await Reply();
        }

        Assert.StartsWith("220", await Reply(), StringComparison.Ordinal);
        Assert.StartsWith("250", await Command("EHLO normal.example"), StringComparison.Ordinal);
        Assert.StartsWith("250", await Command("MAIL FROM:<normal@client.example>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await Command("RCPT TO:<user@ours.example>"), StringComparison.Ordinal);
        Assert.StartsWith("354", await Command("DATA"), StringComparison.Ordinal);
        Assert.StartsWith("250", await Command($"Subject: {tag}\r\n\r\nhello\r\n."), StringComparison.Ordinal);
        Assert.StartsWith("221", await Command("QUIT"), StringComparison.Ordinal);
    }
}
