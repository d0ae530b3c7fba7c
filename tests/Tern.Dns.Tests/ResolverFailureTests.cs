using System.Diagnostics;
using System.Net;

namespace Tern.Dns.Tests;

/// <summary>Failure classes, fail-over, caching and sharing, against a scripted server (and unbound behind it).</summary>
[Collection(DnsServersCollection.Name)]
public sealed class ResolverFailureTests(DnsServers servers)
{
    private readonly ManualTimeProvider _clock = new();

    private DnsResolver Resolver(DnsOptions options, params IPEndPoint[] endpoints) =>
        new(options with { Servers = endpoints }, new ListLoggerFactory(), _clock);

    // Long enough for a loaded machine; only the tests of silence wait for it.
    private static DnsOptions Fast => new() { Timeout = TimeSpan.FromSeconds(1), Attempts = 1 };

    [Fact]
    public async Task Timeout_is_a_temporary_failure()
    {
        using var silent = FakeDnsServer.Silent();
        var clock = Stopwatch.StartNew();
        var a = await Resolver(Fast with { Timeout = TimeSpan.FromMilliseconds(300), Attempts = 2 }, silent.EndPoint).LookupAAsync("example.test");
        Assert.Equal(DnsStatus.TemporaryFailure, a.Status);
        Assert.Contains("timeout", a.Error);
        Assert.Equal(2, silent.Queries);                      // attempts per server
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(5));
    }

    [Theory]
    [InlineData(1, "FORMERR")]
    [InlineData(4, "NOTIMP")]
    [InlineData(9, "RCODE 9")]
    public async Task Other_rcodes_are_permanent_failures(int rcode, string text)
    {
        using var server = FakeDnsServer.Rcode(rcode);
        var a = await Resolver(Fast, server.EndPoint).LookupAAsync("example.test");
        Assert.Equal(DnsStatus.PermanentFailure, a.Status);
        Assert.Contains(text, a.Error);
    }

    [Theory]
    [InlineData(2, "SERVFAIL")]
    [InlineData(5, "REFUSED")]
    public async Task Servfail_and_refused_are_temporary(int rcode, string text)
    {
        using var server = FakeDnsServer.Rcode(rcode);
        var a = await Resolver(Fast, server.EndPoint).LookupAAsync("example.test");
        Assert.Equal(DnsStatus.TemporaryFailure, a.Status);
        Assert.Contains(text, a.Error);
    }

    [Fact]
    public async Task A_dead_first_server_falls_over_to_the_next()
    {
        using var silent = FakeDnsServer.Silent();
        var mx = await Resolver(Fast, silent.EndPoint, servers.Unbound).LookupMxAsync("example.test");
        Assert.Equal(DnsStatus.Ok, mx.Status);
        Assert.True(mx.Authentic);
        Assert.Equal(1, silent.Queries);
    }

    [Fact]
    public async Task Servfail_falls_over_to_the_next_server_but_nxdomain_does_not()
    {
        using var servfail = FakeDnsServer.Rcode(2);
        Assert.Equal(DnsStatus.Ok, (await Resolver(Fast, servfail.EndPoint, servers.Unbound).LookupMxAsync("example.test")).Status);
        using var nxdomain = FakeDnsServer.Rcode(3);
        using var second = FakeDnsServer.Rcode(2);
        var a = await Resolver(Fast, nxdomain.EndPoint, second.EndPoint).LookupAAsync("example.test");
        Assert.Equal(DnsStatus.NxDomain, a.Status);
        Assert.Equal(0, second.Queries);
    }

    [Fact]
    public async Task Answers_are_cached_for_their_ttl()
    {
        using var server = new FakeDnsServer((_, _) => new FakeAnswer { Answers = [FakeRecord.A("192.0.2.1", 60)] });
        var dns = Resolver(Fast, server.EndPoint);
        var first = await dns.LookupAAsync("a.example");
        Assert.Equal(TimeSpan.FromSeconds(60), first.Ttl);
        await dns.LookupAAsync("A.EXAMPLE.");
        Assert.Equal(1, server.Queries);
        _clock.Advance(TimeSpan.FromSeconds(59));
        await dns.LookupAAsync("a.example");
        Assert.Equal(1, server.Queries);
        _clock.Advance(TimeSpan.FromSeconds(1));
        await dns.LookupAAsync("a.example");
        Assert.Equal(2, server.Queries);
        await dns.LookupAaaaAsync("a.example");             // another type, another entry
        Assert.Equal(3, server.Queries);
    }

    [Fact]
    public async Task Ttls_are_clamped()
    {
        using var server = new FakeDnsServer((name, _) => new FakeAnswer { Answers = [FakeRecord.A("192.0.2.1", name == "short.example" ? 1u : 604800u)] });
        var dns = Resolver(Fast with { MinTtl = TimeSpan.FromSeconds(30), MaxTtl = TimeSpan.FromHours(1) }, server.EndPoint);
        Assert.Equal(TimeSpan.FromSeconds(30), (await dns.LookupAAsync("short.example")).Ttl);
        Assert.Equal(TimeSpan.FromHours(1), (await dns.LookupAAsync("long.example")).Ttl);
        _clock.Advance(TimeSpan.FromSeconds(29));
        await dns.LookupAAsync("short.example");
        Assert.Equal(2, server.Queries);
        _clock.Advance(TimeSpan.FromHours(1));
        await dns.LookupAAsync("long.example");
        Assert.Equal(3, server.Queries);
    }

    [Fact]
    public async Task Negative_answers_are_cached_per_rfc_2308()
    {
        using var server = new FakeDnsServer((name, _) => name switch
        {
            "soa.example" => new FakeAnswer { Rcode = 3, Soa = (300, 30) },
            "long.example" => new FakeAnswer { Soa = (86400, 86400) },
            _ => new FakeAnswer { Rcode = 3 },
        });
        var dns = Resolver(Fast with { DefaultNegativeTtl = TimeSpan.FromSeconds(15), MaxNegativeTtl = TimeSpan.FromMinutes(10) }, server.EndPoint);
        var soa = await dns.LookupAAsync("soa.example");
        Assert.Equal(DnsStatus.NxDomain, soa.Status);
        Assert.Equal(TimeSpan.FromSeconds(30), soa.Ttl);            // min(SOA TTL, MINIMUM)
        var noSoa = await dns.LookupAAsync("nosoa.example");
        Assert.Equal(TimeSpan.FromSeconds(15), noSoa.Ttl);          // no SOA: the bounded default
        var noData = await dns.LookupAAsync("long.example");
        Assert.Equal(DnsStatus.NoData, noData.Status);
        Assert.Equal(TimeSpan.FromMinutes(10), noData.Ttl);         // capped
        Assert.Equal(3, server.Queries);
        _clock.Advance(TimeSpan.FromSeconds(29));
        await dns.LookupAAsync("soa.example");
        Assert.Equal(3, server.Queries);
        _clock.Advance(TimeSpan.FromSeconds(1));
        await dns.LookupAAsync("soa.example");
        Assert.Equal(4, server.Queries);
    }

    [Fact]
    public async Task Failures_are_cached_briefly()
    {
        using var server = FakeDnsServer.Rcode(2);
        var dns = Resolver(Fast with { FailureTtl = TimeSpan.FromSeconds(30) }, server.EndPoint);
        Assert.Equal(TimeSpan.FromSeconds(30), (await dns.LookupAAsync("a.example")).Ttl);
        await dns.LookupAAsync("a.example");
        Assert.Equal(1, server.Queries);
        _clock.Advance(TimeSpan.FromSeconds(30));
        await dns.LookupAAsync("a.example");
        Assert.Equal(2, server.Queries);

        var uncached = Resolver(Fast with { FailureTtl = TimeSpan.Zero }, server.EndPoint);
        await uncached.LookupAAsync("b.example");
        await uncached.LookupAAsync("b.example");
        Assert.Equal(4, server.Queries);
        // RFC 2308 section 7: never more than five minutes.
        Assert.Equal(TimeSpan.FromMinutes(5), (await Resolver(Fast with { FailureTtl = TimeSpan.FromHours(1) }, server.EndPoint).LookupAAsync("c.example")).Ttl);
    }

    [Fact]
    public async Task Concurrent_lookups_of_one_name_share_a_query()
    {
        using var server = new FakeDnsServer((_, _) => new FakeAnswer { Answers = [FakeRecord.A("192.0.2.1", 60)] }) { Delay = TimeSpan.FromMilliseconds(200) };
        var dns = Resolver(Fast with { Timeout = TimeSpan.FromSeconds(2) }, server.EndPoint);
        var answers = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => dns.LookupAAsync("shared.example").AsTask()));
        Assert.Equal(1, server.Queries);
        Assert.All(answers, a => Assert.Same(answers[0], a));
    }

    [Fact]
    public async Task A_cancelled_caller_stops_waiting_without_spoiling_the_query_for_others()
    {
        using var server = new FakeDnsServer((_, _) => new FakeAnswer { Answers = [FakeRecord.A("192.0.2.1", 60)] }) { Delay = TimeSpan.FromSeconds(1) };
        var dns = Resolver(Fast with { Timeout = TimeSpan.FromSeconds(3) }, server.EndPoint);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        var patient = dns.LookupAAsync("c.example").AsTask();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await dns.LookupAAsync("c.example", cancel.Token));
        Assert.Equal(DnsStatus.Ok, (await patient).Status);
        Assert.Equal(1, server.Queries);
    }

    [Fact]
    public async Task Records_of_other_names_in_the_answer_are_ignored()
    {
        // A server that answers with an A record for the wrong owner (here: a CNAME-less record of another type).
        using var server = new FakeDnsServer((_, _) => new FakeAnswer { Answers = [new FakeRecord(28, 60, IPAddress.Parse("2001:db8::1").GetAddressBytes())] });
        // Not Fast's 1 s: at the start of the whole suite a loaded machine answered later than that (seen in CI).
        var a = await Resolver(Fast with { Timeout = TimeSpan.FromSeconds(5) }, server.EndPoint).LookupAAsync("x.example");
        Assert.Equal(DnsStatus.NoData, a.Status);
    }

    [Fact]
    public async Task The_ad_bit_is_passed_on_from_a_trusted_server()
    {
        using var server = new FakeDnsServer((_, _) => new FakeAnswer { Authentic = true, Answers = [FakeRecord.A("192.0.2.1", 60)] });
        Assert.True((await Resolver(Fast, server.EndPoint).LookupAAsync("x.example")).Authentic);
        using var plain = new FakeDnsServer((_, _) => new FakeAnswer { Answers = [FakeRecord.A("192.0.2.1", 60)] });
        Assert.False((await Resolver(Fast, plain.EndPoint).LookupAAsync("x.example")).Authentic);
    }
}
