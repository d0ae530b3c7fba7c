using System.CommandLine;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Tern.Load.Report;
using Tern.Load.Send;

namespace Tern.Load.Tests.Send;

/// <summary><c>tern-load send</c> against Postfix's smtp-sink (/usr/sbin/smtp-sink): a real, independent SMTP server on 127.0.0.1.</summary>
public sealed class SendSinkTests
{
    [Theory]
    [InlineData("on", 1, 4)]
    [InlineData("on", 8, 4)]
    [InlineData("off", 1, 3)]
    public async Task Every_message_is_accepted_and_the_ids_file_lists_each_once(string pipelining, int window, int sessions)
    {
        await using var sink = await PostfixSink.StartAsync();
        using var dir = new TempDir();
        var ids = Path.Combine(dir.Path, "ids.txt");
        var json = Path.Combine(dir.Path, "report.json");
        var run = await SendHarness.RunAsync(
            "--target", sink.Target, "--sessions", sessions.ToString(), "--messages", "400", "--pipelining", pipelining,
            "--window", window.ToString(), "--per-connection", "50", "--ids", ids, "--json", json, "--fail-on-error");

        Assert.Equal(0, run.Code);
        Assert.Equal(400, run.Result.Stats.Ok);
        Assert.Equal(0, run.Result.Stats.Failed);
        Assert.InRange(run.Result.Stats.Connections, 400 / 50, (400 / 50) + (2 * sessions));
        Assert.InRange(run.Result.Stats.Bytes, 400 * 1024, 400 * 1030);

        var lines = await File.ReadAllLinesAsync(ids);
        Assert.Equal(400, lines.Length);
        var idsOnly = lines.Select(l => l.Split('\t')[0]).ToHashSet();
        Assert.Equal(400, idsOnly.Count);
        Assert.All(lines, l => Assert.Matches(@"^[0-9a-f]{12}\.\d+@tern-load\.test\t250 ", l));
        Assert.All(idsOnly, id => Assert.StartsWith(run.Result.RunId + ".", id, StringComparison.Ordinal));
        Assert.Equal(Enumerable.Range(1, 400).Select(i => $"{run.Result.RunId}.{i}@tern-load.test").ToHashSet(), idsOnly);

        using var report = JsonDocument.Parse(await File.ReadAllTextAsync(json));
        var totals = report.RootElement.GetProperty("totals");
        Assert.Equal(400, totals.GetProperty("ok").GetInt64());
        Assert.Equal(0, totals.GetProperty("failed").GetInt64());
        Assert.Equal("send", report.RootElement.GetProperty("run").GetProperty("mode").GetString());
        Assert.Equal(pipelining, report.RootElement.GetProperty("parameters").GetProperty("pipelining").GetString());
    }

    [Fact]
    public async Task Messages_arrive_with_their_message_id_and_the_size_mix()
    {
        using var dir = new TempDir();
        var dump = Directory.CreateDirectory(Path.Combine(dir.Path, "dump"));
        File.SetUnixFileMode(dir.Path, (UnixFileMode)0x1ff);
        File.SetUnixFileMode(dump.FullName, (UnixFileMode)0x1ff);
        await using var sink = await PostfixSink.StartAsync("-d", Path.Combine(dump.FullName, "%M."));
        var run = await SendHarness.RunAsync("--target", sink.Target, "--sessions", "2", "--messages", "20", "--size", "2k:1,5k:1", "--recipients", "2",
            "--rcpt-domains", "one.test,two.test", "--from", "bulk@sender.test");
        Assert.Equal(0, run.Code);
        Assert.Equal(20, run.Result.Stats.Ok);

        var files = await WaitForFilesAsync(dump.FullName, 20);
        var texts = files.Select(File.ReadAllText).ToList();
        Assert.All(texts, t => Assert.Matches($@"Message-ID: <{run.Result.RunId}\.\d+@tern-load\.test>", t));
        Assert.All(texts, t => Assert.Contains("X-Mail-Args: <bulk@sender.test>", t, StringComparison.Ordinal));
        Assert.All(texts, t => Assert.Matches(@"X-Rcpt-Args: <u\d+@(one|two)\.test>", t));
        Assert.All(texts, t => Assert.Matches(@"X-Rcpt-Args: <u\d+\.1@(one|two)\.test>", t));

        // Both size classes were used; each message is (about) its class's size.
        Assert.InRange(run.Result.Stats.Bytes, 20 * 2048, 20 * 5120);
        Assert.NotEqual(20 * 2048, run.Result.Stats.Bytes);
        Assert.NotEqual(20 * 5120, run.Result.Stats.Bytes);
    }

    [Theory]
    [InlineData("-r", "RCPT", 450)]
    [InlineData("-f", "MAIL", 500)]
    [InlineData("-f", ".", 500)]
    [InlineData("-Q", "RCPT", 421)]
    [InlineData("-Q", ".", 421)]
    public async Task Refusals_count_each_message_as_failed_with_the_code(string flag, string command, int code)
    {
        await using var sink = await PostfixSink.StartAsync(flag, command);
        var run = await SendHarness.RunAsync("--target", sink.Target, "--sessions", "3", "--messages", "60", "--timeout", "5s", "--fail-on-error");
        Assert.Equal(1, run.Code);
        Assert.Equal(0, run.Result.Stats.Ok);
        Assert.Equal(60, run.Result.Stats.Failed);
        Assert.Equal([(code, 60L)], run.Result.Stats.FailuresByCode());
        Assert.Equal(60, run.Result.Stats.FailuresOf(FailureKind.Reply));
        Assert.Equal(flag == "-r" ? 60 : 0, run.Result.RecipientsRejected);
        if (code == 421)
        {
            // The server hangs up after each 421: every message needed a connection of its own.
            Assert.InRange(run.Result.Stats.Connections, 60, 63);
        }
    }

    [Fact]
    public async Task A_server_that_hangs_up_counts_disconnects_and_the_run_goes_on()
    {
        await using var sink = await PostfixSink.StartAsync("-q", "DATA");
        var run = await SendHarness.RunAsync("--target", sink.Target, "--sessions", "2", "--messages", "30", "--timeout", "5s");
        Assert.Equal(0, run.Code);
        Assert.Equal(30, run.Result.Stats.FailuresOf(FailureKind.Disconnect));
        Assert.InRange(run.Result.Stats.Connections, 30, 32);
    }

    [Fact]
    public async Task Chunking_on_against_a_server_without_it_stops_the_run()
    {
        await using var sink = await PostfixSink.StartAsync();
        var run = await SendHarness.RunAsync("--target", sink.Target, "--messages", "10", "--chunking", "on");
        Assert.Equal(1, run.Code);
        Assert.Contains("does not offer CHUNKING", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_model_keeps_to_the_rate_and_measures_from_the_due_time()
    {
        await using var sink = await PostfixSink.StartAsync();
        var watch = Stopwatch.StartNew();
        var run = await SendHarness.RunAsync("--target", sink.Target, "--sessions", "4", "--messages", "40", "--model", "open", "--rate", "40");
        watch.Stop();
        Assert.Equal(0, run.Code);
        Assert.Equal(40, run.Result.Stats.Ok);
        Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(39 / 40.0), $"40 messages at 40/s took {watch.Elapsed}");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(8), $"took {watch.Elapsed}");
    }

    [Fact]
    public async Task Closed_model_rate_caps_the_sessions()
    {
        await using var sink = await PostfixSink.StartAsync();
        var watch = Stopwatch.StartNew();
        var run = await SendHarness.RunAsync("--target", sink.Target, "--sessions", "8", "--messages", "30", "--rate", "30");
        watch.Stop();
        Assert.Equal(30, run.Result.Stats.Ok);
        Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(29 / 30.0), $"30 messages capped at 30/s took {watch.Elapsed}");
    }

    [Fact]
    public async Task Duration_ends_the_run_before_the_message_count()
    {
        await using var sink = await PostfixSink.StartAsync();
        var watch = Stopwatch.StartNew();
        var run = await SendHarness.RunAsync("--target", sink.Target, "--sessions", "2", "--messages", "100000", "--rate", "50", "--model", "open", "--duration", "1s");
        watch.Stop();
        Assert.Equal(0, run.Code);

        // Open model: message n is due at (n-1)/50 s, so at most the 50 due within the first second are sent.
        // No lower bound beyond "some": on a loaded machine (CI runs test assemblies side by side on two cores)
        // a session's connect and EHLO have taken most of the second, leaving the rest to be claimed after
        // the deadline (6 once). Keeping to the rate is Open_model_keeps_to_the_rate_and_measures_from_the_due_time's job.
        Assert.InRange(run.Result.Stats.Ok, 1, 50);
        Assert.Equal(0, run.Result.Stats.Failed);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
    }

    private static async Task<string[]> WaitForFilesAsync(string directory, int count)
    {
        for (var i = 0; i < 100; i++)
        {
            var files = Directory.GetFiles(directory, "*", SearchOption.AllDirectories);
            if (files.Length >= count && files.All(f => new FileInfo(f).Length > 0))
            {
                return files;
            }

            await Task.Delay(50);
        }

        throw new InvalidOperationException("smtp-sink wrote too few dump files");
    }
}

/// <summary>Runs <c>tern-load send</c> in process, as the command line would, and keeps what it reported.</summary>
internal static class SendHarness
{
    public static async Task<SendRunOutcome> RunAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        SendResult? result = null;
        var root = new RootCommand { SendCommand.Build(stdout, stderr, r => result = r) };
        var parsed = root.Parse(["send", .. args]);
        if (parsed.Errors.Count > 0)
        {
            return new SendRunOutcome(2, stdout.ToString(), string.Join('\n', parsed.Errors.Select(e => e.Message)), null);
        }

        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var code = await parsed.InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr }, cancel.Token);
        return new SendRunOutcome(code, stdout.ToString(), stderr.ToString(), result);
    }
}

internal sealed record SendRunOutcome(int Code, string Stdout, string Stderr, SendResult? MaybeResult)
{
    public SendResult Result => MaybeResult ?? throw new InvalidOperationException($"no run (exit {Code}): {Stderr}");
}

/// <summary>A temporary directory, deleted afterwards.</summary>
internal sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("tern-load-send-").FullName;

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

/// <summary>One Postfix smtp-sink process on a free loopback port (as nobody when the tests run as root).</summary>
internal sealed class PostfixSink : IAsyncDisposable
{
    private const string Program = "/usr/sbin/smtp-sink";
    private readonly Process _process;

    private PostfixSink(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public string Target => $"127.0.0.1:{Port}";

    public static async Task<PostfixSink> StartAsync(params string[] flags)
    {
        if (!File.Exists(Program))
        {
            throw new InvalidOperationException($"{Program} is missing: install postfix (build.sh does)");
        }

        var port = TestPorts.Free();
        var start = new ProcessStartInfo(Program) { RedirectStandardError = true, RedirectStandardOutput = true };
        if (Environment.UserName == "root")
        {
            start.ArgumentList.Add("-u");
            start.ArgumentList.Add("nobody");
        }

        foreach (var flag in flags)
        {
            start.ArgumentList.Add(flag);
        }

        start.ArgumentList.Add($"127.0.0.1:{port}");
        start.ArgumentList.Add("100");
        var process = Process.Start(start)!;
        var sink = new PostfixSink(process, port);
        for (var i = 0; i < 100; i++)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException("smtp-sink exited: " + await process.StandardError.ReadToEndAsync());
            }

            if (await ListensAsync(port))
            {
                return sink;
            }

            await Task.Delay(50);
        }

        await sink.DisposeAsync();
        throw new InvalidOperationException("smtp-sink did not start listening");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
    }


    /// <summary>A listening check that opens no SMTP session.</summary>
    private static async Task<bool> ListensAsync(int port)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(IPAddress.Loopback, port);
            socket.LingerState = new LingerOption(true, 0);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
