using System.Text.Json;
using Tern.Load.Report;

namespace Tern.Load.Tests;

/// <summary>RunReporter: the summary, the JSON and HTML reports, the progress lines, and Durations.</summary>
public sealed class ReportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tern-load-report-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static ReportOptions Options(string? json = null, string? html = null, bool interactive = false, int intervalMs = 50, string paramValue = "10") =>
        new("http", "http://127.0.0.1:9464/api/v1/messages", [new("sessions", paramValue), new("size", "2048")], json, html, interactive, TimeSpan.FromMilliseconds(intervalMs));

    /// <summary>Latencies 1..10000 µs once each, 12 failures with 451, 3 timeouts, 4 connections, 1 MiB.</summary>
    private static RunStats Synthetic()
    {
        var stats = new RunStats();
        for (var v = 1; v <= 10_000; v++)
        {
            stats.RecordOk(v, bytes: v == 1 ? 1024 * 1024 : 0);
        }

        for (var i = 0; i < 12; i++)
        {
            stats.RecordFailed(FailureKind.Reply, 451);
        }

        for (var i = 0; i < 3; i++)
        {
            stats.RecordFailed(FailureKind.Timeout);
        }

        for (var i = 0; i < 4; i++)
        {
            stats.ConnectionOpened();
        }

        return stats;
    }

    [Fact]
    public async Task Summary_has_the_counts_failures_and_HDR_percentiles()
    {
        var stats = Synthetic();
        var output = new StringWriter();
        var reporter = RunReporter.Start(stats, Options(), output);
        Assert.Equal(0, await reporter.FinishAsync());

        var s = reporter.Summary!;
        Assert.Equal(10_000, s.Ok);
        Assert.Equal(15, s.Failed);
        Assert.Equal(10_015, s.Messages);
        Assert.Equal([(FailureKind.Reply, 12L), (FailureKind.Timeout, 3L)], s.FailuresByKind);
        Assert.Equal([(451, 12L)], s.FailuresByCode);

        // HDR with 3 significant digits: within 0.1 % of the exact order statistic.
        Assert.Equal(10_000, s.Latency.Count);
        Assert.Equal(1, s.Latency.MinMicros);
        Assert.InRange(s.Latency.At(50), 4995, 5005);
        Assert.InRange(s.Latency.At(90), 8991, 9009);
        Assert.InRange(s.Latency.At(99), 9890, 9910);
        Assert.InRange(s.Latency.At(99.9), 9980, 10_000);
        Assert.InRange(s.Latency.MaxMicros, 10_000, 10_010);

        var text = output.ToString();
        Assert.Contains("tern-load http: http://127.0.0.1:9464/api/v1/messages", text);
        Assert.Matches(@"(?m)^  ok\s+10000$", text);
        Assert.Matches(@"(?m)^  failed\s+15  \(reply 12, timeout 3\)$", text);
        Assert.Matches(@"(?m)^  by code\s+451: 12$", text);
        Assert.Matches(@"(?m)^  connections\s+4$", text);
        Assert.Matches(@"(?m)^  sessions\s+10$", text);
        Assert.Matches(@"min\s+p50\s+p90\s+p99\s+p99\.9\s+max", text);
        Assert.Matches(@"0\.001\s+5\.0\d\d\s+9\.0\d\d\s+9\.9\d\d\s+\d+\.\d{3}\s+10\.0\d\d", text);
        Assert.DoesNotContain("\r", text);
    }

    [Fact]
    public async Task Json_report_parses_back_with_totals_failures_and_a_time_series()
    {
        var stats = new RunStats();
        var path = Path.Combine(_dir, "run.json");
        var reporter = RunReporter.Start(stats, Options(json: path), new StringWriter());
        for (var round = 0; round < 6; round++)
        {
            for (var i = 0; i < 100; i++)
            {
                stats.RecordOk(1000 + i, 2048);
            }

            stats.RecordFailed(FailureKind.Reply, 503);
            await Task.Delay(40);
        }

        Assert.Equal(0, await reporter.FinishAsync());
        var report = JsonSerializer.Deserialize(await File.ReadAllBytesAsync(path), ReportJsonContext.Default.JsonReport)!;
        Assert.Equal(JsonReport.CurrentSchema, report.Schema);
        Assert.Equal("http", report.Run.Mode);
        Assert.Equal("tern-load", report.Run.Tool);
        Assert.Equal("2048", report.Parameters["size"]);
        Assert.Equal(606, report.Totals.Messages);
        Assert.Equal(600, report.Totals.Ok);
        Assert.Equal(6, report.Totals.Failed);
        Assert.Equal(600 * 2048, report.Totals.Bytes);
        Assert.Equal(6, report.Failures.ByCode["503"]);
        Assert.Equal(6, report.Failures.ByKind["reply"]);
        Assert.Equal(600, report.LatencyMs.Count);
        Assert.InRange(report.LatencyMs.P50, 1.04, 1.06);
        Assert.InRange(report.LatencyMs.Max, 1.099, 1.1);
        Assert.Equal(51, report.LatencyMs.Distribution.Count);
        Assert.True(report.Series.Count >= 2, $"series of {report.Series.Count}");
        Assert.Equal(600, report.Series.Sum(i => i.Ok));
        Assert.Equal(6, report.Series.Sum(i => i.Failed));
        Assert.All(report.Series.Where(i => i.Ok > 0), i => Assert.InRange(i.P50Ms, 1.0, 1.1));

        // Member names are snake_case, as the README documents them.
        var text = await File.ReadAllTextAsync(path);
        Assert.Contains("\"latency_ms\"", text);
        Assert.Contains("\"msg_per_sec\"", text);
        Assert.Contains("\"p99_9\"", text);
    }

    [Fact]
    public async Task Html_report_is_self_contained_has_charts_and_escapes_input()
    {
        var stats = Synthetic();
        var path = Path.Combine(_dir, "run.html");
        var reporter = RunReporter.Start(stats, Options(html: path, paramValue: "<script>alert('x')</script>"), new StringWriter());
        Assert.Equal(0, await reporter.FinishAsync());
        var html = await File.ReadAllTextAsync(path);

        Assert.StartsWith("<!DOCTYPE html>", html);
        Assert.Equal(3, html.Split("<svg").Length - 1);
        Assert.Contains("<polyline", html);
        Assert.Contains("99.999%", html);
        Assert.Contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;", html);
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("src=", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("href=", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("@import", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("url(", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains(">451: 12<", html.Replace("failed: code ", string.Empty, StringComparison.Ordinal).Replace("</th><td class=\"bad\">", ": ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Plain_progress_prints_lines_without_carriage_returns()
    {
        var stats = new RunStats();
        var output = new StringWriter();
        var reporter = RunReporter.Start(stats, Options(intervalMs: 30), output);
        for (var i = 0; i < 10; i++)
        {
            stats.RecordOk(500);
            await Task.Delay(25);
        }

        await reporter.FinishAsync();
        var text = output.ToString();
        Assert.DoesNotContain("\r", text);
        var progress = text.Split('\n').Where(l => l.Contains("msg/s", StringComparison.Ordinal) && l.Contains("  ok ", StringComparison.Ordinal)).ToList();
        Assert.True(progress.Count >= 3, text);
        Assert.Matches(@"^\s*\d+\.\ds  ok \d+  failed 0  \d+ msg/s", progress[0]);
    }

    [Fact]
    public async Task Interactive_progress_rewrites_one_line_with_carriage_returns()
    {
        var stats = new RunStats();
        var output = new StringWriter();
        var reporter = RunReporter.Start(stats, Options(interactive: true, intervalMs: 30), output);
        for (var i = 0; i < 10; i++)
        {
            stats.RecordOk(500);
            if (i == 5)
            {
                stats.RecordFailed(FailureKind.Disconnect);
            }

            await Task.Delay(25);
        }

        await reporter.FinishAsync();
        var text = output.ToString();
        var live = text[..text.IndexOf("tern-load http:", StringComparison.Ordinal)];
        Assert.True(live.Count(c => c == '\r') >= 3, live);
        Assert.Equal(1, live.Count(c => c == '\n'));
        Assert.EndsWith("\n", live);
        Assert.Contains("errors disconnect:1", live);
    }

    [Fact]
    public async Task A_report_file_that_cannot_be_written_is_said_and_exits_2()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var reporter = RunReporter.Start(new RunStats(), Options(json: Path.Combine(_dir, "missing", "dir", "r.json")), stdout, stderr);
        Assert.Equal(2, await reporter.FinishAsync());
        Assert.Contains("tern-load: cannot write the JSON report", stderr.ToString());
        Assert.Contains("messages", stdout.ToString());
    }

    [Theory]
    [InlineData("250ms", 250)]
    [InlineData("30s", 30_000)]
    [InlineData("1.5s", 1500)]
    [InlineData("2m", 120_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("5", 5000)]
    [InlineData(" 0.25 ", 250)]
    [InlineData("0", 0)]
    public void Durations_parse(string text, long milliseconds)
    {
        Assert.True(Durations.TryParse(text, out var value));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), value);
    }

    [Theory]
    [InlineData("")]
    [InlineData(null)]
    [InlineData("-5s")]
    [InlineData("s")]
    [InlineData("5x")]
    [InlineData("1h30m")]
    [InlineData("1.2.3s")]
    [InlineData("5 s")]
    [InlineData("1e3")]
    [InlineData("NaN")]
    [InlineData("25h")]
    public void Durations_refuse_garbage(string? text) => Assert.False(Durations.TryParse(text, out _));

    [Fact]
    public void Durations_format_compactly()
    {
        Assert.Equal("250ms", Durations.Format(TimeSpan.FromMilliseconds(250)));
        Assert.Equal("12.5s", Durations.Format(TimeSpan.FromSeconds(12.5)));
        Assert.Equal("3m20s", Durations.Format(TimeSpan.FromSeconds(200)));
        Assert.Equal("1h5s", Durations.Format(TimeSpan.FromSeconds(3605)));
        Assert.Equal("1m", Durations.Format(TimeSpan.FromSeconds(60)));
    }
}
