using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace Tern.EndToEnd.Tests;

/// <summary>
/// "250 means on disk": the published binary is killed with SIGKILL while clients push mail; after
/// each restart every message that got 250 must be in the spool exactly once, byte-identical.
/// </summary>
public sealed partial class CrashTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const int Clients = 16;
    private const int Rounds = 3;

    [Fact]
    public async Task Every_acknowledged_message_survives_kill_9()
    {
        // Each round: start, load with 16 pipelining clients, SIGKILL at a random moment; then check all.
        using var dir = new TempDir();
        var http = TestPorts.Free();
        var smtp = TestPorts.Free();
        var config = dir.File("tern.toml", $"""
            data_dir = "data"
            [log]
            level = "warn"
            [http]
            listen = "127.0.0.1:{http}"
            [listeners.relay]
            kind = "relay"
            address = "127.0.0.1:{smtp}"
            [delivery]
            enabled = false
            [spool]
            # Checkpoints (and log truncation) every second, so kills also land during and after them.
            checkpoint_interval = "1s"
            """);
        var acked = new ConcurrentDictionary<string, string>();
        var random = new Random(20261128);
        for (var round = 0; round < Rounds; round++)
        {
            await using var tern = TernProcess.Start(dir.Path, "serve", "-c", config);
            Assert.True(await SmtpListener.WaitForGreetingAsync(smtp, TimeSpan.FromSeconds(10)), "tern did not start listening:\n" + tern.Stderr);
            var relay = new IPEndPoint(IPAddress.Loopback, smtp);
            using var stop = new CancellationTokenSource();
            var senders = Enumerable.Range(0, Clients).Select(c => SendUntilStoppedAsync(relay, $"r{round}c{c}", acked, stop.Token)).ToArray();

            // Kill at a random moment while the load runs.
            await Task.Delay(600 + random.Next(900));
            tern.Signal(9);
            await tern.WaitForExitAsync(TimeSpan.FromSeconds(5));
            await stop.CancelAsync();
            await Task.WhenAll(senders);
        }

        Assert.True(acked.Count > 100, $"only {acked.Count} messages were acknowledged");
        output.WriteLine($"{acked.Count} messages acknowledged over {Rounds} kills");

        await using var spool = Tern.Spool.Spool.Open(
            new Tern.Spool.SpoolOptions { Directory = Path.Combine(dir.Path, "data", "spool") },
            Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance,
            Tern.Observability.Metrics.NullMetrics.Instance);
        var stored = spool.Messages.ToDictionary(m => m.Id.ToString());
        var missing = acked.Keys.Where(id => !stored.ContainsKey(id)).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} of {acked.Count} acknowledged messages lost, e.g. {string.Join(", ", missing.Take(5))}");
        Assert.Equal(stored.Count, spool.Messages.Select(m => m.Id).Distinct().Count());
        foreach (var (id, body) in acked)
        {
            var message = await spool.ReadAsync(stored[id].Id);
            Assert.NotNull(message);
            Assert.EndsWith(body, Encoding.ASCII.GetString(message.Body), StringComparison.Ordinal);
        }
    }

    /// <summary>One client: pipelined transactions on one connection; records the id of every 250.</summary>
    private static async Task SendUntilStoppedAsync(IPEndPoint server, string tag, ConcurrentDictionary<string, string> acked, CancellationToken stop)
    {
        try
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(server, stop);
            using var stream = tcp.GetStream();
            using var reader = new StreamReader(stream, Encoding.ASCII);
            using var writer = new StreamWriter(stream, Encoding.ASCII) { NewLine = "\r\n", AutoFlush = false };
            await reader.ReadLineAsync(stop);
            await writer.WriteLineAsync("HELO crash.example");
            await writer.FlushAsync(stop);
            await reader.ReadLineAsync(stop);
            for (var n = 0; !stop.IsCancellationRequested; n++)
            {
                var body = $"Subject: {tag}-{n}\r\n\r\n{tag} message {n} {new string('x', 200 + (n % 700))}\r\n";
                await writer.WriteAsync($"MAIL FROM:<{tag}@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n");
                await writer.FlushAsync(stop);
                for (var i = 0; i < 3; i++)
                {
                    if (await reader.ReadLineAsync(stop) is null)
                    {
                        return;
                    }
                }

                await writer.WriteAsync(body + ".\r\n");
                await writer.FlushAsync(stop);
                var reply = await reader.ReadLineAsync(stop);
                if (reply is null)
                {
                    return;
                }

                var m = OkReply().Match(reply);
                if (m.Success)
                {
                    acked[m.Groups[1].Value] = body;
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
        {
            // The server was killed: whatever got no 250 may or may not be there.
        }
    }

    [GeneratedRegex(@"^250 2\.0\.0 OK id=(\S+)")]
    private static partial Regex OkReply();
}
