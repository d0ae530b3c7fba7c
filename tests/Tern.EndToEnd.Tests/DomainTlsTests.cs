using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.RegularExpressions;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Tern.EndToEnd.Tests;

/// <summary>
/// The domain TLS history of the published binary: kept in DATA/domain-tls.json across restarts,
/// listed by <c>tern queue domains</c> and GET /api/v1/domains, and the "auto" REQUIRETLS choice
/// it feeds for authenticated submissions over STARTTLS.
/// </summary>
public sealed partial class DomainTlsTests
{
    [Fact]
    public async Task Submissions_get_requiretls_when_every_recipient_domain_took_it_last_time()
    {
        using var dir = new TempDir();
        var port = TestPorts.Free();
        var config = dir.File("tern.toml", $"""
            hostname = "e2e.tern.test"
            data_dir = "data"

            [shutdown]
            grace = "5s"

            # The history comes from the file an earlier run left; these messages stay queued.
            [delivery]
            enabled = false

            [listeners.submission]
            kind = "submission"
            address = "127.0.0.1:0"

            [listeners.manual]
            kind = "submission"
            address = "127.0.0.1:0"
            requiretls = "off"

            [http]
            listen = "127.0.0.1:{port}"
            """);
        var added = await TernProcess.RunAsync(dir.Path, "account", "add", "alice@example.org", "-c", config);
        Assert.True(added.Code == 0, added.Stderr);
        var password = Regex.Match(added.Stdout, @"password: (\S+)").Groups[1].Value;

        var history = Path.Combine(dir.Path, "data", "domain-tls.json");
        await File.WriteAllTextAsync(history, """
            {"version":1,"domains":[
              {"domain":"secure.example","last_delivery":"2026-03-01T12:00:00+00:00","starttls":true,"verified":true,"requiretls":true},
              {"domain":"plain.example","last_delivery":"2026-03-01T12:05:00+00:00","starttls":true,"verified":false,"requiretls":false}
            ]}
            """);

        await using var tern = TernProcess.Start(dir.Path, "serve", "-c", config);
        var submission = await tern.ListenerAsync("submission");
        var manual = await tern.ListenerAsync("manual");
        await tern.WaitForLogAsync(new Regex($"m=\"domain TLS history loaded\" c=delivery file={Regex.Escape(history)} domains=2 skipped=0"));
        await tern.WaitForLogAsync(new Regex($"m=listening c=http address=127.0.0.1:{port}"));

        await SubmitAsync(submission.Port, password, ["bob@secure.example"], "auto");
        await SubmitAsync(submission.Port, password, ["bob@secure.example", "carol@plain.example"], "mixed");
        await SubmitAsync(submission.Port, password, ["bob@secure.example"], "opted out", tlsRequiredNo: true);
        await SubmitAsync(manual.Port, password, ["bob@secure.example"], "listener off");

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (AcceptedLine().Count(tern.Stderr) < 4 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        var ids = AcceptedLine().Matches(tern.Stderr).Select(m => m.Groups[1].Value).ToArray();
        Assert.Equal(4, ids.Length);
        // Each is logged as accepted once durable; `queue show` waits for the index to take it in.
        const string required = @"(?m)^requiretls:\s+required \(policy default; REQUIRETLS on the envelope\)$";
        const string notRequired = @"(?m)^requiretls:\s+not required \(policy default; no REQUIRETLS on the envelope\)$";
        Assert.Matches(required, await QueueDrain.RunAsync(dir.Path, config, "show", ids[0]));
        foreach (var id in ids[1..])
        {
            Assert.Matches(notRequired, await QueueDrain.RunAsync(dir.Path, config, "show", id));
        }

        var table = await QueueDrain.RunAsync(dir.Path, config, "domains");
        Assert.Matches(@"(?m)^DOMAIN\s+LAST-DELIVERY\s+AGO\s+STARTTLS\s+VERIFIED\s+REQUIRETLS\s+AUTO$", table);
        Assert.Matches(@"(?m)^plain\.example\s+2026-03-01T12:05:00Z\s+\S+\s+yes\s+no\s+no\s+no$", table);
        Assert.Matches(@"(?m)^secure\.example\s+2026-03-01T12:00:00Z\s+\S+\s+yes\s+yes\s+yes\s+yes$", table);
        Assert.EndsWith("2 of 2 domains\n", table, StringComparison.Ordinal);

        var token = (await File.ReadAllTextAsync(Path.Combine(dir.Path, "data", "http-admin.token"))).Trim();
        using (var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") })
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            var body = JsonDocument.Parse(await http.GetStringAsync("/api/v1/domains?contains=secure")).RootElement;
            var secure = Assert.Single(body.GetProperty("domains").EnumerateArray());
            Assert.Equal("secure.example", secure.GetProperty("domain").GetString());
            Assert.Equal(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero), secure.GetProperty("last_delivery").GetDateTimeOffset());
            Assert.True(secure.GetProperty("auto_requiretls").GetBoolean());
        }

        tern.Signal(TernProcess.SIGTERM);
        Assert.Equal(0, await tern.WaitForExitAsync(TimeSpan.FromSeconds(10)));

        // Kept for the next start (nothing was delivered, so nothing changed).
        Assert.Equal(2, JsonDocument.Parse(await File.ReadAllBytesAsync(history)).RootElement.GetProperty("domains").GetArrayLength());
    }

    [Fact]
    public async Task A_corrupt_history_is_logged_and_the_server_starts_with_an_empty_one()
    {
        using var dir = new TempDir();
        var config = dir.File("tern.toml", $"""
            hostname = "e2e.tern.test"
            data_dir = "data"

            [delivery]
            enabled = false

            [listeners.relay]
            kind = "relay"
            address = "127.0.0.1:0"

            [http]
            listen = "127.0.0.1:{TestPorts.Free()}"
            """);
        Directory.CreateDirectory(Path.Combine(dir.Path, "data"));
        var history = Path.Combine(dir.Path, "data", "domain-tls.json");
        await File.WriteAllTextAsync(history, "{\"version\":1,\"domains\":[{\"domain\":");

        await using var tern = TernProcess.Start(dir.Path, "serve", "-c", config);
        await tern.ListenerAsync("relay");
        await tern.WaitForLogAsync(new Regex($"m=\"domain TLS history unreadable, starting empty\" c=delivery file={Regex.Escape(history)} error="));
        Assert.Equal("0 of 0 domains\n", await QueueDrain.RunAsync(dir.Path, config, "domains"));
        tern.Signal(TernProcess.SIGTERM);
        Assert.Equal(0, await tern.WaitForExitAsync(TimeSpan.FromSeconds(10)));
    }

    private static async Task SubmitAsync(int port, string password, string[] to, string subject, bool tlsRequiredNo = false)
    {
        using var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await client.ConnectAsync("127.0.0.1", port, SecureSocketOptions.StartTls);
        await client.AuthenticateAsync("alice@example.org", password);
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("alice@example.org"));
        foreach (var r in to)
        {
            message.To.Add(MailboxAddress.Parse(r));
        }

        message.Subject = subject;
        if (tlsRequiredNo)
        {
            message.Headers.Add("TLS-Required", "No");
        }

        message.Body = new TextPart("plain") { Text = "queued, not delivered" };
        await client.SendAsync(message);
        await client.DisconnectAsync(true);
    }

    [GeneratedRegex("m=\"message accepted\" c=smtp cid=\\S+ id=(\\S+)")]
    private static partial Regex AcceptedLine();
}
