using System.Diagnostics;
using System.Text.RegularExpressions;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using Tern.Delivery.Tests;
using Tern.Tests.Support;

namespace Tern.EndToEnd.Tests;

/// <summary>
/// Delivery by the published binary through every kind of transport, to a second published Tern
/// that receives (relay with STARTTLS, submission with STARTTLS and AUTH, submissions with implicit
/// TLS and AUTH), with knot on loopback answering for example.test and a SOCKS5 proxy on loopback.
/// </summary>
public sealed partial class DeliveryTests
{
    [Fact]
    public async Task A_message_for_example_test_is_delivered_through_every_transport()
    {
        using var dnsDir = new TempDir();
        using var knot = await StartKnotAsync(dnsDir.Path);
        await using var proxy = new Socks5TestProxy("proxyuser", "proxy pass");

        // The receiving server: relay for example.test, and AUTH for the smarthost transports.
        using var rx = new TempDir();
        var rxConfig = rx.File("tern.toml", $"""
            hostname = "mx.example.test"
            data_dir = "data"
            [relay]
            domains = ["example.test"]
            [delivery]
            enabled = false
            [shutdown]
            grace = "2s"
            [http]
            listen = "127.0.0.1:{TestPorts.Free()}"
            [listeners.mx]
            kind = "relay"
            address = "127.0.0.1:0"
            [listeners.submission]
            kind = "submission"
            address = "127.0.0.1:0"
            [listeners.submissions]
            kind = "submissions"
            address = "127.0.0.1:0"
            """);
        var (code, stdout, stderr) = await TernProcess.RunAsync(rx.Path, "account", "add", "relay", "--config", rxConfig);
        Assert.True(code == 0, stderr);
        var password = PasswordLine().Match(stdout).Groups[1].Value;
        (code, _, stderr) = await TernProcess.RunAsync(rx.Path, "account", "addresses", "relay", "*", "--config", rxConfig);
        Assert.True(code == 0, stderr);
        await using var receiver = TernProcess.Start(rx.Path, "serve", "-c", rxConfig);
        var mx = await receiver.ListenerAsync("mx");
        var submission = await receiver.ListenerAsync("submission");
        var submissions = await receiver.ListenerAsync("submissions");

        // The sending server: direct delivery finds mx.example.test (127.0.0.1) through knot; routes by sender domain pick the rest.
        using var tx = new TempDir();
        var txHttp = TestPorts.Free();
        var txConfig = tx.File("tern.toml", $"""
            hostname = "out.sender.test"
            data_dir = "data"
            [dns]
            servers = ["{knot.EndPoint}"]
            timeout = "1s"
            [delivery]
            direct_port = {mx.Port}
            [shutdown]
            grace = "2s"
            [http]
            listen = "127.0.0.1:{txHttp}"
            [listeners.relay]
            kind = "relay"
            address = "127.0.0.1:0"

            [transports.smarthost]
            kind = "smtp"
            host = "127.0.0.1"
            port = {mx.Port}
            verify_tls = false
            [transports.sub]
            kind = "submission"
            host = "127.0.0.1"
            port = {submission.Port}
            verify_tls = false
            username = "relay"
            password = "{password}"
            [transports.subs]
            kind = "submissions"
            host = "127.0.0.1"
            port = {submissions.Port}
            verify_tls = false
            username = "relay"
            password = "{password}"
            [transports.proxied]
            kind = "socks"
            proxy = "127.0.0.1:{proxy.Port}"
            username = "proxyuser"
            password = "proxy pass"
            ehlo_name = "proxy.sender.test"
            public_ips = ["127.0.0.1"]
            [transports.refuse]
            kind = "fail"
            code = 550
            enhanced_code = "5.7.1"
            text = "refused by policy"

            [[routes]]
            sender_domains = ["smtp.test"]
            transport = "smarthost"
            [[routes]]
            sender_domains = ["submission.test"]
            transport = "sub"
            [[routes]]
            sender_domains = ["submissions.test"]
            transport = "subs"
            [[routes]]
            sender_domains = ["socks.test"]
            transport = "proxied"
            [[routes]]
            sender_domains = ["fail.test"]
            transport = "refuse"
            """);
        await using var sender = TernProcess.Start(tx.Path, "serve", "-c", txConfig);
        var relay = await sender.ListenerAsync("relay");

        string[] kinds = ["direct", "smtp", "submission", "submissions", "socks", "fail"];
        using (var client = new SmtpClient())
        {
            await client.ConnectAsync("127.0.0.1", relay.Port, SecureSocketOptions.None);
            foreach (var kind in kinds)
            {
                var message = new MimeMessage();
                message.From.Add(MailboxAddress.Parse($"alice@{kind}.test"));
                message.To.Add(MailboxAddress.Parse("user@example.test"));
                message.Subject = "through " + kind;
                message.Body = new TextPart("plain") { Text = $"sent through the {kind} transport" };
                await client.SendAsync(message);
            }

            await client.DisconnectAsync(true);
        }

        // Each attempt's outcome is logged per recipient; wait for one line per message (by its sender's
        // transport), not for a count: the failure notice queued for alice@fail.test logs attempts too.
        string[] transports = ["transport=direct host=mx.example.test", "transport=smarthost ", "transport=sub ", "transport=subs ", "transport=proxied ", "transport=refuse "];
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!transports.All(t => DeliveryLine().Matches(sender.Stderr).Any(m => m.Value.Contains(t, StringComparison.Ordinal))) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        var lines = DeliveryLine().Matches(sender.Stderr).Select(m => m.Value).ToList();
        Assert.True(lines.Count >= kinds.Length, "deliveries logged:\n" + string.Join('\n', lines) + "\n" + sender.Stderr);
        foreach (var (kind, transport) in new[] { ("direct", "direct"), ("smtp", "smarthost"), ("submission", "sub"), ("submissions", "subs"), ("socks", "proxied") })
        {
            Assert.True(
                lines.Any(l => l.Contains($"transport={transport} ", StringComparison.Ordinal) && l.Contains("result=delivered", StringComparison.Ordinal)),
                $"{kind} through {transport} not delivered:\n" + string.Join('\n', lines));
        }

        Assert.Contains(lines, l => l.Contains("transport=refuse", StringComparison.Ordinal) && l.Contains("result=failed", StringComparison.Ordinal) && l.Contains("550 5.7.1 refused by policy", StringComparison.Ordinal));

        // The receiver has the five delivered messages, one per sender domain: each was durable there before
        // its 250, and its listing waits for the index to take them in.
        var list = await QueueDrain.RunAsync(rx.Path, rxConfig, "list");
        foreach (var kind in kinds[..5])
        {
            Assert.Matches($@"(?m)\salice@{kind}\.test\s+1\s+user@example\.test pending$", list);
        }

        Assert.DoesNotContain("alice@fail.test", list, StringComparison.Ordinal);
        Assert.EndsWith("5 of 5 messages\n", list, StringComparison.Ordinal);

        // The SOCKS transport went through the proxy, to the MX's address and port.
        Assert.Contains(proxy.Requests, r => r.EndsWith($" 127.0.0.1:{mx.Port}", StringComparison.Ordinal));

        // The sender's history: five delivered, the refused one failed with the transport's reply, and a failure notice for it queued.
        // (The delivery log lines come before the attempts' records are durable: the history may lag them a little.)
        var history = await QueueDrain.RunAsync(tx.Path, txConfig, "history");
        for (var waited = Stopwatch.StartNew(); Regex.Count(history, @" (delivered|failed)\b") < 6 && waited.Elapsed < TimeSpan.FromSeconds(10);)
        {
            await Task.Delay(100);
            history = await QueueDrain.RunAsync(tx.Path, txConfig, "history");
        }

        Assert.Equal(5, Regex.Count(history, @"user@example\.test delivered"));
        Assert.Matches(@"(?m)alice@fail\.test\s+.*user@example\.test failed", history);
        // (and the notice is committed after the failed attempt's record)
        const string notice = @"(?m)\s<>\s+1\s+alice@fail\.test ";
        Assert.Matches(notice, await QueueDrain.MatchingAsync(tx.Path, txConfig, notice, "list"));

        // The sender's metrics count each attempt by result and transport kind, and pass promtool.
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{txHttp}") };
        var metrics = await http.GetStringAsync("/metrics");
        foreach (var kind in new[] { "direct", "smtp", "submission", "submissions", "socks" })
        {
            Assert.Contains($"tern_delivery_attempts_total{{result=\"delivered\",transport=\"{kind}\"}} 1", metrics, StringComparison.Ordinal);
        }

        Assert.Contains("tern_delivery_attempts_total{result=\"failed\",transport=\"fail\"} 1", metrics, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^tern_delivery_connections_opened_total [5-9]", metrics);
        Assert.Contains("tern_delivery_duration_seconds_bucket{result=\"delivered\",transport=\"submissions\",tls=\"opportunistic\",le=", metrics, StringComparison.Ordinal);
        await Promtool.AssertValidAsync(metrics);
    }

    /// <summary>knot on a free loopback port, authoritative for example.test, whose MX is 127.0.0.1.</summary>
    private static Task<LoopbackDaemon> StartKnotAsync(string dir) => KnotServer.StartAsync(dir, new Dictionary<string, string>
    {
        ["example.test"] = """
            $ORIGIN example.test.
            $TTL 60
            @   SOA ns hostmaster 1 3600 600 86400 60
            @   NS ns
            ns  A 127.0.0.1
            @   MX 10 mx
            mx  A 127.0.0.1
            """,
    }, "example.test");

    [GeneratedRegex(@"(?m)^password: (\S+)$")]
    private static partial Regex PasswordLine();

    [GeneratedRegex("m=delivery c=delivery .*")]
    private static partial Regex DeliveryLine();
}
