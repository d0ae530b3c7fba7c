using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using MimeKit;

namespace Tern.EndToEnd.Tests;

/// <summary>
/// The injection API of the published binary, end to end: an account and its token made with the
/// CLI, a structured message posted as JSON (assembled by MimeKit inside the AOT binary), and that
/// message delivered by the scheduler to Postfix's smtp-sink.
/// </summary>
public sealed class InjectionTests
{
    [Fact]
    public async Task A_message_posted_with_an_account_token_is_assembled_queued_and_delivered()
    {
        using var dir = new TempDir();
        var (sink, dump) = await SchedulingTests.SinkAsync(dir, "sink");
        using var sinkLifetime = sink;
        var http = TestPorts.Free();
        var config = dir.File("tern.toml", $"""
            hostname = "relay.sender.test"
            data_dir = "data"
            [http]
            listen = "127.0.0.1:{http}"
            [shutdown]
            grace = "2s"
            [listeners.relay]
            kind = "relay"
            address = "127.0.0.1:0"
            [transports.sink]
            kind = "smtp"
            host = "127.0.0.1"
            port = {sink.EndPoint.Port}
            require_tls = false
            [[routes]]
            recipient_domains = ["example.net"]
            transport = "sink"
            """);

        var added = await TernProcess.RunAsync(dir.Path, "account", "add", "alice@example.org", "-c", config);
        Assert.True(added.Code == 0, added.Stderr);
        var issued = await TernProcess.RunAsync(dir.Path, "account", "token", "alice@example.org", "-c", config);
        Assert.True(issued.Code == 0, issued.Stderr);
        var token = Regex.Match(issued.Stdout, "^token for alice@example.org: (\\S+)$", RegexOptions.Multiline).Groups[1].Value;
        Assert.Matches("^[A-Za-z0-9_-]{43}$", token);

        await using var tern = TernProcess.Start(dir.Path, "serve", "-c", config);
        await tern.WaitForLogAsync(new Regex($"m=listening c=http address=127.0.0.1:{http}"));
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{http}") };
        const string Request = """
            {"message": {"from": "Alice <alice@example.org>", "to": ["Bob <bob@example.net>"], "subject": "Grüße über HTTP",
              "text": "plain part", "html": "<p>html part</p>"}}
            """;

        var refused = await client.PostAsync("/api/v1/messages", new StringContent(Request, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);

        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var accepted = await client.PostAsync("/api/v1/messages", new StringContent(Request, Encoding.UTF8, "application/json"));
        var answer = await accepted.Content.ReadAsStringAsync();
        Assert.True(accepted.StatusCode == HttpStatusCode.Accepted, answer);
        var json = JsonDocument.Parse(answer).RootElement;
        var id = json.GetProperty("id").GetString();
        Assert.Equal("accepted", json.GetProperty("recipients")[0].GetProperty("status").GetString());

        await SchedulingTests.WaitForDelivered(tern, "bob@example.net");
        var delivered = await MimeMessage.LoadAsync(Directory.GetFiles(dump).Single());
        Assert.Equal("Grüße über HTTP", delivered.Subject);
        Assert.Equal("alice@example.org", delivered.From.Mailboxes.Single().Address);
        Assert.Equal("plain part", delivered.TextBody?.Trim());
        Assert.Equal("<p>html part</p>", delivered.HtmlBody?.Trim());
        // Tern's trace header (under the one smtp-sink adds on top).
        var received = delivered.Headers.Where(h => h.Id == HeaderId.Received).Select(h => h.Value).ToList();
        Assert.Contains(received, r => r.Contains("with HTTP", StringComparison.Ordinal) && r.Contains($"id {id}", StringComparison.Ordinal));
        Assert.False(string.IsNullOrEmpty(delivered.MessageId));

        tern.Signal(TernProcess.SIGTERM);
        Assert.Equal(0, await tern.WaitForExitAsync(TimeSpan.FromSeconds(10)));
    }
}
