using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Tern.Tests.Support;

namespace Tern.Delivery.Tests.TlsHistory;

/// <summary>The domain TLS history on a real file in a temporary directory: what it remembers, when it writes, what it survives.</summary>
public sealed class DomainTlsHistoryTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private readonly string _dir = Directory.CreateTempSubdirectory("tern-domaintls-").FullName;
    private readonly ListLoggerFactory _logs = new();

    public void Dispose() => Directory.Delete(_dir, true);

    private string FilePath => DomainTlsHistory.PathIn(_dir);

    /// <summary>A history whose timer would write only after an hour: every write in the test is explicit.</summary>
    private DomainTlsHistory Open(int max = 10_000, TimeSpan? interval = null, string? path = null) =>
        DomainTlsHistory.Open(path ?? FilePath, new DomainTlsHistoryOptions { MaxDomains = max, WriteInterval = interval ?? TimeSpan.FromHours(1) }, _logs.CreateLogger("delivery"));

    [Fact]
    public void The_last_session_per_domain_is_kept_whatever_the_case_or_label_form()
    {
        using var h = Open();
        h.Observed("Example.ORG.", startTls: true, verified: true, requireTls: true, T0);
        h.Observed("plain.example", startTls: false, verified: false, requireTls: false, T0);
        h.Observed("bücher.example", startTls: true, verified: false, requireTls: false, T0);

        Assert.True(h.TryGet("example.org", out var r));
        Assert.Equal(new DomainTlsRecord("example.org", T0, true, true, true), r);
        Assert.True(r.TakesRequireTls);
        Assert.True(h.TryGet("EXAMPLE.org"u8, out var bySpan));
        Assert.Same(r, bySpan);

        // U-labels and A-labels are one domain (RFC 5890).
        Assert.True(h.TryGet("xn--bcher-kva.example", out var idn));
        Assert.Equal("xn--bcher-kva.example", idn.Domain);
        Assert.True(h.TryGet(Encoding.UTF8.GetBytes("Bücher.example"), out _));
        Assert.False(idn.TakesRequireTls);

        Assert.True(h.TryGet("plain.example", out var plain));
        Assert.False(plain.StartTls || plain.Verified || plain.RequireTls);
        Assert.False(h.TryGet("other.example", out _));
        Assert.False(h.TryGet(""u8, out _));
        Assert.Equal(3, h.Count);

        // A later session replaces the record; one that finished late with an older start does not.
        h.Observed("example.org", startTls: true, verified: false, requireTls: false, T0.AddMinutes(5));
        h.Observed("example.org", startTls: true, verified: true, requireTls: true, T0.AddMinutes(1));
        Assert.True(h.TryGet("example.org", out r));
        Assert.Equal(new DomainTlsRecord("example.org", T0.AddMinutes(5), true, false, false), r);
        Assert.False(r.TakesRequireTls);

        // REQUIRETLS is announced only after STARTTLS: such a report means TLS was there.
        h.Observed("odd.example", startTls: false, verified: false, requireTls: true, T0);
        Assert.True(h.TryGet("odd.example", out var odd) && odd.StartTls);
        Assert.Equal(["example.org", "odd.example", "plain.example", "xn--bcher-kva.example"], h.All().Select(x => x.Domain));
    }

    [Fact]
    public async Task Changes_are_written_by_the_timer_not_by_the_observation_and_read_back_after_a_restart()
    {
        // 1 s: the check that nothing is written yet must come before the timer's first tick, also on a loaded machine.
        using (var h = Open(interval: TimeSpan.FromSeconds(1)))
        {
            h.Observed("example.org", true, true, true, T0);
            h.Observed("example.net", true, false, false, T0.AddSeconds(1));

            // Observed never writes: the delivery path does no I/O.
            Assert.False(File.Exists(FilePath));
            Assert.True(h.HasUnwrittenChanges);

            // The flag is cleared when the timer's write starts: the file appears (atomically) a moment later.
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while ((h.HasUnwrittenChanges || !File.Exists(FilePath)) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
            }

            Assert.False(h.HasUnwrittenChanges);
            Assert.True(File.Exists(FilePath));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(FilePath));
        }

        using var again = Open();
        Assert.Equal(2, again.Count);
        Assert.True(again.TryGet("example.org", out var r));
        Assert.Equal(new DomainTlsRecord("example.org", T0, true, true, true), r);
        Assert.True(again.TryGet("example.net", out r));
        Assert.Equal(new DomainTlsRecord("example.net", T0.AddSeconds(1), true, false, false), r);

        // The file is the documented JSON.
        using var json = JsonDocument.Parse(File.ReadAllBytes(FilePath));
        Assert.Equal(1, json.RootElement.GetProperty("version").GetInt32());
        var first = json.RootElement.GetProperty("domains")[0];
        Assert.Equal("example.net", first.GetProperty("domain").GetString());
        Assert.Equal(T0.AddSeconds(1), first.GetProperty("last_delivery").GetDateTimeOffset());
        Assert.True(first.GetProperty("starttls").GetBoolean());
        Assert.False(first.GetProperty("verified").GetBoolean());
        Assert.False(first.GetProperty("requiretls").GetBoolean());
    }

    [Fact]
    public void Shutdown_writes_what_the_timer_has_not_yet_written()
    {
        var h = Open();
        h.Observed("example.org", true, true, true, T0);
        Assert.False(File.Exists(FilePath));
        h.Dispose();
        h.Dispose();

        using var again = Open();
        Assert.True(again.TryGet("example.org", out var r) && r.TakesRequireTls);
    }

    [Fact]
    public void Only_a_change_of_flags_or_a_minute_of_time_makes_a_write()
    {
        using var h = Open();
        h.Observed("example.org", true, true, true, T0);
        Assert.True(h.HasUnwrittenChanges);
        Assert.True(h.Flush());
        Assert.False(h.HasUnwrittenChanges);
        var written = File.GetLastWriteTimeUtc(FilePath);

        // Same flags, seconds later: kept in memory, not worth a write.
        h.Observed("example.org", true, true, true, T0.AddSeconds(30));
        Assert.False(h.HasUnwrittenChanges);
        Assert.True(h.TryGet("example.org", out var r) && r.LastDelivery == T0.AddSeconds(30));
        Assert.True(h.Flush());
        Assert.Equal(written, File.GetLastWriteTimeUtc(FilePath));

        h.Observed("example.org", true, true, true, T0.AddMinutes(2));
        Assert.True(h.HasUnwrittenChanges);
        Assert.True(h.Flush());
        h.Observed("example.org", true, true, false, T0.AddMinutes(2).AddSeconds(1));
        Assert.True(h.HasUnwrittenChanges);
    }

    [Theory]
    [InlineData("{\"version\":1,\"domains\":[{\"domain\":")]
    [InlineData("not json at all")]
    [InlineData("[]")]
    [InlineData("null")]
    [InlineData("{\"version\":2,\"domains\":[]}")]
    [InlineData("{\"version\":1,\"domains\":[{\"domain\":\"a.example\",\"starttls\":\"yes\"}]}")]
    public void An_unreadable_file_is_logged_and_the_history_starts_empty_then_replaces_it(string content)
    {
        File.WriteAllText(FilePath, content);
        using var h = Open();
        Assert.Equal(0, h.Count);
        var error = Assert.Single(_logs.Entries, e => e.Level == LogLevel.Error);
        Assert.Contains("domain TLS history unreadable, starting empty", error.Message, StringComparison.Ordinal);
        Assert.Contains(FilePath, error.Message, StringComparison.Ordinal);

        h.Observed("example.org", true, true, true, T0);
        Assert.True(h.Flush());
        using var again = Open();
        Assert.True(again.TryGet("example.org", out _));
    }

    [Fact]
    public void Entries_without_a_domain_are_skipped_and_the_file_rewritten_without_them()
    {
        File.WriteAllText(FilePath, """
            {"version":1,"future_member":{"x":1},"domains":[
              {"domain":"Good.Example","last_delivery":"2026-03-01T12:00:00+00:00","starttls":true,"verified":true,"requiretls":true,"new":0},
              {"domain":"","last_delivery":"2026-03-01T12:00:00+00:00"},
              {"last_delivery":"2026-03-01T12:00:00+00:00"},
              {"domain":"good.example","last_delivery":"2026-02-01T12:00:00+00:00"}
            ]}
            """);
        using var h = Open();
        Assert.Equal(1, h.Count);
        Assert.True(h.TryGet("good.example", out var r));
        Assert.Equal(new DomainTlsRecord("good.example", T0, true, true, true), r);
        Assert.True(h.HasUnwrittenChanges);
        Assert.DoesNotContain(_logs.Entries, e => e.Level == LogLevel.Error);
        Assert.True(h.Flush());
        Assert.Single(JsonDocument.Parse(File.ReadAllBytes(FilePath)).RootElement.GetProperty("domains").EnumerateArray());
    }

    [Fact]
    public void Beyond_the_cap_the_least_recently_delivered_domains_are_forgotten()
    {
        using (var h = Open(max: 10))
        {
            for (var i = 0; i < 10; i++)
            {
                h.Observed($"d{i}.example", true, true, true, T0.AddMinutes(i));
            }

            // d0 is refreshed: now the most recent.
            h.Observed("d0.example", true, true, true, T0.AddHours(1));
            Assert.Equal(10, h.Count);

            // The eleventh: down to nine tenths of the cap, the oldest first (d1, d2).
            h.Observed("new.example", true, false, false, T0.AddHours(2));
            Assert.Equal(9, h.Count);
            Assert.False(h.TryGet("d1.example", out _));
            Assert.False(h.TryGet("d2.example", out _));
            Assert.True(h.TryGet("d0.example", out _));
            Assert.True(h.TryGet("d3.example", out _));
            Assert.True(h.TryGet("new.example", out _));
        }

        // A file written with a larger cap keeps its newest domains.
        using var smaller = Open(max: 3);
        Assert.Equal(3, smaller.Count);
        Assert.Equal(["d0.example", "d9.example", "new.example"], smaller.All().Select(r => r.Domain));
    }

    [Fact]
    public void A_write_that_fails_is_logged_once_kept_and_done_when_the_directory_is_back()
    {
        var sub = Path.Combine(_dir, "gone");
        using var h = Open(path: DomainTlsHistory.PathIn(sub));
        h.Observed("example.org", true, true, true, T0);
        Assert.False(h.Flush());
        Assert.False(h.Flush());
        Assert.True(h.HasUnwrittenChanges);
        var failed = Assert.Single(_logs.Entries, e => e.Level == LogLevel.Error);
        Assert.Contains("domain TLS history not written", failed.Message, StringComparison.Ordinal);

        Directory.CreateDirectory(sub);
        Assert.True(h.Flush());
        Assert.False(h.HasUnwrittenChanges);
        Assert.Contains(_logs.Entries, e => e.Level == LogLevel.Information && e.Message.Contains("domain TLS history written again", StringComparison.Ordinal));
        Assert.True(File.Exists(DomainTlsHistory.PathIn(sub)));
    }

    [Fact]
    public void Pages_in_name_order_with_a_filter_and_a_cursor()
    {
        using var h = Open();
        foreach (var d in new[] { "e.example.net", "a.example.org", "c.example.net", "b.example.org", "d.example.org" })
        {
            h.Observed(d, true, false, false, T0);
        }

        var first = h.Page(limit: 2);
        Assert.Equal(["a.example.org", "b.example.org"], first.Entries.Select(r => r.Domain));
        Assert.Equal((5, "b.example.org"), (first.Total, first.Next));
        var second = h.Page(limit: 2, after: first.Next);
        Assert.Equal(["c.example.net", "d.example.org"], second.Entries.Select(r => r.Domain));
        var last = h.Page(limit: 2, after: second.Next);
        Assert.Equal(["e.example.net"], last.Entries.Select(r => r.Domain));
        Assert.Null(last.Next);

        var filtered = h.Page(contains: ".EXAMPLE.net");
        Assert.Equal(["c.example.net", "e.example.net"], filtered.Entries.Select(r => r.Domain));
        Assert.Equal(2, filtered.Total);
        Assert.Throws<ArgumentOutOfRangeException>(() => h.Page(limit: 0));
    }
}
