using System.Diagnostics;
using System.Globalization;

namespace Tern.EndToEnd.Tests;

/// <summary>
/// The crash soak (issue #10, crash safety): two loaders (DATA and pipelined BDAT) send through the
/// published server to <c>tern-load sink</c> while the server is killed with SIGKILL every few
/// seconds (randomised, seeded; the seed is printed) and started again on the same data directory.
/// At the end, after a last kill and restart and once the queue has drained: every message that got
/// a 250 reached the sink (at-least-once: duplicates are counted and reported, they come from
/// messages in flight at a kill), with a body digest identical to the one sent, and the queue is
/// empty. About 75 s of load in CI; <c>TERN_SOAK_SECONDS</c> makes it longer, <c>TERN_SOAK_SEED</c>
/// replays a run, <c>TERN_SOAK_RATE</c> sets each loader's messages per second.
/// </summary>
public sealed class SoakTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>The error lines every Tern process of the run logged.</summary>
    private readonly List<string> _errors = [];

    [Fact]
    public async Task Every_acknowledged_message_reaches_the_sink_through_kill_9_and_restart()
    {
        var seconds = LoadSink.FromEnvironment("TERN_SOAK_SECONDS", 75);
        var rate = LoadSink.FromEnvironment("TERN_SOAK_RATE", 100);
        var seed = LoadSink.FromEnvironment("TERN_SOAK_SEED", Random.Shared.Next(1, int.MaxValue));
        output.WriteLine($"soak: {seconds} s of load, {rate} msg/s per loader, seed {seed} (TERN_SOAK_SEED={seed} replays the kill times)");
        var random = new Random(seed);
        var elapsed = Stopwatch.StartNew();

        using var dir = new TempDir();
        var received = Path.Combine(dir.Path, "received.ids");
        var (sink, sinkPort) = await LoadSink.StartAsync(dir.Path, "--ids", received);
        await using var sinkProcess = sink;

        var smtp = TestPorts.Free();
        var config = dir.File("tern.toml", $"""
            hostname = "soak.tern.test"
            data_dir = "data"
            [log]
            # Only what goes wrong: a long soak would otherwise keep megabytes of log lines in memory.
            level = "warn"
            [http]
            listen = "127.0.0.1:{TestPorts.Free()}"
            {ConfigToml.LoopbackRelay(smtp)}
            [spool]
            # Checkpoints (and log truncation) every second, so kills also land during and after them.
            checkpoint_interval = "1s"
            [delivery]
            # Retries within a second of a failure and no pause after one: a restart resumes at once.
            first_retry = "1s"
            retry_jitter = 0
            suspend_for = "0s"
            {ConfigToml.SmtpRoute("sink", sinkPort, "example.test")}
            """);

        var tern = await StartTernAsync(dir, config, smtp);
        try
        {
            // Loaders: DATA (pipelined, window 2) and BDAT (window 4), a size mix; they retry while Tern is down.
            var sentData = Path.Combine(dir.Path, "sent-data.ids");
            var sentBdat = Path.Combine(dir.Path, "sent-bdat.ids");
            string[] common = ["send", "--target", $"127.0.0.1:{smtp}", "--sessions", "4", "--messages", "100000000", "--duration", $"{seconds}s",
                "--size", "1k:70,10k:25,100k:5", "--rate", rate.ToString(CultureInfo.InvariantCulture), "--retry-connect", "60s", "--timeout", "30s",
                "--per-connection", "50"];
            var limit = TimeSpan.FromSeconds(seconds + 120);
            var loaders = new[]
            {
                TernProcess.RunProgramAsync(TernProcess.LoadBinary, dir.Path, limit, [.. common, "--window", "2", "--ids", sentData]),
                TernProcess.RunProgramAsync(TernProcess.LoadBinary, dir.Path, limit, [.. common, "--chunking", "on", "--window", "4", "--ids", sentBdat]),
            };

            // kill -9 every 2-6 s while the load runs, and start again on the same data directory.
            var crashes = 0;
            var all = Task.WhenAll(loaders);
            while (true)
            {
                var wait = TimeSpan.FromMilliseconds(2000 + random.Next(4000));
                if (await Task.WhenAny(all, Task.Delay(wait)) == all)
                {
                    break;
                }

                tern = await KillAndRestartAsync(tern, dir, config, smtp, random);
                crashes++;
            }

            foreach (var loader in loaders)
            {
                var (code, stdout, stderr) = await loader;
                Assert.True(code == 0, $"tern-load send exited {code}:\n{stdout}\n{stderr}");
                output.WriteLine(stdout.Split('\n').FirstOrDefault(l => l.TrimStart().StartsWith("ok", StringComparison.Ordinal)) ?? string.Empty);
            }

            // A last kill (the queue is likely not empty) and restart, then the queue must drain.
            tern = await KillAndRestartAsync(tern, dir, config, smtp, random);
            crashes++;
            var drained = await QueueDrain.WaitForEmptyAsync(dir, config, TimeSpan.FromSeconds(120 + (seconds / 4)));
            Assert.True(drained.Empty, $"the queue did not drain:\n{drained.Last}\n{LogTail.Of(tern.Stderr)}");

            // The sink writes its ids file on SIGTERM.
            await LoadSink.StopAsync(sink);

            var acknowledged = Path.Combine(dir.Path, "acknowledged.ids");
            await File.WriteAllLinesAsync(acknowledged, File.ReadLines(sentData).Concat(File.ReadLines(sentBdat)));
            var check = await TernProcess.RunProgramAsync(TernProcess.LoadBinary, dir.Path, TimeSpan.FromSeconds(60),
                "check", "--sent", acknowledged, "--received", received);
            var acked = LoadSink.Figure(check.Stdout, "sent (acked)");
            var lost = LoadSink.Figure(check.Stdout, "lost");
            var corrupted = LoadSink.Figure(check.Stdout, "corrupted");
            var duplicated = LoadSink.Figure(check.Stdout, "duplicated");
            var unexpected = LoadSink.Figure(check.Stdout, "unexpected");
            output.WriteLine(check.Stdout);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"soak figures: seed {seed}, messages acked {acked}, crashes injected {crashes}, lost {lost}, corrupted {corrupted}, duplicates {duplicated}, unacked but delivered {unexpected}, elapsed {elapsed.Elapsed.TotalSeconds:0} s"));

            Assert.True(check.Code == 0, check.Stdout + check.Stderr);
            Assert.Equal(0, lost);
            Assert.Equal(0, corrupted);
            Assert.True(acked > seconds * rate / 2, $"only {acked} messages were acknowledged in {seconds} s");
            Assert.True(crashes >= seconds / 8, $"only {crashes} kills");
            Collect(tern);
            Assert.True(_errors.Count == 0, "errors logged:\n" + string.Join('\n', _errors.Take(20)));
        }
        finally
        {
            await tern.DisposeAsync();
        }
    }

    private static async Task<TernProcess> StartTernAsync(TempDir dir, string config, int smtp)
    {
        var tern = TernProcess.Start(dir.Path, "serve", "-c", config);
        if (!await SmtpListener.WaitForGreetingAsync(smtp, TimeSpan.FromSeconds(30)))
        {
            var log = tern.Stderr;
            await tern.DisposeAsync();
            throw new Xunit.Sdk.XunitException("tern did not listen again after a restart:\n" + LogTail.Of(log));
        }

        return tern;
    }

    private void Collect(TernProcess tern) =>
        _errors.AddRange(tern.Stderr.Split('\n').Where(l => l.Contains(" l=error", StringComparison.Ordinal)));

    private async Task<TernProcess> KillAndRestartAsync(TernProcess tern, TempDir dir, string config, int smtp, Random random)
    {
        Assert.False(tern.HasExited, "tern exited by itself:\n" + LogTail.Of(tern.Stderr));
        tern.Signal(9);
        await tern.WaitForExitAsync(TimeSpan.FromSeconds(10));
        Collect(tern);
        await tern.DisposeAsync();

        // Down for a moment (0-500 ms) while the loaders keep trying.
        await Task.Delay(random.Next(500));
        return await StartTernAsync(dir, config, smtp);
    }
}
