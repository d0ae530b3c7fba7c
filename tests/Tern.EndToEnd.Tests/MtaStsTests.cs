using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.RegularExpressions;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using Tern.Tests.Support;

namespace Tern.EndToEnd.Tests;

/// <summary>
/// MTA-STS (RFC 8461) in the published binary, on by default: knot answers for two recipient
/// domains that publish an enforced policy, a real HTTPS policy host on loopback serves it (its
/// certificate from a test CA that <c>delivery.ca_bundle</c> names), and <c>tern-load sink</c> is the
/// MX, with a certificate from that CA for the listed MX name.
/// </summary>
public sealed class MtaStsTests
{
    // The MX's own loopback address (Linux routes all of 127/8 to lo); the policy host is on 127.0.0.1.
    private const string MxAddress = "127.0.0.61";

    // Both domains publish the same policy: sts.test's MX is the host it names; spoofed.test's MX
    // record points elsewhere (the forged MX record MTA-STS protects against, section 10.1).
    private const string Policy = "version: STSv1\nmode: enforce\nmx: mx.sts.test\nmax_age: 86400\n";

    [Fact]
    public async Task An_enforced_policy_delivers_to_the_listed_mx_over_verified_tls_and_keeps_mail_for_an_unlisted_one()
    {
        using var dir = new TempDir();
        using var pki = new TestPki();

        // The MX: STARTTLS with a certificate for mx.sts.test from the test CA.
        var leaf = pki.Leaf("mx.sts.test");
        var certPem = dir.File("mx.crt", leaf.ExportCertificatePem() + "\n");
        using (var key = leaf.GetECDsaPrivateKey()!)
        {
            dir.File("mx.key", key.ExportPkcs8PrivateKeyPem() + "\n");
        }

        var received = Path.Combine(dir.Path, "received.ids");
        var (sink, mxPort) = await LoadSink.StartOnAsync(dir.Path, MxAddress, "--tls",
            "--cert", certPem, "--key", Path.Combine(dir.Path, "mx.key"), "--ids", received);
        await using var sinkProcess = sink;

        // The policy hosts mta-sts.sts.test and mta-sts.spoofed.test: one HTTPS server, a certificate per SNI name.
        await using var policyHost = PolicyServer.Start(pki.Leaf("mta-sts.sts.test"), PolicyServer.Reply.Policy(Policy));
        policyHost.CertificateFor = pki.Leaf;

        var dnsDir = Path.Combine(dir.Path, "dns");
        Directory.CreateDirectory(dnsDir);
        using var knot = await KnotServer.StartAsync(dnsDir, new Dictionary<string, string>
        {
            ["sts.test"] = Zone("sts.test", "mx"),
            ["spoofed.test"] = Zone("spoofed.test", "evil"),
        }, "sts.test");

        // MTA-STS is not switched on here: it is the default.
        var http = TestPorts.Free();
        var config = dir.File("tern.toml", $"""
            hostname = "out.sender.test"
            data_dir = "data"
            [dns]
            servers = ["{knot.EndPoint}"]
            timeout = "1s"
            [delivery]
            ca_bundle = "{pki.BundlePath}"
            direct_port = {mxPort}
            mta_sts_port = {policyHost.Port}
            first_retry = "1h"
            [shutdown]
            grace = "2s"
            [http]
            listen = "127.0.0.1:{http}"
            [listeners.relay]
            kind = "relay"
            address = "127.0.0.1:0"
            """);
        var check = await TernProcess.RunAsync(dir.Path, "config", "check", "-c", config);
        Assert.True(check.Code == 0, check.Stderr);

        await using var tern = TernProcess.Start(dir.Path, "serve", "-c", config);
        var relay = await tern.ListenerAsync("relay");
        await tern.WaitForLogAsync(new Regex($"m=listening c=http address=127.0.0.1:{http}"));
        await SendAsync(relay.Port, "bob@sts.test", "listed-1@sender.test");
        await SendAsync(relay.Port, "carol@spoofed.test", "spoofed-1@sender.test");

        var delivered = await tern.WaitForLogAsync(new Regex("m=delivery c=delivery id=\\S+ rcpt=bob@sts\\.test .*"), TimeSpan.FromSeconds(60));
        Assert.Contains("host=mx.sts.test", delivered.Value, StringComparison.Ordinal);
        Assert.Contains("result=delivered", delivered.Value, StringComparison.Ordinal);
        var deferred = await tern.WaitForLogAsync(new Regex("m=delivery c=delivery id=(\\S+) rcpt=carol@spoofed\\.test .*"), TimeSpan.FromSeconds(60));
        Assert.Contains("result=deferred", deferred.Value, StringComparison.Ordinal);
        Assert.Contains("4.7.5", deferred.Value, StringComparison.Ordinal);

        // The sink got the message for the listed MX, and never a connection for the unlisted one.
        await WaitForAsync(() => File.Exists(received) && File.ReadAllText(received).Contains("listed-1@sender.test", StringComparison.Ordinal), "the sink has the message", tern);
        Assert.DoesNotContain("spoofed-1@sender.test", await File.ReadAllTextAsync(received), StringComparison.Ordinal);

        // Each policy was fetched once, over TLS with the policy host's name (SNI and Host).
        Assert.Equal(2, policyHost.Requests);
        foreach (var name in new[] { "mta-sts.sts.test", "mta-sts.spoofed.test" })
        {
            Assert.Contains(policyHost.Seen, s => s.StartsWith($"{name}|GET /.well-known/mta-sts.txt HTTP/1.1|{name}", StringComparison.Ordinal));
        }

        // The unlisted recipient stays queued with the reason (recorded a moment after it is logged).
        const string stillQueued = @"(?m)^  carol@spoofed\.test  deferred";
        var show = await QueueDrain.MatchingAsync(dir.Path, config, stillQueued, "show", deferred.Groups[1].Value);
        Assert.Matches(stillQueued, show);
        Assert.Contains("| 451 4.7.5 evil.spoofed.test: not an MX host of the MTA-STS policy of spoofed.test (mode enforce)", show, StringComparison.Ordinal);
        Assert.Matches(@"(?m)\scarol@spoofed\.test deferred$", await RunAsync(dir, "queue", "list", "-c", config));

        // The session to the listed MX counted as verified under MTA-STS; the metrics pass promtool.
        using (var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{http}") })
        {
            var metrics = await client.GetStringAsync("/metrics");
            Assert.Contains("tern_delivery_tls_sessions_total{mode=\"mtasts\"} 1\n", metrics, StringComparison.Ordinal);
            Assert.Contains("tern_delivery_mtasts_total{result=\"verified\"} 1\n", metrics, StringComparison.Ordinal);
            Assert.Contains("tern_delivery_mtasts_total{result=\"mx_not_listed\"} 1\n", metrics, StringComparison.Ordinal);
            Assert.Contains("tern_mtasts_fetches_total{result=\"ok\"} 2\n", metrics, StringComparison.Ordinal);
            Assert.Contains("tern_mtasts_policies{mode=\"enforce\"} 2\n", metrics, StringComparison.Ordinal);
            await Promtool.AssertValidAsync(metrics);
        }

        // The running server wrote its cache within seconds; tern mta-sts list reads it.
        var cache = Path.Combine(dir.Path, "data", "mta-sts.json");
        var list = string.Empty;
        await WaitForAsync(
            async () => (list = await RunAsync(dir, "mta-sts", "list", "-c", config)).Contains("2 policies", StringComparison.Ordinal),
            "tern mta-sts list shows both policies",
            tern);
        AssertListed(list);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(cache));

        var json = JsonDocument.Parse(await RunAsync(dir, "mta-sts", "list", "--json", "-c", config)).RootElement;
        Assert.Equal(cache, json.GetProperty("file").GetString());
        Assert.True(json.GetProperty("enabled").GetBoolean());
        var entries = json.GetProperty("entries").EnumerateArray().ToArray();
        Assert.Equal(["spoofed.test", "sts.test"], entries.Select(e => e.GetProperty("domain").GetString()));
        Assert.All(entries, e =>
        {
            Assert.Equal("enforce", e.GetProperty("mode").GetString());
            Assert.Equal("1", e.GetProperty("id").GetString());
            Assert.Equal(["mx.sts.test"], e.GetProperty("mx").EnumerateArray().Select(m => m.GetString()));
            Assert.Equal(86400, e.GetProperty("max_age").GetInt32());
            Assert.False(e.GetProperty("expired").GetBoolean());
        });

        // And without the server: the cache survives it.
        tern.Signal(TernProcess.SIGTERM);
        Assert.Equal(0, await tern.WaitForExitAsync(TimeSpan.FromSeconds(15)));
        AssertListed(await RunAsync(dir, "mta-sts", "list", "-c", config));
    }

    private static void AssertListed(string list)
    {
        Assert.Matches(@"(?m)^DOMAIN\s+MODE\s+ID\s+MX\s+FETCHED\s+EXPIRES\s+LAST-USED\s+LAST-FAILURE$", list);
        Assert.Matches(@"(?m)^spoofed\.test\s+enforce\s+1\s+mx\.sts\.test\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+\d{4}-\d\d-\d\dT\S+Z\s+\S+Z\s+-$", list);
        Assert.Matches(@"(?m)^sts\.test\s+enforce\s+1\s+mx\.sts\.test\s+\S+Z\s+\S+Z\s+\S+Z\s+-$", list);
        Assert.EndsWith("2 policies\n", list, StringComparison.Ordinal);
    }

    /// <summary>A recipient domain with an MTA-STS record, its policy host on 127.0.0.1 and its MX <paramref name="mx"/>.DOMAIN on <see cref="MxAddress"/>.</summary>
    private static string Zone(string domain, string mx) => $"""
        $ORIGIN {domain}.
        $TTL 60
        @         SOA ns hostmaster 1 3600 600 86400 60
        @         NS ns
        ns        A 127.0.0.1
        @         MX 10 {mx}
        {mx}      A {MxAddress}
        _mta-sts  TXT "v=STSv1; id=1"
        mta-sts   A 127.0.0.1
        """;

    private static async Task SendAsync(int port, string to, string messageId)
    {
        using var client = new SmtpClient();
        await client.ConnectAsync("127.0.0.1", port, SecureSocketOptions.None);
        var message = new MimeMessage { MessageId = messageId, Subject = "mta-sts " + to };
        message.From.Add(MailboxAddress.Parse("alice@sender.test"));
        message.To.Add(MailboxAddress.Parse(to));
        message.Body = new TextPart("plain") { Text = "under an enforced MTA-STS policy" };
        await client.SendAsync(message);
        await client.DisconnectAsync(true);
    }

    private static async Task<string> RunAsync(TempDir dir, params string[] args)
    {
        var (code, stdout, stderr) = await TernProcess.RunAsync(dir.Path, args);
        Assert.True(code == 0, $"tern {string.Join(' ', args)}: exit {code}\n{stdout}{stderr}");
        return stdout;
    }

    private static Task WaitForAsync(Func<bool> condition, string what, TernProcess tern) =>
        WaitForAsync(() => Task.FromResult(condition()), what, tern);

    private static async Task WaitForAsync(Func<Task<bool>> condition, string what, TernProcess tern)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new Xunit.Sdk.XunitException($"timed out waiting until {what}; log:\n{tern.Stderr}");
            }

            await Task.Delay(100);
        }
    }
}
