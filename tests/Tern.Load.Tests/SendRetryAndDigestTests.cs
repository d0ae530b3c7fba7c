using System.Net;
using System.Net.Sockets;
using Tern.Load.Tests.Send;

namespace Tern.Load.Tests;

/// <summary>
/// <c>send --retry-connect</c> (a target that restarts does not cost messages or stop the run) and
/// the body digests of <c>send --ids</c> and <c>sink --ids</c> agreeing, through <c>check</c>.
/// </summary>
public sealed class SendRetryAndDigestTests
{
    [Theory]
    [InlineData("off")]
    [InlineData("on")]
    public async Task Sender_and_sink_digests_agree_for_data_and_bdat(string chunking)
    {
        await using var sink = await TestSink.StartAsync();
        using var dir = new TempDir();
        var sent = Path.Combine(dir.Path, "sent.ids");
        var run = await SendHarness.RunAsync("--target", $"127.0.0.1:{sink.Port}", "--sessions", "3", "--messages", "120", "--size", "1k:2,10k:1,100k:1",
            "--chunking", chunking, "--window", "2", "--ids", sent, "--fail-on-error");
        Assert.Equal(0, run.Code);
        await sink.StopAndReadLinesAsync();
        Assert.All(await File.ReadAllLinesAsync(sent), l => Assert.Matches(@"^\S+\t250 [^\t]*\t[0-9a-f]{16}$", l));

        var check = await CheckAsync(sent, sink.IdsPath);
        Assert.Equal(0, check.Code);
        Assert.Contains("lost:          0", check.Output, StringComparison.Ordinal);
        Assert.Contains("corrupted:     0\n", check.Output.Replace("\r", "", StringComparison.Ordinal), StringComparison.Ordinal);

        // A sent file whose digests are off by one bit: every message is corrupted.
        var tampered = Path.Combine(dir.Path, "tampered.ids");
        await File.WriteAllLinesAsync(tampered, (await File.ReadAllLinesAsync(sent)).Select(l => l[..^1] + (l[^1] == '0' ? '1' : '0')));
        check = await CheckAsync(tampered, sink.IdsPath);
        Assert.Equal(1, check.Code);
        Assert.Contains("corrupted:     120", check.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_target_that_comes_up_late_costs_no_messages_with_retry_connect()
    {
        var port = TestPorts.Free();
        using var dir = new TempDir();
        var sent = Path.Combine(dir.Path, "sent.ids");
        var sending = SendHarness.RunAsync("--target", $"127.0.0.1:{port}", "--sessions", "4", "--messages", "200", "--retry-connect", "20s",
            "--ids", sent, "--fail-on-error");

        // Nothing listens for a while: the sessions keep retrying.
        await Task.Delay(1500);
        Assert.False(sending.IsCompleted);
        await using var sink = await TestSink.StartAsync(o => o with { Listen = new IPEndPoint(IPAddress.Loopback, port) });
        var run = await sending;
        Assert.True(run.Code == 0, run.Stdout + run.Stderr);
        Assert.Equal(200, run.Result.Stats.Ok);
        Assert.Equal(0, run.Result.Stats.Failed);
        Assert.Matches(@"connect retries \(--retry-connect, target unreachable\): [1-9]", run.Stdout);
        Assert.Equal(200, (await sink.StopAndReadIdsAsync()).Length);
    }

    [Fact]
    public async Task Retry_connect_is_bounded()
    {
        var port = TestPorts.Free();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var run = await SendHarness.RunAsync("--target", $"127.0.0.1:{port}", "--sessions", "2", "--messages", "100", "--retry-connect", "700ms");
        Assert.Equal(1, run.Code);
        Assert.Contains("cannot connect to 127.0.0.1:", run.Stderr, StringComparison.Ordinal);
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(700), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Retry_connect_must_be_a_duration()
    {
        var run = await SendHarness.RunAsync("--target", "127.0.0.1:25", "--retry-connect", "soon");
        Assert.Equal(2, run.Code);
        Assert.Contains("--retry-connect \"soon\" must be 0 or a duration", run.Stderr, StringComparison.Ordinal);
    }

    private static async Task<(int Code, string Output)> CheckAsync(string sent, string received)
    {
        var stdout = new StringWriter();
        var code = await LoadCommandLine.RunAsync(["check", "--sent", sent, "--received", received], stdout, new StringWriter());
        return (code, stdout.ToString());
    }

}
