using Microsoft.Extensions.Logging.Abstractions;
using Tern.MtaSts.Tests.Support;

namespace Tern.MtaSts.Tests;

/// <summary>
/// <see cref="MtaStsPolicies"/> with real parts only: knot answers the TXT records and the policy
/// host's address, the policy comes over TLS from <see cref="PolicyServer"/>.
/// </summary>
[Collection(NetworkCollection.Name)]
public sealed class PoliciesNetworkTests(MtaStsDns dns)
{
    private const string Body = FetcherTests.Body;

    private MtaStsPolicies Policies(int port, RecordingMetrics? metrics = null) => new(
        dns.Resolver(),
        new MtaStsOptions { Port = port, CaBundlePath = dns.Pki.BundlePath, FetchTimeout = TimeSpan.FromSeconds(10) },
        NullLoggerFactory.Instance,
        metrics: metrics);

    [Fact]
    public async Task First_lookup_fetches_the_next_one_uses_the_cache()
    {
        await using var server = PolicyServer.Start(dns.Pki.Leaf(FetcherTests.Host), PolicyServer.Reply.Policy(Body));
        var metrics = new RecordingMetrics();
        await using var policies = Policies(server.Port, metrics);

        var first = await policies.GetAsync("OK.mtasts.test.");
        Assert.Equal(MtaStsSource.Fresh, first.Source);
        Assert.Null(first.Error);
        Assert.True(first.Enforced);
        Assert.Equal("20240101T000000", first.Policy!.Id);
        Assert.True(first.Policy.MatchesMx("mx1.ok.mtasts.test"));
        Assert.True(first.Policy.MatchesMx("a.mx.mtasts.test"));
        Assert.False(first.Policy.MatchesMx("evil.example"));

        var second = await policies.GetAsync("ok.mtasts.test");
        Assert.Equal(MtaStsSource.Cached, second.Source);
        Assert.Same(first.Policy, second.Policy);
        Assert.Equal(1, server.Requests);

        Assert.Equal(1, metrics.Value("tern_mtasts_fetches_total", "ok"));
        Assert.Equal(0, metrics.Value("tern_mtasts_fetches_total", "tls_error"));
        Assert.True(metrics.Has("tern_mtasts_fetches_total", "dns_error"));
        Assert.Equal(1, metrics.Value("tern_mtasts_lookups_total", "fresh"));
        Assert.Equal(1, metrics.Value("tern_mtasts_lookups_total", "cached"));
        metrics.Collect();
        Assert.Equal(1, metrics.Value("tern_mtasts_policies", "enforce"));
        Assert.Equal(0, metrics.Value("tern_mtasts_policies", "testing"));

        var entry = Assert.Single(policies.Entries());
        Assert.Equal("ok.mtasts.test", entry.Domain);
        Assert.Same(first.Policy, entry.Policy);
        Assert.Equal(entry.Fetched + TimeSpan.FromSeconds(604800), entry.Expires);
    }

    [Fact]
    public async Task Concurrent_lookups_of_a_domain_share_one_fetch()
    {
        await using var server = PolicyServer.Start(dns.Pki.Leaf(FetcherTests.Host), new PolicyServer.Reply(200, Body, Delay: TimeSpan.FromMilliseconds(300)));
        await using var policies = Policies(server.Port);

        var lookups = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => policies.GetAsync("ok.mtasts.test").AsTask()));

        Assert.All(lookups, l => Assert.Equal(MtaStsSource.Fresh, l.Source));
        Assert.Single(lookups.Select(l => l.Policy).Distinct());
        Assert.Equal(1, server.Requests);
    }

    [Fact]
    public async Task A_record_in_two_strings_is_read_joined()
    {
        await using var server = PolicyServer.Start(dns.Pki.Leaf("mta-sts.split.mtasts.test"), PolicyServer.Reply.Policy(Body));
        await using var policies = Policies(server.Port);
        var lookup = await policies.GetAsync("split.mtasts.test");
        Assert.Equal(MtaStsSource.Fresh, lookup.Source);
        Assert.Equal("split1", lookup.Policy!.Id);
    }

    [Theory]
    [InlineData("two.mtasts.test", "2 MTA-STS TXT records")]
    [InlineData("bad.mtasts.test", "id is not 1 to 32 letters and digits")]
    [InlineData("other.mtasts.test", null)]
    [InlineData("nothere.mtasts.test", null)]
    [InlineData("[192.0.2.1]", null)]
    [InlineData("bad domain", "invalid character")]
    public async Task Without_exactly_one_valid_record_there_is_no_policy_and_nothing_is_fetched(string domain, string? error)
    {
        await using var server = PolicyServer.Start(dns.Pki.Leaf(FetcherTests.Host), PolicyServer.Reply.Policy(Body));
        await using var policies = Policies(server.Port);

        var lookup = await policies.GetAsync(domain);

        Assert.Equal(MtaStsSource.None, lookup.Source);
        Assert.Null(lookup.Policy);
        Assert.False(lookup.Enforced);
        if (error is null)
            Assert.Null(lookup.Error);
        else
            Assert.Contains(error, lookup.Error, StringComparison.Ordinal);
        Assert.Equal(0, server.Connections);
        Assert.Equal(0, policies.Count);
    }

    [Fact]
    public async Task A_failed_first_fetch_gives_no_policy_then_backoff()
    {
        await using var server = PolicyServer.Start(dns.Pki.Untrusted(FetcherTests.Host), PolicyServer.Reply.Policy(Body));
        var metrics = new RecordingMetrics();
        await using var policies = Policies(server.Port, metrics);

        var first = await policies.GetAsync("ok.mtasts.test");
        Assert.Equal(MtaStsSource.None, first.Source);
        Assert.Contains("certificate not valid", first.Error, StringComparison.Ordinal);

        var second = await policies.GetAsync("ok.mtasts.test");
        Assert.Equal(MtaStsSource.Backoff, second.Source);
        Assert.Equal(first.Error, second.Error);
        Assert.Equal(1, server.Connections);
        Assert.Equal(1, metrics.Value("tern_mtasts_fetches_total", "tls_error"));
        Assert.Equal(1, metrics.Value("tern_mtasts_lookups_total", "backoff"));

        var entry = Assert.Single(policies.Entries());
        Assert.Null(entry.Policy);
        Assert.NotNull(entry.Failed);
    }
}
