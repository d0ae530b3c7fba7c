using System.Text.RegularExpressions;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Tern.EndToEnd.Tests;

/// <summary><c>tern queue ...</c> from the published binary against a running published server.</summary>
public sealed partial class QueueTests
{
    private static string Config => $"""
        hostname = "e2e.tern.test"
        data_dir = "data"

        [shutdown]
        grace = "5s"

        # These tests look at the queue itself; delivery has its own end-to-end tests.
        [delivery]
        enabled = false

        [listeners.relay]
        kind = "relay"
        address = "127.0.0.1:0"

        [http]
        listen = "127.0.0.1:{TestPorts.Free()}"
        """;

    [Fact]
    public async Task Queue_commands_against_the_running_binary()
    {
        using var dir = new TempDir();
        var config = dir.File("tern.toml", Config);
        var socket = Path.Combine(dir.Path, "data", "control.sock");
        await using var tern = TernProcess.Start(dir.Path, "serve", "-c", config);
        var relay = await tern.ListenerAsync("relay");
        await tern.WaitForLogAsync(new Regex($"m=\"control socket listening\" c=tern path={Regex.Escape(socket)}"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(socket));

        using (var client = new SmtpClient())
        {
            await client.ConnectAsync("127.0.0.1", relay.Port, SecureSocketOptions.None);
            foreach (var (to, subject) in new[] { ("bob@example.net", "one"), ("carol@example.com", "two"), ("dave@example.org", "three") })
            {
                var message = new MimeMessage();
                message.From.Add(MailboxAddress.Parse("alice@example.org"));
                message.To.Add(MailboxAddress.Parse(to));
                message.Subject = "queue test " + subject;
                message.Body = new TextPart("plain") { Text = "queued, not delivered" };
                await client.SendAsync(message);
            }

            await client.DisconnectAsync(true);
        }

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (AcceptedLine().Count(tern.Stderr) < 3 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        var ids = AcceptedLine().Matches(tern.Stderr).Select(m => m.Groups[1].Value).ToArray();
        Assert.Equal(3, ids.Length);
        var (one, two, three) = (ids[0], ids[1], ids[2]);

        // A message is logged as accepted once durable, and the index takes it in a moment later: a listing
        // right after the log line waits for that (read your writes), so all three are there at once.
        var list = await QueueDrain.RunAsync(dir.Path, config, "list");
        Assert.EndsWith("3 of 3 messages\n", list, StringComparison.Ordinal);
        Assert.Matches(@"^ID\s+AGE\s+SIZE\s+ATT\s+NEXT\s+HELD\s+SENDER\s+RCPT\s+RECIPIENTS\n", list);
        Assert.Matches($@"(?m)^{one}\s+\d+s\s+\S+\s+0\s+now\s+-\s+alice@example.org\s+1\s+bob@example.net pending$", list);
        Assert.Matches($@"(?m)^{two}\s+.*carol@example.com pending$", list);
        Assert.Matches($@"(?m)^{three}\s+.*dave@example.org pending$", list);
        Assert.EndsWith("3 of 3 messages\n", list, StringComparison.Ordinal);

        var show = await QueueDrain.RunAsync(dir.Path, config, "show", two);
        Assert.Matches($@"(?m)^id:\s+{two}$", show);
        Assert.Matches(@"(?m)^sender:\s+alice@example.org$", show);
        Assert.Matches(@"(?m)^client:\s+127.0.0.1 on listener relay, no TLS$", show);
        Assert.Contains("  carol@example.com  pending\n", show, StringComparison.Ordinal);
        Assert.Contains("\nheaders:\n", show, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^Received: from \S+ \(", show);
        Assert.Matches(@"(?m)^Subject: queue test two$", show);

        Assert.Equal("1 message held\n", await QueueDrain.RunAsync(dir.Path, config, "hold", two));
        var held = await QueueDrain.RunAsync(dir.Path, config, "list", "--held");
        Assert.Matches($@"(?m)^{two}\s+.*\sheld\s+alice@example.org", held);
        Assert.EndsWith("1 of 1 message\n", held, StringComparison.Ordinal);
        Assert.Equal("1 message released\n", await QueueDrain.RunAsync(dir.Path, config, "release", two));
        Assert.Equal("0 of 0 messages\n", await QueueDrain.RunAsync(dir.Path, config, "list", "--held"));

        Assert.Equal("1 message dropped\n", await QueueDrain.RunAsync(dir.Path, config, "drop", three));
        list = await QueueDrain.RunAsync(dir.Path, config, "list");
        Assert.DoesNotContain(three, list, StringComparison.Ordinal);
        Assert.EndsWith("2 of 2 messages\n", list, StringComparison.Ordinal);
        Assert.Matches($@"(?m)^{three}\s+.*dave@example.org dropped$", await QueueDrain.RunAsync(dir.Path, config, "history"));

        var refused = await TernProcess.RunAsync(dir.Path, "queue", "drop", "--config", config);
        Assert.Equal(2, refused.Code);
        Assert.Contains("give message ids, a filter (see --help) or --all", refused.Stderr, StringComparison.Ordinal);
        Assert.Contains($"m=\"queue changed\" c=tern op=drop selection=\"id={three}\" count=1", tern.Stderr, StringComparison.Ordinal);

        tern.Signal(TernProcess.SIGTERM);
        Assert.Equal(0, await tern.WaitForExitAsync(TimeSpan.FromSeconds(5)));
        Assert.False(File.Exists(socket));

        var stopped = await TernProcess.RunAsync(dir.Path, "queue", "list", "--config", config);
        Assert.Equal(69, stopped.Code);
        Assert.Equal($"tern is not running (no control socket at {socket})\n", stopped.Stderr);
    }

    [GeneratedRegex("m=\"message accepted\" c=smtp cid=\\S+ id=(\\S+)")]
    private static partial Regex AcceptedLine();
}
