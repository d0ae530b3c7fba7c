using System.Diagnostics;
using System.Text.Json;

namespace Tern.Load.Tests;

/// <summary><c>tern-load check</c>: lost, duplicated and unexpected ids, exit codes, and a large input.</summary>
public sealed class CheckCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tern-load-check-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Counts_lost_duplicated_and_unexpected()
    {
        var sent = Write("sent", "a@t\t250 2.0.0 Ok queued as A", "b@t\t250 ok", "c@t\t250 ok", "d@t\t250 ok", "");
        var received = Write("received", "a@t", "b@t", "b@t", "b@t", "x@t", "-", "d@t");
        var json = Path.Combine(_dir, "check.json");
        var (code, output, _) = await RunAsync("--sent", sent, "--received", received, "--json", json);
        Assert.Equal(1, code);
        Assert.Contains("sent (acked):  4", output, StringComparison.Ordinal);
        Assert.Contains("received:      7  (1 without Message-ID", output, StringComparison.Ordinal);
        Assert.Contains("lost:          1", output, StringComparison.Ordinal);
        Assert.Contains("  c@t", output, StringComparison.Ordinal);
        Assert.Contains("duplicated:    1  (2 extra copies)", output, StringComparison.Ordinal);
        Assert.Contains("  b@t", output, StringComparison.Ordinal);
        Assert.Contains("unexpected:    1", output, StringComparison.Ordinal);

        using var doc = JsonDocument.Parse(await File.ReadAllTextAsync(json));
        Assert.Equal(1, doc.RootElement.GetProperty("lost").GetInt64());
        Assert.Equal("c@t", doc.RootElement.GetProperty("lost_ids")[0].GetString());
        Assert.Equal(2, doc.RootElement.GetProperty("duplicate_copies").GetInt64());
        Assert.Equal(1, doc.RootElement.GetProperty("unexpected").GetInt64());
    }

    [Fact]
    public async Task No_loss_exits_0_even_with_duplicates_unless_asked()
    {
        var sent = Write("sent", "a@t\t250 ok", "b@t\t250 ok");
        var received = Write("received", "a@t", "b@t", "b@t", "late@t");
        var (code, output, _) = await RunAsync("--sent", sent, "--received", received);
        Assert.Equal(0, code);
        Assert.Contains("result: no loss", output, StringComparison.Ordinal);
        (code, _, _) = await RunAsync("--sent", sent, "--received", received, "--fail-on-duplicates");
        Assert.Equal(1, code);
    }

    [Fact]
    public async Task Missing_file_or_option_exits_2()
    {
        var sent = Write("sent", "a@t");
        var (code, _, error) = await RunAsync("--sent", sent, "--received", Path.Combine(_dir, "nope"));
        Assert.Equal(2, code);
        Assert.Contains("tern-load: no such file", error, StringComparison.Ordinal);
        (code, _, _) = await RunAsync("--sent", sent);
        Assert.Equal(2, code);
    }

    [Fact]
    public async Task Lists_at_most_20_lost_ids()
    {
        var sent = Write("sent", [.. Enumerable.Range(0, 50).Select(i => $"id{i:D2}@t\t250 ok")]);
        var received = Write("received", "id00@t");
        var (code, output, _) = await RunAsync("--sent", sent, "--received", received);
        Assert.Equal(1, code);
        Assert.Contains("lost:          49", output, StringComparison.Ordinal);
        Assert.Contains("... and 29 more", output, StringComparison.Ordinal);
        Assert.Equal(20, output.Split('\n').Count(l => l.StartsWith("  id", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_million_lines_are_checked()
    {
        const int Lines = 1_000_000;
        var sent = Path.Combine(_dir, "sent-big");
        var received = Path.Combine(_dir, "received-big");
        await using (var s = new StreamWriter(sent))
        await using (var r = new StreamWriter(received))
        {
            for (var i = 1; i <= Lines; i++)
            {
                await s.WriteLineAsync($"0123456789ab.{i}@tern-load.test\t250 2.0.0 Ok: queued as {i:X}");
                if (i != 777)
                {
                    await r.WriteLineAsync($"0123456789ab.{i}@tern-load.test");
                }
            }
        }

        var watch = Stopwatch.StartNew();
        var (code, output, _) = await RunAsync("--sent", sent, "--received", received);
        Assert.Equal(1, code);
        Assert.Contains("lost:          1", output, StringComparison.Ordinal);
        Assert.Contains("0123456789ab.777@tern-load.test", output, StringComparison.Ordinal);
        // Speed is the benchmarks' business; this bound only catches a hang (about 2 s is usual here).
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), watch.Elapsed.ToString());
    }

    [Fact]
    public async Task A_different_body_digest_is_corruption_and_exits_1()
    {
        var sent = Write("sent", "a@t\t250 ok\t00000000000000aa", "b@t\t250 ok\t00000000000000bb", "c@t\t250 ok\t00000000000000cc", "d@t\t250 ok\t00000000000000dd");
        // a: same digest; b: another digest; c: two copies, the second corrupted; d: received without a digest (older sink).
        var received = Write("received", "a@t\t00000000000000aa", "b@t\t00000000000000b0", "c@t\t00000000000000cc", "c@t\t0000000000000ccc", "d@t");
        var json = Path.Combine(_dir, "corrupt.json");
        var (code, output, _) = await RunAsync("--sent", sent, "--received", received, "--json", json);
        Assert.Equal(1, code);
        Assert.Contains("lost:          0", output, StringComparison.Ordinal);
        Assert.Contains("corrupted:     2  (received with another body digest)", output, StringComparison.Ordinal);
        Assert.Contains("  b@t", output, StringComparison.Ordinal);
        Assert.Contains("  c@t", output, StringComparison.Ordinal);
        Assert.DoesNotContain("  a@t", output, StringComparison.Ordinal);
        Assert.DoesNotContain("  d@t", output, StringComparison.Ordinal);
        Assert.Contains("duplicated:    1", output, StringComparison.Ordinal);
        Assert.Contains("result: CORRUPTION", output, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(await File.ReadAllTextAsync(json));
        Assert.Equal(2, doc.RootElement.GetProperty("corrupted").GetInt64());
        Assert.Equal(["b@t", "c@t"], doc.RootElement.GetProperty("corrupted_ids").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(4, doc.RootElement.GetProperty("digests_checked").GetInt64());
    }

    [Fact]
    public async Task Matching_digests_and_files_without_the_column_pass()
    {
        // New sender, new sink: all digests match. Old sender (two columns) with a new sink: only loss is checked.
        var sent = Write("sent", "a@t\t250 ok\t0123456789abcdef", "b@t\t250 ok", "c@t\t250 ok\tnot-a-digest");
        var received = Write("received", "a@t\t0123456789abcdef", "b@t\tfedcba9876543210", "c@t");
        var (code, output, _) = await RunAsync("--sent", sent, "--received", received, "--fail-on-duplicates");
        Assert.Equal(0, code);
        Assert.Contains("corrupted:     0  (2 acked without a digest, not checked)", output, StringComparison.Ordinal);
        Assert.Contains("result: no loss", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Loss_and_corruption_together()
    {
        var sent = Write("sent", "a@t\t250 ok\t0000000000000001", "b@t\t250 ok\t0000000000000002");
        var received = Write("received", "a@t\t0000000000000009");
        var (code, output, _) = await RunAsync("--sent", sent, "--received", received);
        Assert.Equal(1, code);
        Assert.Contains("result: LOSS, CORRUPTION", output, StringComparison.Ordinal);
    }

    private string Write(string name, params string[] lines)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllLines(path, lines);
        return path;
    }

    private static async Task<(int Code, string Output, string Error)> RunAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await LoadCommandLine.RunAsync(["check", .. args], stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
