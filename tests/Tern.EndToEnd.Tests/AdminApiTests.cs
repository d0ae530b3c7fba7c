using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Tern.EndToEnd.Tests;

/// <summary>/readyz and the admin API of the published binary, with the token it generates on its first start.</summary>
public sealed class AdminApiTests
{
    [Fact]
    public async Task Readyz_and_the_queue_over_http_with_the_generated_token()
    {
        using var dir = new TempDir();
        var port = TestPorts.Free();
        var config = dir.File("tern.toml", $"""
            hostname = "e2e.tern.test"
            data_dir = "data"

            [delivery]
            enabled = false

            [listeners.relay]
            kind = "relay"
            address = "127.0.0.1:0"

            [http]
            listen = "127.0.0.1:{port}"
            """);
        var tokenFile = Path.Combine(dir.Path, "data", "http-admin.token");
        string token;
        await using (var tern = TernProcess.Start(dir.Path, "serve", "-c", config))
        {
            var relay = await tern.ListenerAsync("relay");
            await tern.WaitForLogAsync(new Regex($"m=\"admin API token generated\" c=http file={Regex.Escape(tokenFile)}"));
            await tern.WaitForLogAsync(new Regex($"m=listening c=http address=127.0.0.1:{port}"));
            token = (await File.ReadAllTextAsync(tokenFile)).Trim();
            Assert.Matches("^[A-Za-z0-9_-]{43}$", token);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(tokenFile));
            Assert.DoesNotContain(token, tern.Stderr, StringComparison.Ordinal);

            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            var ready = await http.GetAsync("/readyz");
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
            var checks = JsonDocument.Parse(await ready.Content.ReadAsStringAsync()).RootElement.GetProperty("checks");
            Assert.Equal("1 of 1 listening", checks.GetProperty("listeners").GetProperty("detail").GetString());

            using (var client = new SmtpClient())
            {
                await client.ConnectAsync("127.0.0.1", relay.Port, SecureSocketOptions.None);
                var message = new MimeMessage();
                message.From.Add(MailboxAddress.Parse("alice@example.org"));
                message.To.Add(MailboxAddress.Parse("bob@example.net"));
                message.Body = new TextPart("plain") { Text = "queued, not delivered" };
                await client.SendAsync(message);
                await client.DisconnectAsync(true);
            }

            Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/api/v1/queue")).StatusCode);
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            var list = JsonDocument.Parse(await http.GetStringAsync("/api/v1/queue?recipient_domain=example.net")).RootElement;
            Assert.Equal(1, list.GetProperty("total").GetInt32());
            var id = list.GetProperty("entries")[0].GetProperty("id").GetString();

            var hold = await http.PostAsync($"/api/v1/queue/{id}/hold", null);
            Assert.Equal(HttpStatusCode.OK, hold.StatusCode);
            var held = JsonDocument.Parse(await http.GetStringAsync($"/api/v1/queue/{id}")).RootElement.GetProperty("message");
            Assert.True(held.GetProperty("held").GetBoolean());
            var bad = await http.PostAsync("/api/v1/holdrules", new StringContent("{\"colour\":1}", Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            Assert.Contains("\"code\":\"unknown_member\"", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);

            tern.Signal(TernProcess.SIGTERM);
            Assert.Equal(0, await tern.WaitForExitAsync(TimeSpan.FromSeconds(10)));
        }

        // The next start reuses the token.
        await using (var again = TernProcess.Start(dir.Path, "serve", "-c", config))
        {
            await again.WaitForLogAsync(new Regex($"m=\"admin API token\" c=http file={Regex.Escape(tokenFile)}"));
            await again.WaitForLogAsync(new Regex($"m=listening c=http address=127.0.0.1:{port}"));
            Assert.Equal(token, (await File.ReadAllTextAsync(tokenFile)).Trim());
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            var status = JsonDocument.Parse(await http.GetStringAsync("/api/v1/queue/status")).RootElement;
            Assert.Equal(1, status.GetProperty("counts").GetProperty("held").GetInt32());
            again.Signal(TernProcess.SIGTERM);
            Assert.Equal(0, await again.WaitForExitAsync(TimeSpan.FromSeconds(10)));
        }
    }
}
