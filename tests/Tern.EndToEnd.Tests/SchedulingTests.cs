using System.Diagnostics;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using Tern.Tests.Support;

namespace Tern.EndToEnd.Tests;

/// <summary>
/// The scheduler in the published binary against Postfix's smtp-sink as the next hop: everything
/// smtp-source sends arrives; 4xx on RCPT and 421 on MAIL are retried; 5xx on RCPT bounces with a
/// failure notice that carries the sink's reply; a slow destination does not slow a fast one.
/// </summary>
public sealed partial class SchedulingTests
{
    /// <summary>An smtp-sink on a free loopback port, dumping what it receives (as nobody, into a directory it can write).</summary>
    internal static async Task<(LoopbackDaemon Sink, string Dump)> SinkAsync(TempDir dir, string name, params string[] flags)
    {
        // smtp-sink runs as nobody: it must reach the dump directory (the test directory is owner-only) and write into it.
        var dump = Path.Combine(dir.Path, name);
        Directory.CreateDirectory(dump);
        File.SetUnixFileMode(dir.Path, File.GetUnixFileMode(dir.Path) | UnixFileMode.OtherExecute);
        File.SetUnixFileMode(dump, (UnixFileMode)0x1FF);
        var sink = await LoopbackDaemon.StartAsync(
            "smtp-sink",
            port => ["-u", "nobody", "-d", dump + "/%M.", .. flags, $"127.0.0.1:{port}", "256"],
            async port =>
            {
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    await socket.ConnectAsync("127.0.0.1", port);
                    return true;
                }
                catch (SocketException)
                {
                    return false;
                }
            });
        return (sink, dump);
    }

    /// <summary>Tern relaying fast.test, slow.test and notice.test each to its own sink (smtp transports), everything else direct to <paramref name="directPort"/>.</summary>
    private static string Config(TempDir dir, int http, int directPort, int fastPort, int slowPort, int noticePort, string extra = "") => dir.File("tern.toml", $"""
        hostname = "relay.sender.test"
        data_dir = "data"
        [delivery]
        direct_port = {directPort}
        concurrency = 100
        first_retry = "1h"
        {extra}
        [shutdown]
        grace = "2s"
        [http]
        listen = "127.0.0.1:{http}"
        [listeners.relay]
        kind = "relay"
        address = "127.0.0.1:0"
        [transports.fast]
        kind = "smtp"
        host = "127.0.0.1"
        port = {fastPort}
        require_tls = false
        [transports.slow]
        kind = "smtp"
        host = "127.0.0.1"
        port = {slowPort}
        require_tls = false
        [transports.notices]
        kind = "smtp"
        host = "127.0.0.1"
        port = {noticePort}
        require_tls = false
        [[routes]]
        recipient_domains = ["fast.test"]
        transport = "fast"
        [[routes]]
        recipient_domains = ["slow.test"]
        transport = "slow"
        [[routes]]
        recipient_domains = ["sender.test"]
        transport = "notices"
        """);

    internal static int Dumped(string dump) => Directory.GetFiles(dump).Length;

    /// <summary>
    /// Waits until Tern logs the delivery to <paramref name="rcpt"/> as done: smtp-sink creates its dump
    /// file at MAIL FROM and closes it before its 250, so only then is the file whole.
    /// </summary>
    internal static Task WaitForDelivered(TernProcess tern, string rcpt) =>
        WaitFor(() => Regex.IsMatch(tern.Stderr, $"m=delivery .*rcpt={Regex.Escape(rcpt)} .*result=delivered"), $"the delivery to {rcpt} is logged", tern);

    internal static async Task WaitFor(Func<bool> condition, string what, TernProcess tern, int seconds = 60)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(seconds), $"timed out waiting until {what}\n{tern.Stderr[^Math.Min(4000, tern.Stderr.Length)..]}");
            await Task.Delay(100);
        }
    }

    private static async Task SendAsync(int port, string to, string subject)
    {
        using var client = new SmtpClient();
        await client.ConnectAsync("127.0.0.1", port, SecureSocketOptions.None);
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("alice@sender.test"));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = "hello" };
        await client.SendAsync(message);
        await client.DisconnectAsync(true);
    }

    [Fact]
    public async Task Everything_smtp_source_sends_arrives_at_the_sink()
    {
        using var dir = new TempDir();
        var (sink, dump) = await SinkAsync(dir, "fast");
        using var _ = sink;
        var config = Config(dir, TestPorts.Free(), sink.EndPoint.Port, sink.EndPoint.Port, sink.EndPoint.Port, sink.EndPoint.Port);
        await using var tern = TernProcess.Start(dir.Path, "serve", "-c", config);
        var relay = await tern.ListenerAsync("relay");
        var source = Process.Start(new ProcessStartInfo("/usr/sbin/smtp-source", ["-d", "-s", "20", "-m", "2000", "-l", "1024", "-f", "a@sender.test", "-t", "b@fast.test", $"127.0.0.1:{relay.Port}"]) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        await source.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(120));
        Assert.True(source.ExitCode == 0, await source.StandardError.ReadToEndAsync());
        await WaitFor(() => Dumped(dump) >= 2000, "the sink has all 2000 messages", tern);
        // The last attempts are recorded after the sink's 250s.
        var (empty, last) = await QueueDrain.WaitForEmptyAsync(dir, config, TimeSpan.FromSeconds(30));
        Assert.True(empty, last);
        Assert.Equal(2000, Dumped(dump));
    }

    [Theory]
    [InlineData("-r", "RCPT")]
    [InlineData("-Q", "MAIL")]
    public async Task A_temporary_refusal_defers_the_message_for_a_retry(string flag, string command)
    {
        using var dir = new TempDir();
        var (sink, _) = await SinkAsync(dir, "refusing", flag, command);
        using var __ = sink;
        var config = Config(dir, TestPorts.Free(), sink.EndPoint.Port, sink.EndPoint.Port, sink.EndPoint.Port, sink.EndPoint.Port);
        await using var tern = TernProcess.Start(dir.Path, "serve", "-c", config);
        var relay = await tern.ListenerAsync("relay");
        await SendAsync(relay.Port, "bob@fast.test", "deferred");
        await WaitFor(() => DeliveryLine().IsMatch(tern.Stderr), "the attempt is logged", tern);
        var line = DeliveryLine().Match(tern.Stderr).Value;
        Assert.Contains("result=deferred", line, StringComparison.Ordinal);
        Assert.Contains(command == "RCPT" ? "reply=\"450" : "reply=\"421", line, StringComparison.Ordinal);

        // Still queued, one attempt made, the next one on the retry schedule (first_retry = 1h here).
        // (The attempt is logged before it is recorded.)
        const string deferred = @"(?m)\salice@sender\.test\s+1\s+bob@fast\.test deferred";
        var list = await QueueDrain.MatchingAsync(dir.Path, config, deferred, "list");
        Assert.Matches(deferred, list);
        Assert.EndsWith("1 of 1 message\n", list, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_permanent_refusal_bounces_with_a_notice_that_carries_the_sinks_reply()
    {
        using var dir = new TempDir();
        var (refusing, _) = await SinkAsync(dir, "refusing", "-f", "RCPT");
        using var a = refusing;
        var (notices, noticeDump) = await SinkAsync(dir, "notices");
        using var b = notices;
        var config = Config(dir, TestPorts.Free(), refusing.EndPoint.Port, refusing.EndPoint.Port, refusing.EndPoint.Port, notices.EndPoint.Port);
        await using var tern = TernProcess.Start(dir.Path, "serve", "-c", config);
        var relay = await tern.ListenerAsync("relay");
        await SendAsync(relay.Port, "bob@fast.test", "bounced");
        await WaitForDelivered(tern, "alice@sender.test");

        var dsn = await MimeMessage.LoadAsync(Directory.GetFiles(noticeDump).Single());
        var report = Assert.IsType<MultipartReport>(dsn.Body);
        Assert.Equal("delivery-status", report.ReportType);
        var status = report.OfType<MessageDeliveryStatus>().Single();
        var recipient = status.StatusGroups[1];
        Assert.Equal("failed", recipient["Action"]);
        Assert.StartsWith("5.", recipient["Status"], StringComparison.Ordinal);
        Assert.Equal("rfc822; bob@fast.test", recipient["Final-Recipient"]);
        Assert.StartsWith("dns; 127.0.0.1", recipient["Remote-MTA"], StringComparison.Ordinal);

        // The sink's reply, verbatim, in the Diagnostic-Code and in the human-readable part.
        var sinkReply = Regex.Match(tern.Stderr, @"reply=""(5\d\d [^""]*)""").Groups[1].Value;
        Assert.False(string.IsNullOrEmpty(sinkReply), tern.Stderr);
        Assert.Equal("smtp; " + sinkReply, recipient["Diagnostic-Code"]);
        Assert.Contains(sinkReply, report.OfType<TextPart>().First().Text, StringComparison.Ordinal);

        // The refused message retired as failed.
        Assert.Matches(@"(?m)alice@sender\.test\s+.*bob@fast\.test failed", await QueueDrain.RunAsync(dir.Path, config, "history"));
    }

    [Fact]
    public async Task A_slow_destination_does_not_slow_a_fast_one()
    {
        using var dir = new TempDir();
        var (fast, fastDump) = await SinkAsync(dir, "fast");
        using var a = fast;
        var (slow, slowDump) = await SinkAsync(dir, "slow", "-w", "2");
        using var b = slow;
        var config = Config(dir, TestPorts.Free(), fast.EndPoint.Port, fast.EndPoint.Port, slow.EndPoint.Port, fast.EndPoint.Port, "max_connections = 10");
        await using var tern = TernProcess.Start(dir.Path, "serve", "-c", config);
        var relay = await tern.ListenerAsync("relay");

        // 200 for the slow destination first (10 connections x 2 s per message: ~40 s), then 200 for the fast one.
        var slowSource = Process.Start(new ProcessStartInfo("/usr/sbin/smtp-source", ["-d", "-s", "10", "-m", "200", "-l", "1024", "-f", "a@sender.test", "-t", "b@slow.test", $"127.0.0.1:{relay.Port}"]) { RedirectStandardError = true })!;
        await slowSource.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        var started = Stopwatch.StartNew();
        var fastSource = Process.Start(new ProcessStartInfo("/usr/sbin/smtp-source", ["-d", "-s", "10", "-m", "200", "-l", "1024", "-f", "a@sender.test", "-t", "b@fast.test", $"127.0.0.1:{relay.Port}"]) { RedirectStandardError = true })!;
        await fastSource.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        await WaitFor(() => Dumped(fastDump) >= 200, "the fast sink has its 200 messages", tern);
        var fastDone = started.Elapsed;

        // The fast destination finished while the slow one was still far from done.
        var slowDone = Dumped(slowDump);
        Assert.True(slowDone < 150, $"the slow sink already had {slowDone} of 200 after {fastDone.TotalSeconds:F1} s: it is not slow enough to show anything");
        Assert.True(fastDone < TimeSpan.FromSeconds(20), $"the fast destination took {fastDone.TotalSeconds:F1} s for 200 messages");
    }

    [GeneratedRegex("m=delivery c=delivery id=.*")]
    private static partial Regex DeliveryLine();
}
