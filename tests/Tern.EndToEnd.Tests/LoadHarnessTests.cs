using System.Text.Json;
using System.Text.RegularExpressions;

namespace Tern.EndToEnd.Tests;

/// <summary>
/// The published load-test harness (out/tern-load) around the published server: `send` drives SMTP
/// and `http` the injection API at Tern, Tern relays everything to `tern-load sink`, which refuses
/// some messages with 451 or 421 and drops the connection on others, and `check` finds no message
/// lost or duplicated between what Tern acknowledged and what the sink finally received.
/// </summary>
public sealed partial class LoadHarnessTests
{
    [Fact]
    public async Task Every_message_tern_acknowledged_reaches_the_sink_once()
    {
        using var dir = new TempDir();
        var received = Path.Combine(dir.Path, "received.txt");
        // Faults on the next hop: Tern must retry every one of them until the message is through.
        var (sink, sinkPort) = await LoadSink.StartAsync(dir.Path, "--ids", received,
            "--fail-data", "0.05", "--fail-code", "451", "--disconnect", "0.02", "--421", "0.01", "--seed", "7");
        await using var sinkProcess = sink;

        var http = TestPorts.Free();
        var config = dir.File("tern.toml", $"""
            hostname = "relay.load.test"
            data_dir = "data"
            [http]
            listen = "127.0.0.1:{http}"
            {ConfigToml.LoopbackRelay(0)}
            [delivery]
            # Retries within seconds, and no pause for the sink after its faults: the run stays short.
            first_retry = "1s"
            retry_jitter = 0
            suspend_for = "0s"
            [shutdown]
            grace = "2s"
            {ConfigToml.SmtpRoute("sink", sinkPort, "example.test", "other.test")}
            """);
        var added = await TernProcess.RunAsync(dir.Path, "account", "add", "load@load.test", "-c", config);
        Assert.True(added.Code == 0, added.Stderr);
        var issued = await TernProcess.RunAsync(dir.Path, "account", "token", "load@load.test", "-c", config);
        Assert.True(issued.Code == 0, issued.Stderr);
        var token = TokenLine().Match(issued.Stdout).Groups[1].Value;

        await using var tern = TernProcess.Start(dir.Path, "serve", "-c", config);
        var relay = await tern.ListenerAsync("relay");
        await tern.WaitForLogAsync(new Regex($"m=listening c=http address=127.0.0.1:{http}"));

        // SMTP: pipelined, two recipient domains, a size mix; JSON and HTML reports.
        var sent = Path.Combine(dir.Path, "sent.txt");
        var json = Path.Combine(dir.Path, "send.json");
        var html = Path.Combine(dir.Path, "send.html");
        var send = await TernProcess.RunProgramAsync(TernProcess.LoadBinary, dir.Path, TimeSpan.FromSeconds(90),
            "send", "--target", relay.ToString(), "--sessions", "8", "--messages", "1500", "--size", "1k:80,10k:20",
            "--rcpt-domains", "example.test:3,other.test:1", "--ids", sent, "--json", json, "--html", html, "--fail-on-error");
        Assert.True(send.Code == 0, send.Stdout + send.Stderr);
        Assert.Equal(1500, File.ReadLines(sent).Count());
        using (var report = JsonDocument.Parse(await File.ReadAllTextAsync(json)))
        {
            Assert.Contains("1500", report.RootElement.ToString(), StringComparison.Ordinal);
        }

        Assert.Contains("<svg", await File.ReadAllTextAsync(html), StringComparison.Ordinal);

        // HTTP: the same messages through the injection API, with the account's token.
        var injected = Path.Combine(dir.Path, "injected.txt");
        var post = await TernProcess.RunProgramAsync(TernProcess.LoadBinary, dir.Path, TimeSpan.FromSeconds(90),
            "http", "--url", $"http://127.0.0.1:{http}", "--token", token, "--sessions", "4", "--messages", "300",
            "--from", "load@load.test", "--rcpt-domains", "example.test", "--ids", injected, "--fail-on-error");
        Assert.True(post.Code == 0, post.Stdout + post.Stderr);
        Assert.Equal(300, File.ReadLines(injected).Count());

        // Everything queued has gone out: the sink flushes its id file every second and on SIGTERM.
        var acknowledged = Path.Combine(dir.Path, "acknowledged.txt");
        await File.WriteAllLinesAsync(acknowledged, File.ReadLines(sent).Concat(File.ReadLines(injected)));
        await SchedulingTests.WaitFor(() => File.Exists(received) && File.ReadLines(received).Count() >= 1800, "the sink has 1,800 messages", tern);
        await LoadSink.StopAsync(sink);

        // The faults happened (the sink's summary counts them by kind), and Tern retried them all.
        Assert.Matches(@"failed\s+[1-9]\d*", sink.StdoutText);
        Assert.Contains("451", sink.StdoutText, StringComparison.Ordinal);

        var check = await TernProcess.RunProgramAsync(TernProcess.LoadBinary, dir.Path, TimeSpan.FromSeconds(30),
            "check", "--sent", acknowledged, "--received", received, "--fail-on-duplicates");
        Assert.True(check.Code == 0, check.Stdout + check.Stderr);
        Assert.Matches(@"lost\D+0\b", check.Stdout);

        tern.Signal(TernProcess.SIGTERM);
        Assert.Equal(0, await tern.WaitForExitAsync(TimeSpan.FromSeconds(15)));
    }

    [Fact]
    public async Task The_harness_refuses_a_target_that_is_not_loopback()
    {
        using var dir = new TempDir();
        var send = await TernProcess.RunProgramAsync(TernProcess.LoadBinary, dir.Path, TimeSpan.FromSeconds(20), "send", "--target", "192.0.2.1:25", "--messages", "1");
        Assert.Equal(2, send.Code);
        Assert.Contains("--allow-remote", send.Stderr + send.Stdout, StringComparison.Ordinal);
    }

    [GeneratedRegex("^token for load@load.test: (\\S+)$", RegexOptions.Multiline)]
    private static partial Regex TokenLine();
}
