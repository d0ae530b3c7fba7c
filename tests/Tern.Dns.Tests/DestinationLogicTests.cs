using System.Net;
using Microsoft.Extensions.Logging;

namespace Tern.Dns.Tests;

/// <summary>Destination cases easier to script than to put in a zone.</summary>
public sealed class DestinationLogicTests
{
    private readonly FakeResolver _dns = new();
    private readonly ListLoggerFactory _logs = new();

    private DestinationResolver Resolver(DestinationOptions? options = null) => new(_dns, options ?? new DestinationOptions(), _logs, new Random(7));

    private static DnsAnswer<MxRecord> Mx(string name, params MxRecord[] records) => FakeResolver.Answer(name, DnsStatus.Ok, true, records);

    [Fact]
    public async Task Null_mx_among_other_records_is_ignored()
    {
        _dns.Mx["d.example"] = Mx("d.example", new MxRecord(0, ""), new MxRecord(10, "mx.d.example"));
        var d = await Resolver().ResolveAsync("d.example");
        Assert.Equal(DestinationStatus.Ok, d.Status);
        Assert.Equal("mx.d.example", Assert.Single(d.Hosts).Name);
        Assert.Contains(_logs.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("null mx"));
    }

    [Fact]
    public async Task Null_mx_with_another_preference_is_still_null_mx()
    {
        _dns.Mx["d.example"] = Mx("d.example", new MxRecord(10, ""));
        Assert.Equal("5.1.10", (await Resolver().ResolveAsync("d.example")).EnhancedCode);
    }

    [Fact]
    public async Task Invalid_host_names_are_skipped_and_duplicates_merged()
    {
        _dns.Mx["d.example"] = Mx("d.example",
            new MxRecord(5, "bad host.d.example"), new MxRecord(20, "mx.d.example"), new MxRecord(10, "mx.d.example"), new MxRecord(30, "-x.d.example"));
        var d = await Resolver().ResolveAsync("d.example");
        var host = Assert.Single(d.Hosts);
        Assert.Equal(("mx.d.example", (ushort)10), (host.Name, host.Preference));
        Assert.Equal(2, _logs.Entries.Count(e => e.Level == LogLevel.Warning && e.Message.Contains("invalid mx")));
    }

    [Fact]
    public async Task Only_invalid_host_names_is_a_permanent_failure()
    {
        _dns.Mx["d.example"] = Mx("d.example", new MxRecord(10, "bad host"));
        var d = await Resolver().ResolveAsync("d.example");
        Assert.Equal(DestinationStatus.PermanentFailure, d.Status);
        Assert.Equal("5.4.4", d.EnhancedCode);
    }

    [Theory]
    [InlineData(DnsStatus.TemporaryFailure)]
    [InlineData(DnsStatus.PermanentFailure)]
    public async Task Resolver_failures_are_temporary(DnsStatus status)
    {
        _dns.Mx["d.example"] = FakeResolver.Answer<MxRecord>("d.example", status);
        var d = await Resolver().ResolveAsync("d.example");
        Assert.Equal(DestinationStatus.TemporaryFailure, d.Status);
        Assert.Equal("4.4.3", d.EnhancedCode);
    }

    [Fact]
    public async Task Internationalized_domains_are_looked_up_as_a_labels()
    {
        _dns.Mx["xn--bcher-kva.example"] = Mx("xn--bcher-kva.example", new MxRecord(10, "mx.example"));
        var d = await Resolver().ResolveAsync("Bücher.example");
        Assert.Equal("xn--bcher-kva.example", d.Domain);
        Assert.Equal("mx.example", Assert.Single(d.Hosts).Name);
    }

    [Fact]
    public async Task One_family_failing_still_gives_the_other()
    {
        _dns.A["mx.example"] = FakeResolver.Answer("mx.example", DnsStatus.Ok, true, IPAddress.Parse("192.0.2.1"));
        _dns.Aaaa["mx.example"] = FakeResolver.Answer<IPAddress>("mx.example", DnsStatus.TemporaryFailure);
        var addresses = await Resolver().ResolveHostAsync(new DestinationHost { Name = "mx.example", MxAuthentic = true });
        Assert.Equal(DestinationStatus.Ok, addresses.Status);
        Assert.Equal([IPAddress.Parse("192.0.2.1")], addresses.Addresses);
        Assert.False(addresses.Authentic);        // an unanswered AAAA query leaves the chain unproven
        Assert.NotNull(addresses.Error);
    }

    [Fact]
    public async Task Both_families_failing_is_temporary()
    {
        _dns.A["mx.example"] = FakeResolver.Answer<IPAddress>("mx.example", DnsStatus.TemporaryFailure);
        _dns.Aaaa["mx.example"] = FakeResolver.Answer<IPAddress>("mx.example", DnsStatus.NoData, true);
        var addresses = await Resolver().ResolveHostAsync(new DestinationHost { Name = "mx.example" });
        Assert.Equal(DestinationStatus.TemporaryFailure, addresses.Status);
        Assert.Equal("4.4.3", addresses.EnhancedCode);
    }

    [Fact]
    public async Task Authentic_needs_the_mx_and_both_address_answers()
    {
        _dns.A["mx.example"] = FakeResolver.Answer("mx.example", DnsStatus.Ok, true, IPAddress.Parse("192.0.2.1"));
        _dns.Aaaa["mx.example"] = FakeResolver.Answer<IPAddress>("mx.example", DnsStatus.NoData, true);
        var resolver = Resolver();
        Assert.True((await resolver.ResolveHostAsync(new DestinationHost { Name = "mx.example", MxAuthentic = true })).Authentic);
        Assert.False((await resolver.ResolveHostAsync(new DestinationHost { Name = "mx.example", MxAuthentic = false })).Authentic);
        _dns.Aaaa["mx.example"] = FakeResolver.Answer<IPAddress>("mx.example", DnsStatus.NoData, false);
        Assert.False((await resolver.ResolveHostAsync(new DestinationHost { Name = "mx.example", MxAuthentic = true })).Authentic);
    }

    [Fact]
    public async Task A_literal_of_a_disabled_family_has_no_route()
    {
        var resolver = Resolver(new DestinationOptions { UseIPv6 = false });
        var d = await resolver.ResolveAsync("[IPv6:2001:db8::1]");
        var addresses = await resolver.ResolveHostAsync(Assert.Single(d.Hosts));
        Assert.Equal(DestinationStatus.PermanentFailure, addresses.Status);
        Assert.Equal("5.4.4", addresses.EnhancedCode);
    }

    [Fact]
    public void Both_families_disabled_is_refused() =>
        Assert.Throws<ArgumentException>(() => Resolver(new DestinationOptions { UseIPv4 = false, UseIPv6 = false }));
}
