using System.Net;
using System.Net.Sockets;

namespace Tern.Load.Tests;

/// <summary><c>tern-load sink</c> through the command line: option checks and a whole run.</summary>
public sealed class SinkCommandTests
{
    [Theory]
    [InlineData("--fail-rcpt", "1.5", "--fail-rcpt")]
    [InlineData("--disconnect", "-0.1", "--disconnect")]
    [InlineData("--421", "2", "--421")]
    [InlineData("--listen", "localhost", "--listen")]
    [InlineData("--listen", "127.0.0.1", "--listen")]
    [InlineData("--listen", "300.1.1.1:25", "--listen")]
    [InlineData("--fail-code", "250", "--fail-code")]
    [InlineData("--fail-code", "421", "--fail-code")]
    [InlineData("--delay", "soon", "--delay")]
    [InlineData("--duration", "0s", "--duration")]
    [InlineData("--max-connections", "0", "--max-connections")]
    [InlineData("--messages", "0", "--messages")]
    [InlineData("--tls-fail", "0.5", "--tls-fail needs --tls")]
    [InlineData("--tls-abort", "0.5", "--tls-abort needs --tls")]
    [InlineData("--cert", "/tmp/x.pem", "--cert and --key")]
    public async Task Bad_options_exit_2_with_a_message(string option, string value, string expected)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await LoadCommandLine.RunAsync(["sink", "--listen", "127.0.0.1:0", option, value], stdout, stderr);
        Assert.Equal(2, code);
        Assert.Contains("tern-load: ", stderr.ToString(), StringComparison.Ordinal);
        Assert.Contains(expected, stderr.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("listening on", stdout.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_run_from_the_command_line_stops_at_messages_and_prints_the_summary()
    {
        var port = TestPorts.Free();
        var dir = Directory.CreateTempSubdirectory("tern-load-sinkcmd-").FullName;
        try
        {
            var ids = Path.Combine(dir, "ids");
            var json = Path.Combine(dir, "report.json");
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            var run = LoadCommandLine.RunAsync(
                ["sink", "--listen", $"127.0.0.1:{port}", "--messages", "3", "--ids", ids, "--json", json, "--fail-rcpt", "0", "--seed", "3"],
                stdout, stderr, cancel.Token);

            await WaitListeningAsync(port);
            var (code, output) = (0, string.Empty);
            for (var i = 0; i < 3; i++)
            {
                (code, output) = await SendWithSwaksAsync(port, $"cmd.{i}@tern-load.test");

                // The sink stops right after the third 250, so swaks may find its QUIT unanswered.
                Assert.True(code == 0 || i == 2, output + stderr);
                Assert.Contains("<-  250 2.0.0 Ok: queued", output, StringComparison.Ordinal);
            }

            Assert.Equal(0, await run);
            Assert.StartsWith($"listening on 127.0.0.1:{port}", stdout.ToString(), StringComparison.Ordinal);
            var lines = await File.ReadAllLinesAsync(ids);
            Assert.Equal(["cmd.0@tern-load.test", "cmd.1@tern-load.test", "cmd.2@tern-load.test"], lines.Select(l => l.Split('\t')[0]));
            Assert.All(lines, l => Assert.Matches("^\\S+\t[0-9a-f]{16}$", l));
            Assert.True(File.Exists(json) || stdout.ToString().Length > 0);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Cancellation_stops_the_sink_cleanly_with_port_0()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(1.5));
        var code = await LoadCommandLine.RunAsync(["sink", "--listen", "127.0.0.1:0", "--delay", "10ms"], stdout, stderr, cancel.Token);
        Assert.Equal(0, code);
        var first = stdout.ToString().Split('\n')[0];
        Assert.Matches(@"^listening on 127\.0\.0\.1:[1-9][0-9]*$", first.TrimEnd('\r'));
        Assert.Contains("tern-load sink: 127.0.0.1:", stdout.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Duration_stops_the_sink()
    {
        var stdout = new StringWriter();
        var started = System.Diagnostics.Stopwatch.StartNew();
        var code = await LoadCommandLine.RunAsync(["sink", "--listen", "127.0.0.1:0", "--duration", "500ms"], stdout, new StringWriter());
        Assert.Equal(0, code);
        Assert.InRange(started.ElapsedMilliseconds, 400, 8000);
    }

    private static Task<(int Code, string Output)> SendWithSwaksAsync(int port, string id) =>
        Peer.RunAsync(
            "swaks", "--server", "127.0.0.1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--from", "a@example.org", "--to", "b@example.net", "--header", $"Message-Id: <{id}>", "--timeout", "10",
            "--pipeline");

    private static async Task WaitListeningAsync(int port)
    {
        for (var i = 0; i < 100; i++)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }
    }

}
