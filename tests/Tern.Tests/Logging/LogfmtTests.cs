using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Tern.Observability.Logging;

namespace Tern.Tests.Logging;

public sealed partial class LogfmtTests
{
    private sealed class Capture : IDisposable
    {
        private readonly MemoryStream _stream = new();
        private readonly LogSink _sink;

        public Capture(TernLogLevel global = TernLogLevel.Info, Dictionary<string, TernLogLevel>? components = null, DateTimeOffset? now = null)
        {
            Levels = new LogLevelSettings(global, components);
            _sink = new LogSink(_stream);
            Factory = new LogfmtLoggerFactory(Levels, _sink, new FixedClock(now ?? new(2026, 11, 28, 18, 42, 7, 123, TimeSpan.Zero)));
        }

        public LogLevelSettings Levels { get; }

        public LogfmtLoggerFactory Factory { get; }

        public string[] Lines
        {
            get
            {
                _sink.Flush();
                return Encoding.UTF8.GetString(_stream.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            }
        }

        public void Dispose() => Factory.Dispose();
    }

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "connection accepted {cid} {remote}")]
    private static partial void Accepted(ILogger log, string cid, string remote);

    [LoggerMessage(Level = LogLevel.Trace, Message = "auth response {cid} {response}")]
    private static partial void AuthLine(ILogger log, string cid, LogSecret response);

    [LoggerMessage(Level = LogLevel.Trace, Message = "data chunk {cid} {data}")]
    private static partial void DataChunk(ILogger log, string cid, LogData data);

    [LoggerMessage(Level = LogLevel.Debug, Message = "detail {n}")]
    private static partial void Detail(ILogger log, int n);

    [LoggerMessage(Level = LogLevel.Warning, Message = "odd value {value}")]
    private static partial void Odd(ILogger log, string value);

    [LoggerMessage(Level = LogLevel.Error, Message = "failed: {op}")]
    private static partial void Failed(ILogger log, Exception e, string op);

    [Fact]
    public void Line_has_time_level_message_component_and_fields()
    {
        using var c = new Capture();
        Accepted(c.Factory.CreateLogger("smtp"), "c1", "127.0.0.1:5000");
        Assert.Equal(["t=2026-11-28T18:42:07.123Z l=info m=\"connection accepted\" c=smtp cid=c1 remote=127.0.0.1:5000"], c.Lines);
    }

    [Theory]
    [InlineData(2026, 1, 2, 3, 4, 5, 6, "2026-01-02T03:04:05.006Z")]
    [InlineData(999, 12, 31, 23, 59, 59, 999, "0999-12-31T23:59:59.999Z")]
    [InlineData(2030, 10, 20, 0, 0, 0, 0, "2030-10-20T00:00:00.000Z")]
    public void The_time_is_rfc3339_utc_with_milliseconds_zero_padded(int year, int month, int day, int hour, int minute, int second, int ms, string expected)
    {
        // A local offset on the clock does not leak into the line: it is always UTC.
        var utc = new DateTimeOffset(year, month, day, hour, minute, second, ms, TimeSpan.Zero);
        using var c = new Capture(now: utc.ToOffset(TimeSpan.FromHours(year > 1000 ? 5 : 0)));
        Accepted(c.Factory.CreateLogger("smtp"), "c1", "127.0.0.1:5000");
        Assert.StartsWith($"t={expected} l=info ", Assert.Single(c.Lines), StringComparison.Ordinal);
    }

    [Fact]
    public void Numbers_are_written_invariant_and_in_full()
    {
        using var c = new Capture(global: TernLogLevel.Debug);
        Detail(c.Factory.CreateLogger("smtp"), -1234567890);
        Detail(c.Factory.CreateLogger("smtp"), int.MaxValue);
        Assert.Equal([" n=-1234567890", " n=2147483647"], c.Lines.Select(l => l[l.LastIndexOf(' ')..]));
    }

    [Fact]
    public void Values_with_spaces_quotes_or_control_characters_are_quoted_and_escaped()
    {
        using var c = new Capture();
        Odd(c.Factory.CreateLogger("tern"), "a \"b\"\r\n\tc\\\u0001=");
        Assert.EndsWith("value=\"a \\\"b\\\"\\r\\n\\tc\\\\\\x01=\"", c.Lines[0], StringComparison.Ordinal);
        Assert.Single(c.Lines);
    }

    [Fact]
    public void Empty_value_is_quoted()
    {
        using var c = new Capture();
        Odd(c.Factory.CreateLogger("tern"), "");
        Assert.EndsWith(" value=\"\"", c.Lines[0], StringComparison.Ordinal);
    }

    [Fact]
    public void Credentials_are_masked_at_trace_and_shown_at_traceauth()
    {
        using (var c = new Capture(TernLogLevel.Trace))
        {
            AuthLine(c.Factory.CreateLogger("smtp"), "c1", new LogSecret("hunter2"));
            Assert.EndsWith("response=***", c.Lines[0], StringComparison.Ordinal);
            Assert.DoesNotContain("hunter2", c.Lines[0], StringComparison.Ordinal);
        }

        using (var c = new Capture(TernLogLevel.TraceAuth))
        {
            AuthLine(c.Factory.CreateLogger("smtp"), "c1", new LogSecret("hunter2"));
            Assert.EndsWith("response=hunter2", c.Lines[0], StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Message_data_is_elided_below_tracedata()
    {
        var data = Encoding.ASCII.GetBytes("Subject: hi\r\n");
        using (var c = new Capture(TernLogLevel.TraceAuth))
        {
            DataChunk(c.Factory.CreateLogger("smtp"), "c1", new LogData(data));
            Assert.EndsWith("data=\"...(13 bytes)\"", c.Lines[0], StringComparison.Ordinal);
        }

        using (var c = new Capture(TernLogLevel.TraceData))
        {
            DataChunk(c.Factory.CreateLogger("smtp"), "c1", new LogData(data));
            Assert.EndsWith("data=\"Subject: hi\\r\\n\"", c.Lines[0], StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Secrets_print_masked_through_any_other_formatter()
    {
        Assert.Equal("***", new LogSecret("pw").ToString());
        Assert.Equal("...(3 bytes)", new LogData("abc"u8.ToArray()).ToString());
    }

    [Fact]
    public void Levels_apply_per_component_and_can_change_at_run_time()
    {
        using var c = new Capture(TernLogLevel.Info, new() { ["smtp"] = TernLogLevel.Debug });
        var smtp = c.Factory.CreateLogger("smtp");
        var spool = c.Factory.CreateLogger("spool");
        Detail(smtp, 1);
        Detail(spool, 2);
        Assert.True(smtp.IsEnabled(LogLevel.Debug));
        Assert.False(spool.IsEnabled(LogLevel.Debug));
        Assert.False(smtp.IsEnabled(LogLevel.Trace));

        c.Levels.Set(TernLogLevel.Error, null);
        Detail(smtp, 3);
        Odd(spool, "x");
        Failed(spool, new InvalidOperationException("disk gone"), "commit");

        Assert.Equal(2, c.Lines.Length);
        Assert.Contains("c=smtp n=1", c.Lines[0], StringComparison.Ordinal);
        Assert.Contains("l=error m=failed c=spool op=commit err=\"disk gone\" errtype=System.InvalidOperationException", c.Lines[1], StringComparison.Ordinal);
    }

    [Fact]
    public void Concurrent_writers_never_interleave_lines()
    {
        using var c = new Capture();
        var log = c.Factory.CreateLogger("smtp");
        Parallel.For(0, 2000, i => Accepted(log, "c" + i, new string('x', i % 300)));
        var lines = c.Lines;
        Assert.Equal(2000, lines.Length);
        Assert.All(lines, l => Assert.Matches(LineShape(), l));
    }

    [Theory]
    [InlineData("connection accepted {cid}", "connection accepted")]
    [InlineData("failed: {op}", "failed")]
    [InlineData("stopped", "stopped")]
    public void Message_is_template_text_before_first_placeholder(string template, string message) =>
        Assert.Equal(message, LogfmtLine.MessageOf(template));

    [Fact]
    public void Level_names_round_trip()
    {
        foreach (var name in TernLogLevels.Names)
        {
            Assert.True(TernLogLevels.TryParse(name.ToUpperInvariant(), out var level));
            Assert.Equal(name, level.ToName());
        }

        Assert.False(TernLogLevels.TryParse("verbose", out _));
    }

    [GeneratedRegex("^t=\\S+ l=info m=\"connection accepted\" c=smtp cid=c\\d+ remote=(x+|\"\")$")]
    private static partial Regex LineShape();
}
