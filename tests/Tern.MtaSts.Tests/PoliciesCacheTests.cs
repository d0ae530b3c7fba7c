using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Tern.Dns;
using Tern.MtaSts.Tests.Support;

namespace Tern.MtaSts.Tests;

/// <summary>
/// The cache's rules over simulated days (RFC 8461 sections 4 and 5.1 and the rules): a fake
/// clock, TXT records scripted per step (<see cref="ScriptedDns"/>), policies fetched over real TLS
/// from <see cref="PolicyServer"/> on 127.0.0.1.
/// </summary>
public sealed class PoliciesCacheTests(TestPki pki) : IClassFixture<TestPki>, IAsyncLifetime
{
    private const string Domain = "example.test";
    private const string Enforce = "version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 604800\n";
    private const string Enforce2 = "version: STSv1\nmode: enforce\nmx: mx2.example.test\nmax_age: 604800\n";

    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2025, 3, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly ScriptedDns _dns = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("tern-mtasts-cache-").FullName;
    private PolicyServer _server = null!;

    public Task InitializeAsync()
    {
        _server = PolicyServer.Start(pki.Leaf("mta-sts." + Domain), PolicyServer.Reply.Policy(Enforce));
        _server.CertificateFor = pki.Leaf; // every test domain's policy host is here
        _dns.Txt(Domain, "v=STSv1; id=1");
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private MtaStsPolicies Policies(RecordingMetrics? metrics = null, bool persist = true) => new(
        _dns,
        new MtaStsOptions { Port = _server.Port, CaBundlePath = pki.BundlePath, CacheDirectory = persist ? _dir : null, FetchTimeout = TimeSpan.FromSeconds(10) },
        NullLoggerFactory.Instance,
        _clock,
        metrics);

    private void Serve(string body) => _server.Script = () => PolicyServer.Reply.Policy(body);

    private void Serve(int status) => _server.Script = () => new PolicyServer.Reply(status, "oops");

    [Fact]
    public async Task Unchanged_id_reuses_the_policy_without_fetching()
    {
        await using var policies = Policies();
        Assert.Equal(MtaStsSource.Fresh, (await policies.GetAsync(Domain)).Source);
        Serve(Enforce2); // a changed policy is not seen while the id stays

        for (var hour = 1; hour <= 11; hour++)
        {
            _clock.Advance(TimeSpan.FromHours(1));
            var lookup = await policies.GetAsync(Domain);
            Assert.Equal(MtaStsSource.Cached, lookup.Source);
            Assert.Equal(["mx.example.test"], lookup.Policy!.Mx);
        }
        await policies.WhenFetchesDone();
        Assert.Equal(1, _server.Requests);
        Assert.Equal(12, _dns.TxtLookups);
    }

    [Fact]
    public async Task A_cached_lookup_allocates_nothing()
    {
        await using var policies = Policies(persist: false);
        await policies.GetAsync(Domain);
        for (var i = 0; i < 100; i++)
            await policies.GetAsync(Domain); // warm-up (tiered JIT)

        // No assertions inside the measured loop: xunit's comparers allocate.
        var wrong = 0;
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            var pending = policies.GetAsync(Domain);
            if (!pending.IsCompletedSuccessfully) // the await below would leave this thread
                wrong++;
            var lookup = await pending;
            if (lookup.Source != MtaStsSource.Cached)
                wrong++;
        }
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, wrong);
        Assert.True(allocated < 1000, $"{allocated} bytes for 1000 cached lookups");
    }

    [Fact]
    public async Task A_new_id_fetches_the_new_policy()
    {
        await using var policies = Policies();
        await policies.GetAsync(Domain);
        _dns.Txt(Domain, "v=STSv1; id=2");
        Serve(Enforce2);
        _clock.Advance(TimeSpan.FromMinutes(1));

        var lookup = await policies.GetAsync(Domain);

        Assert.Equal(MtaStsSource.Fresh, lookup.Source);
        Assert.Equal("2", lookup.Policy!.Id);
        Assert.Equal(["mx2.example.test"], lookup.Policy.Mx);
        Assert.Equal(2, _server.Requests);
        Assert.Equal(MtaStsSource.Cached, (await policies.GetAsync(Domain)).Source);
    }

    [Fact]
    public async Task The_cached_policy_survives_outages()
    {
        await using var policies = Policies();
        var fetched = (await policies.GetAsync(Domain)).Policy;

        // TXT lookup fails.
        _clock.Advance(TimeSpan.FromDays(1));
        _dns.TxtStatus(Domain, DnsStatus.TemporaryFailure);
        var lookup = await policies.GetAsync(Domain);
        Assert.Equal(MtaStsSource.CachedAfterFailure, lookup.Source);
        Assert.Same(fetched, lookup.Policy);
        Assert.Contains("TXT lookup of _mta-sts.example.test failed", lookup.Error, StringComparison.Ordinal);

        // The record turns invalid.
        _dns.Txt(Domain, "v=STSv1; id=2", "v=STSv1; id=3");
        lookup = await policies.GetAsync(Domain);
        Assert.Equal(MtaStsSource.CachedAfterFailure, lookup.Source);
        Assert.Contains("2 MTA-STS TXT records", lookup.Error, StringComparison.Ordinal);

        // A new id, but the policy host is down: the old policy still applies, and within five
        // minutes nothing is fetched again.
        _dns.Txt(Domain, "v=STSv1; id=2");
        Serve(500);
        lookup = await policies.GetAsync(Domain);
        Assert.Equal(MtaStsSource.CachedAfterFailure, lookup.Source);
        Assert.Same(fetched, lookup.Policy);
        Assert.Contains("HTTP 500", lookup.Error, StringComparison.Ordinal);
        var requests = _server.Requests;
        _clock.Advance(TimeSpan.FromMinutes(4));
        lookup = await policies.GetAsync(Domain);
        Assert.Equal(MtaStsSource.CachedAfterFailure, lookup.Source);
        Assert.Contains("HTTP 500", lookup.Error, StringComparison.Ordinal);
        Assert.Equal(requests, _server.Requests);

        // After the backoff, the host is back.
        _clock.Advance(TimeSpan.FromMinutes(1));
        Serve(Enforce2);
        lookup = await policies.GetAsync(Domain);
        Assert.Equal(MtaStsSource.Fresh, lookup.Source);
        Assert.Equal("2", lookup.Policy!.Id);
    }

    [Fact]
    public async Task A_failed_first_fetch_backs_off_five_minutes_then_retries()
    {
        Serve(404);
        var metrics = new RecordingMetrics();
        await using var policies = Policies(metrics);

        var first = await policies.GetAsync(Domain);
        Assert.Equal(MtaStsSource.None, first.Source);
        Assert.Null(first.Policy);
        Assert.Contains("HTTP 404", first.Error, StringComparison.Ordinal);

        Serve(Enforce);
        _clock.Advance(TimeSpan.FromSeconds(299));
        var during = await policies.GetAsync(Domain);
        Assert.Equal(MtaStsSource.Backoff, during.Source);
        Assert.Null(during.Policy);
        Assert.Equal(first.Error, during.Error);
        Assert.Equal(1, _server.Requests);

        _clock.Advance(TimeSpan.FromSeconds(1));
        var after = await policies.GetAsync(Domain);
        Assert.Equal(MtaStsSource.Fresh, after.Source);
        Assert.Equal(2, _server.Requests);
        Assert.Equal(1, metrics.Value("tern_mtasts_fetches_total", "http_error"));
        Assert.Equal(1, metrics.Value("tern_mtasts_fetches_total", "ok"));
    }

    [Fact]
    public async Task A_policy_older_than_12_hours_is_refreshed_in_the_background()
    {
        await using var policies = Policies();
        var first = (await policies.GetAsync(Domain)).Policy!;
        var fetched = Assert.Single(policies.Entries()).Fetched;
        Serve(Enforce2); // same id, changed content: only a refresh sees it

        _clock.Advance(TimeSpan.FromHours(11));
        Assert.Equal(MtaStsSource.Cached, (await policies.GetAsync(Domain)).Source);
        await policies.WhenFetchesDone();
        Assert.Equal(1, _server.Requests);

        // 12 h plus at most an hour of jitter.
        _clock.Advance(TimeSpan.FromHours(2));
        var lookup = await policies.GetAsync(Domain);
        Assert.Equal(MtaStsSource.Cached, lookup.Source); // the delivery does not wait
        Assert.Same(first, lookup.Policy);
        await policies.WhenFetchesDone();
        Assert.Equal(2, _server.Requests);

        var entry = Assert.Single(policies.Entries());
        Assert.Equal(_clock.GetUtcNow(), entry.Fetched);
        Assert.True(entry.Fetched > fetched);
        Assert.InRange(entry.RefreshDue!.Value - entry.Fetched!.Value, TimeSpan.FromHours(12), TimeSpan.FromHours(13));
        Assert.Equal(["mx2.example.test"], (await policies.GetAsync(Domain)).Policy!.Mx);
    }

    [Fact]
    public async Task A_failed_refresh_keeps_the_policy_and_waits_five_minutes()
    {
        await using var policies = Policies();
        var first = (await policies.GetAsync(Domain)).Policy;
        Serve(500);
        _clock.Advance(TimeSpan.FromHours(14));
        Assert.Equal(MtaStsSource.Cached, (await policies.GetAsync(Domain)).Source);
        await policies.WhenFetchesDone();
        Assert.Equal(2, _server.Requests);

        var lookup = await policies.GetAsync(Domain);
        Assert.Equal(MtaStsSource.Cached, lookup.Source);
        Assert.Same(first, lookup.Policy);
        await policies.WhenFetchesDone();
        Assert.Equal(2, _server.Requests); // no new refresh within the backoff

        _clock.Advance(TimeSpan.FromMinutes(5));
        Serve(Enforce);
        await policies.GetAsync(Domain);
        await policies.WhenFetchesDone();
        Assert.Equal(3, _server.Requests);
        Assert.Null(Assert.Single(policies.Entries()).Failed);
    }

    [Fact]
    public async Task A_short_max_age_is_refreshed_before_it_expires()
    {
        Serve("version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 3600\n");
        await using var policies = Policies();
        await policies.GetAsync(Domain);
        var entry = Assert.Single(policies.Entries());
        Assert.InRange(entry.RefreshDue!.Value - entry.Fetched!.Value, TimeSpan.FromMinutes(30), TimeSpan.FromMinutes(32.5));

        _clock.Advance(TimeSpan.FromMinutes(40));
        Assert.Equal(MtaStsSource.Cached, (await policies.GetAsync(Domain)).Source);
        await policies.WhenFetchesDone();
        Assert.Equal(2, _server.Requests);
    }

    [Fact]
    public async Task An_expired_policy_is_not_applied_when_the_fetch_fails()
    {
        Serve("version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 600\n");
        await using var policies = Policies();
        await policies.GetAsync(Domain);
        Serve(500);
        _clock.Advance(TimeSpan.FromMinutes(11));

        var lookup = await policies.GetAsync(Domain);

        Assert.Equal(MtaStsSource.None, lookup.Source);
        Assert.Null(lookup.Policy);
        Assert.Contains("HTTP 500", lookup.Error, StringComparison.Ordinal);
        Assert.Null(Assert.Single(policies.Entries()).Policy);
    }

    [Fact]
    public async Task Entries_unused_for_180_days_are_removed()
    {
        Serve("version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 31557600\n");
        _dns.Txt("used.test", "v=STSv1; id=1");
        await using var policies = Policies();
        await policies.GetAsync(Domain);
        await policies.GetAsync("used.test");

        _clock.Advance(TimeSpan.FromDays(100));
        await policies.GetAsync("used.test");
        await policies.WhenFetchesDone();
        Assert.Equal(2, policies.Count);

        _clock.Advance(TimeSpan.FromDays(80));
        Assert.Equal(["used.test"], policies.Entries().Select(e => e.Domain));
        await policies.FlushAsync();
        Assert.Equal(["used.test"], MtaStsPolicies.ReadCache(_dir).Select(e => e.Domain));
    }

    [Fact]
    public async Task A_mode_none_policy_is_removed_when_its_record_is_gone()
    {
        Serve("version: STSv1\nmode: none\nmax_age: 604800\n");
        await using var policies = Policies();
        var lookup = await policies.GetAsync(Domain);
        Assert.Equal(MtaStsMode.None, lookup.Policy!.Mode);
        Assert.False(lookup.Enforced);

        _clock.Advance(TimeSpan.FromHours(1));
        _dns.TxtStatus(Domain, DnsStatus.NxDomain);
        lookup = await policies.GetAsync(Domain);

        Assert.Equal(MtaStsSource.None, lookup.Source);
        Assert.Null(lookup.Policy);
        Assert.Equal(0, policies.Count);
    }

    [Theory]
    [InlineData(DnsStatus.NxDomain)]
    [InlineData(DnsStatus.NoData)]
    [InlineData(DnsStatus.Ok)] // records, none of them MTA-STS
    public async Task An_enforce_policy_outlives_its_record_until_it_expires(DnsStatus gone)
    {
        Serve("version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 86400\n");
        await using var policies = Policies();
        var policy = (await policies.GetAsync(Domain)).Policy;
        if (gone == DnsStatus.Ok)
            _dns.Txt(Domain, "v=spf1 -all");
        else
            _dns.TxtStatus(Domain, gone);

        _clock.Advance(TimeSpan.FromHours(23));
        var lookup = await policies.GetAsync(Domain);
        Assert.Equal(MtaStsSource.CachedAfterFailure, lookup.Source);
        Assert.Same(policy, lookup.Policy);
        Assert.Contains("no MTA-STS TXT record", lookup.Error, StringComparison.Ordinal);

        // Past max_age with no record: dropped.
        _clock.Advance(TimeSpan.FromHours(1));
        lookup = await policies.GetAsync(Domain);
        Assert.Equal(MtaStsSource.None, lookup.Source);
        Assert.Null(lookup.Policy);
        Assert.Equal(0, policies.Count);
        Assert.Equal(1, _server.Requests);
    }

    [Fact]
    public async Task The_cache_survives_a_restart()
    {
        await using (var policies = Policies())
        {
            await policies.GetAsync(Domain);
            _dns.Txt("failed.test", "v=STSv1; id=9");
            Serve(500);
            await policies.GetAsync("failed.test");
        }
        var path = Path.Combine(_dir, MtaStsPolicies.CacheFileName);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));

        Serve(Enforce2);
        _clock.Advance(TimeSpan.FromMinutes(1));
        await using (var restarted = Policies())
        {
            Assert.Equal(2, restarted.Count);
            var lookup = await restarted.GetAsync(Domain);
            Assert.Equal(MtaStsSource.Cached, lookup.Source);
            Assert.Equal(["mx.example.test"], lookup.Policy!.Mx);
            Assert.Equal("1", lookup.Policy.Id);
            // The backoff was saved too.
            Assert.Equal(MtaStsSource.Backoff, (await restarted.GetAsync("failed.test")).Source);
            Assert.Equal(2, _server.Requests);
        }

        var listed = MtaStsPolicies.ReadCache(_dir);
        Assert.Equal(["example.test", "failed.test"], listed.Select(e => e.Domain));
        Assert.Equal(MtaStsMode.Enforce, listed[0].Policy!.Mode);
        Assert.Equal(_clock.GetUtcNow(), listed[0].LastUsed);
        Assert.Contains("HTTP 500", listed[1].Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("this is not json")]
    [InlineData("")]
    [InlineData("{\"version\": 99, \"entries\": []}")]
    [InlineData("[1, 2, 3]")]
    [InlineData("{\"version\": 1, \"entries\": [")]
    public async Task A_corrupt_cache_file_is_ignored_and_replaced(string content)
    {
        var path = Path.Combine(_dir, MtaStsPolicies.CacheFileName);
        await File.WriteAllTextAsync(path, content);

        await using (var policies = Policies())
        {
            Assert.Equal(0, policies.Count);
            Assert.Equal(MtaStsSource.Fresh, (await policies.GetAsync(Domain)).Source);
        }
        Assert.Single(MtaStsPolicies.ReadCache(_dir));
        Assert.Throws<InvalidDataException>(() =>
        {
            File.WriteAllText(path, content);
            return MtaStsPolicies.ReadCache(_dir);
        });
    }

    [Fact]
    public async Task Bad_entries_are_skipped_and_the_good_ones_kept()
    {
        var policy = System.Text.Json.JsonSerializer.Serialize(Enforce);
        var now = "\"2025-03-01T12:00:00+00:00\"";
        await File.WriteAllTextAsync(Path.Combine(_dir, MtaStsPolicies.CacheFileName), $$"""
            {
              "version": 1,
              "entries": [
                { "domain": "example.test", "id": "1", "policy": {{policy}}, "fetched": {{now}}, "refresh_at": {{now}}, "last_used": {{now}} },
                { "domain": "badpolicy.test", "id": "1", "policy": "version: STSv1\nmode: sometimes\n", "fetched": {{now}}, "refresh_at": {{now}}, "last_used": {{now}} },
                { "domain": "badid.test", "id": "a-b", "policy": {{policy}}, "fetched": {{now}}, "refresh_at": {{now}}, "last_used": {{now}} },
                { "domain": "Upper.Test", "id": "1", "policy": {{policy}}, "fetched": {{now}}, "refresh_at": {{now}}, "last_used": {{now}} },
                { "domain": "nothing.test", "last_used": {{now}} },
                null
              ]
            }
            """);

        await using var policies = Policies();

        Assert.Equal(["example.test"], policies.Entries().Select(e => e.Domain));
        Assert.Equal(MtaStsSource.Cached, (await policies.GetAsync(Domain)).Source);
        Assert.Equal(0, _server.Requests);
    }

    [Fact]
    public async Task An_unwritable_cache_directory_does_not_stop_lookups()
    {
        var blocked = Path.Combine(_dir, "file-not-dir");
        await File.WriteAllTextAsync(blocked, "");
        await using var policies = new MtaStsPolicies(_dns,
            new MtaStsOptions { Port = _server.Port, CaBundlePath = pki.BundlePath, CacheDirectory = blocked },
            NullLoggerFactory.Instance, _clock);

        Assert.Equal(MtaStsSource.Fresh, (await policies.GetAsync(Domain)).Source);
        await policies.FlushAsync();
        Assert.Equal(MtaStsSource.Cached, (await policies.GetAsync(Domain)).Source);
    }

    [Fact]
    public async Task Without_a_cache_directory_nothing_is_written()
    {
        await using (var policies = Policies(persist: false))
        {
            Assert.Null(policies.CachePath);
            await policies.GetAsync(Domain);
        }
        Assert.Empty(Directory.GetFileSystemEntries(_dir));
    }

    [Fact]
    public async Task The_policies_gauge_counts_by_mode()
    {
        var metrics = new RecordingMetrics();
        await using var policies = Policies(metrics);
        await policies.GetAsync(Domain);
        _dns.Txt("none.test", "v=STSv1; id=1");
        Serve("version: STSv1\nmode: none\nmax_age: 60\n");
        await policies.GetAsync("none.test");
        _dns.Txt("testing.test", "v=STSv1; id=1");
        Serve("version: STSv1\nmode: testing\nmx: mx.testing.test\nmax_age: 60\n");
        await policies.GetAsync("testing.test");

        metrics.Collect();
        Assert.Equal(1, metrics.Value("tern_mtasts_policies", "enforce"));
        Assert.Equal(1, metrics.Value("tern_mtasts_policies", "testing"));
        Assert.Equal(1, metrics.Value("tern_mtasts_policies", "none"));
        Assert.Equal(3, metrics.Value("tern_mtasts_fetches_total", "ok"));
    }

    [Fact]
    public async Task Disposing_cancels_a_running_fetch()
    {
        _server.Script = () => new PolicyServer.Reply(200, Hang: true);
        var policies = Policies();
        var lookup = policies.GetAsync(Domain).AsTask();
        while (_server.Requests == 0)
            await Task.Delay(10);

        await policies.DisposeAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => lookup);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => policies.GetAsync(Domain).AsTask());
    }
}
