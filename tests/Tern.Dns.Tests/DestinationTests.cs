using System.Net;
using Microsoft.Extensions.Logging;

namespace Tern.Dns.Tests;

/// <summary>Destination resolution against the test zones through unbound.</summary>
[Collection(DnsServersCollection.Name)]
public sealed class DestinationTests(DnsServers servers)
{
    private readonly DnsResolver _dns = servers.Resolver();
    private readonly ListLoggerFactory _logs = new();

    private DestinationResolver Destinations(DestinationOptions? options = null, int seed = 1) =>
        new(_dns, options ?? new DestinationOptions(), _logs, new Random(seed));

    [Fact]
    public async Task Mx_hosts_by_preference()
    {
        var d = await Destinations().ResolveAsync("example.test");
        Assert.Equal(DestinationStatus.Ok, d.Status);
        Assert.False(d.ImplicitMx);
        Assert.True(d.Authentic);
        Assert.Equal("example.test", d.ExpandedDomain);
        Assert.Equal([10, 20, 20, 30], d.Hosts.Select(h => (int)h.Preference));
        Assert.Equal("mx1.example.test", d.Hosts[0].Name);
        Assert.Equal(["mx2.example.test", "mx3.example.test"], d.Hosts.Skip(1).Take(2).Select(h => h.Name).Order());
        Assert.Equal("mxalias.example.test", d.Hosts[3].Name);
        Assert.All(d.Hosts, h => Assert.True(h.MxAuthentic));
    }

    [Fact]
    public async Task Equal_preferences_come_in_random_order()
    {
        var orders = new HashSet<string>();
        for (var seed = 0; seed < 40; seed++)
        {
            var d = await Destinations(seed: seed).ResolveAsync("example.test");
            orders.Add(string.Join(",", d.Hosts.Select(h => h.Name)));
        }
        Assert.Equal(
            ["mx1.example.test,mx2.example.test,mx3.example.test,mxalias.example.test", "mx1.example.test,mx3.example.test,mx2.example.test,mxalias.example.test"],
            orders.Order());
    }

    [Fact]
    public async Task Null_mx_is_a_permanent_failure()
    {
        var d = await Destinations().ResolveAsync("nullmx.example.test");
        Assert.Equal(DestinationStatus.PermanentFailure, d.Status);
        Assert.Equal("5.1.10", d.EnhancedCode);
        Assert.Empty(d.Hosts);
        Assert.Contains("null MX", d.Error);
    }

    [Fact]
    public async Task No_mx_means_the_domain_itself()
    {
        var resolver = Destinations();
        var d = await resolver.ResolveAsync("nomx.example.test");
        Assert.Equal(DestinationStatus.Ok, d.Status);
        Assert.True(d.ImplicitMx);
        Assert.True(d.Authentic);                // the denial of MX is signed
        var host = Assert.Single(d.Hosts);
        Assert.Equal("nomx.example.test", host.Name);
        var addresses = await resolver.ResolveHostAsync(host);
        Assert.Equal(DestinationStatus.Ok, addresses.Status);
        Assert.Equal([IPAddress.Parse("192.0.2.10"), IPAddress.Parse("2001:db8::10")], addresses.Addresses);
        Assert.True(addresses.Authentic);
    }

    [Fact]
    public async Task The_domain_may_be_an_alias()
    {
        var d = await Destinations().ResolveAsync("alias.example.test");
        Assert.Equal(DestinationStatus.Ok, d.Status);
        Assert.Equal("alias.example.test", d.Domain);
        Assert.Equal("target.example.test", d.ExpandedDomain);
        Assert.Equal("mx1.example.test", Assert.Single(d.Hosts).Name);
        Assert.True(d.Authentic);
    }

    [Fact]
    public async Task An_mx_host_may_be_an_alias()
    {
        var resolver = Destinations();
        var d = await resolver.ResolveAsync("example.test");
        var addresses = await resolver.ResolveHostAsync(d.Hosts.Single(h => h.Name == "mxalias.example.test"));
        Assert.Equal(DestinationStatus.Ok, addresses.Status);
        Assert.Equal("mx1.example.test", addresses.CanonicalName);
        Assert.Equal([IPAddress.Parse("192.0.2.1"), IPAddress.Parse("2001:db8::1")], addresses.Addresses);
        Assert.True(addresses.Authentic);
    }

    [Fact]
    public async Task Nxdomain_is_a_permanent_failure()
    {
        var d = await Destinations().ResolveAsync("nonexistent.example.test");
        Assert.Equal(DestinationStatus.PermanentFailure, d.Status);
        Assert.Equal("5.1.2", d.EnhancedCode);
    }

    [Fact]
    public async Task Servfail_is_a_temporary_failure()
    {
        var d = await Destinations().ResolveAsync("bogus.test");
        Assert.Equal(DestinationStatus.TemporaryFailure, d.Status);
        Assert.Equal("4.4.3", d.EnhancedCode);
        Assert.Contains("SERVFAIL", d.Error);
    }

    [Fact]
    public async Task Underscore_mx_hosts_are_accepted_with_a_warning()
    {
        var resolver = Destinations();
        var d = await resolver.ResolveAsync("under.example.test");
        var host = Assert.Single(d.Hosts);
        Assert.Equal("bad_host.example.test", host.Name);
        Assert.Contains(_logs.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("underscore") && e.Message.Contains("bad_host.example.test"));
        Assert.Equal([IPAddress.Parse("192.0.2.20")], (await resolver.ResolveHostAsync(host)).Addresses);
    }

    [Fact]
    public async Task Authenticity_covers_the_whole_chain()
    {
        var resolver = Destinations();
        // Signed MX, signed host.
        var signed = await resolver.ResolveAsync("example.test");
        Assert.True((await resolver.ResolveHostAsync(signed.Hosts[0])).Authentic);
        // Signed MX pointing to a host in an unsigned zone.
        var insecure = await resolver.ResolveAsync("insecure.example.test");
        var host = Assert.Single(insecure.Hosts);
        Assert.True(host.MxAuthentic);
        var addresses = await resolver.ResolveHostAsync(host);
        Assert.Equal(DestinationStatus.Ok, addresses.Status);
        Assert.False(addresses.Authentic);
        // Unsigned all the way.
        var plain = await resolver.ResolveAsync("plain.test");
        Assert.False(plain.Authentic);
        Assert.False((await resolver.ResolveHostAsync(plain.Hosts[0])).Authentic);
    }

    [Fact]
    public async Task Address_families_can_be_disabled()
    {
        var v4Only = Destinations(new DestinationOptions { UseIPv6 = false });
        var d = await v4Only.ResolveAsync("example.test");
        var mx1 = await v4Only.ResolveHostAsync(d.Hosts[0]);
        Assert.Equal([IPAddress.Parse("192.0.2.1")], mx1.Addresses);
        Assert.True(mx1.Authentic);

        // mx3 has only an AAAA record.
        var v6Host = await v4Only.ResolveHostAsync(Assert.Single((await v4Only.ResolveAsync("v6only.example.test")).Hosts));
        Assert.Equal(DestinationStatus.PermanentFailure, v6Host.Status);
        Assert.Equal("5.4.4", v6Host.EnhancedCode);

        var v6Only = Destinations(new DestinationOptions { UseIPv4 = false });
        Assert.Equal([IPAddress.Parse("2001:db8::1")], (await v6Only.ResolveHostAsync(d.Hosts[0])).Addresses);
    }

    [Fact]
    public async Task A_missing_mx_host_has_no_addresses()
    {
        var resolver = Destinations();
        var d = await resolver.ResolveAsync("badmx.example.test");
        var addresses = await resolver.ResolveHostAsync(Assert.Single(d.Hosts));
        Assert.Equal(DestinationStatus.PermanentFailure, addresses.Status);
        Assert.Equal("5.4.4", addresses.EnhancedCode);
        Assert.True(addresses.Authentic);          // the non-existence is signed
    }

    [Theory]
    [InlineData("[192.0.2.7]", "192.0.2.7")]
    [InlineData("[IPv6:2001:db8::7]", "2001:db8::7")]
    public async Task Address_literals_need_no_dns(string domain, string address)
    {
        var resolver = Destinations();
        var d = await resolver.ResolveAsync(domain);
        Assert.Equal(DestinationStatus.Ok, d.Status);
        var host = Assert.Single(d.Hosts);
        Assert.Equal(IPAddress.Parse(address), host.Address);
        var addresses = await resolver.ResolveHostAsync(host);
        Assert.Equal([IPAddress.Parse(address)], addresses.Addresses);
        Assert.False(addresses.Authentic);
    }

    [Fact]
    public async Task An_invalid_domain_fails_permanently()
    {
        var d = await Destinations().ResolveAsync("exa mple.test");
        Assert.Equal(DestinationStatus.PermanentFailure, d.Status);
        Assert.Equal("5.1.2", d.EnhancedCode);
    }
}
