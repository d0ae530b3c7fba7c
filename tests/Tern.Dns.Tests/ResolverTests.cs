using System.Net;

namespace Tern.Dns.Tests;

/// <summary>Lookups through unbound (validating) and knot (authoritative) on loopback.</summary>
[Collection(DnsServersCollection.Name)]
public sealed class ResolverTests(DnsServers servers)
{
    private readonly DnsResolver _dns = servers.Resolver();

    [Fact]
    public async Task Mx_of_a_signed_zone_is_authentic()
    {
        var mx = await _dns.LookupMxAsync("example.test");
        Assert.Equal(DnsStatus.Ok, mx.Status);
        Assert.True(mx.Authentic);
        Assert.Null(mx.Error);
        Assert.Equal("example.test", mx.CanonicalName);
        Assert.InRange(mx.Ttl, TimeSpan.FromSeconds(290), TimeSpan.FromSeconds(300));   // unbound counts its cached TTL down
        Assert.Equal(
            ["10 mx1.example.test", "20 mx2.example.test", "20 mx3.example.test", "30 mxalias.example.test"],
            mx.Records.Select(r => $"{r.Preference} {r.Host}").Order());
    }

    [Fact]
    public async Task Mx_of_an_unsigned_zone_is_not_authentic()
    {
        var mx = await _dns.LookupMxAsync("plain.test");
        Assert.Equal(DnsStatus.Ok, mx.Status);
        Assert.False(mx.Authentic);
        Assert.Equal(new MxRecord(10, "mx.plain.test"), Assert.Single(mx.Records));
    }

    [Fact]
    public async Task Knot_alone_never_sets_the_ad_bit()
    {
        // An authoritative server does not validate: the AD bit comes from the validating resolver only.
        var mx = await servers.Resolver(null, servers.Knot).LookupMxAsync("example.test");
        Assert.Equal(DnsStatus.Ok, mx.Status);
        Assert.False(mx.Authentic);
    }

    [Fact]
    public async Task Addresses()
    {
        var a = await _dns.LookupAAsync("mx1.example.test");
        var aaaa = await _dns.LookupAaaaAsync("mx1.example.test");
        Assert.Equal(IPAddress.Parse("192.0.2.1"), Assert.Single(a.Records));
        Assert.Equal(IPAddress.Parse("2001:db8::1"), Assert.Single(aaaa.Records));
        Assert.True(a.Authentic && aaaa.Authentic);
    }

    [Fact]
    public async Task Names_are_case_insensitive_and_may_end_in_a_dot()
    {
        var a = await _dns.LookupAAsync("MX1.Example.TEST.");
        Assert.Equal(DnsStatus.Ok, a.Status);
        Assert.Equal("mx1.example.test", a.Name);
    }

    [Fact]
    public async Task Nxdomain_is_authenticated_and_cached_by_the_soa_minimum()
    {
        var a = await _dns.LookupAAsync("nonexistent.example.test");
        Assert.Equal(DnsStatus.NxDomain, a.Status);
        Assert.Empty(a.Records);
        Assert.True(a.Authentic);               // NSEC proves the name does not exist
        Assert.Contains("NXDOMAIN", a.Error);
        // RFC 2308 section 5: min(SOA TTL 300, MINIMUM 60), counted down in unbound's cache.
        Assert.InRange(a.Ttl, TimeSpan.FromSeconds(50), TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task No_data()
    {
        var txt = await _dns.LookupTxtAsync("mx1.example.test");
        Assert.Equal(DnsStatus.NoData, txt.Status);
        Assert.True(txt.Authentic);
        Assert.InRange(txt.Ttl, TimeSpan.FromSeconds(50), TimeSpan.FromSeconds(60));
        var unsigned = await _dns.LookupAaaaAsync("ns.plain.test");
        Assert.Equal(DnsStatus.NoData, unsigned.Status);
        Assert.False(unsigned.Authentic);
        Assert.InRange(unsigned.Ttl, TimeSpan.FromSeconds(110), TimeSpan.FromSeconds(120));
    }

    [Fact]
    public async Task Follows_a_cname_chain()
    {
        var mx = await _dns.LookupMxAsync("alias.example.test");
        Assert.Equal(DnsStatus.Ok, mx.Status);
        Assert.Equal("alias.example.test", mx.Name);
        Assert.Equal("target.example.test", mx.CanonicalName);
        Assert.Equal(new MxRecord(10, "mx1.example.test"), Assert.Single(mx.Records));
        Assert.True(mx.Authentic);

        var a = await _dns.LookupAAsync("mxalias.example.test");
        Assert.Equal("mx1.example.test", a.CanonicalName);
        Assert.Equal(IPAddress.Parse("192.0.2.1"), Assert.Single(a.Records));
    }

    [Fact]
    public async Task A_chain_through_an_unsigned_zone_is_not_authentic()
    {
        var mx = await _dns.LookupMxAsync("alias.plain.test");
        Assert.Equal(DnsStatus.Ok, mx.Status);
        Assert.Equal("target.example.test", mx.CanonicalName);
        Assert.False(mx.Authentic);
    }

    [Fact]
    public async Task Cname_lookup_does_not_follow()
    {
        var cname = await _dns.LookupCnameAsync("alias.example.test");
        Assert.Equal(DnsStatus.Ok, cname.Status);
        Assert.Equal("alias2.example.test", Assert.Single(cname.Records));
        Assert.Equal("alias.example.test", cname.CanonicalName);
        Assert.Equal(DnsStatus.NoData, (await _dns.LookupCnameAsync("mx1.example.test")).Status);
    }

    [Fact]
    public async Task Too_long_a_chain_is_a_temporary_failure()
    {
        var a = await _dns.LookupAAsync("deep.example.test");
        Assert.Equal(DnsStatus.TemporaryFailure, a.Status);
        Assert.Contains("CNAME", a.Error);
        var longer = await servers.Resolver(new DnsOptions { MaxCnameDepth = 10, Timeout = TimeSpan.FromSeconds(2) }).LookupAAsync("deep.example.test");
        Assert.Equal(DnsStatus.Ok, longer.Status);
        Assert.Equal("c10.example.test", longer.CanonicalName);
    }

    [Fact]
    public async Task A_cname_loop_fails_temporarily()
    {
        var a = await _dns.LookupAAsync("loop1.example.test");
        Assert.Equal(DnsStatus.TemporaryFailure, a.Status);
        Assert.NotNull(a.Error);
    }

    [Fact]
    public async Task Txt_strings_are_joined_per_record()
    {
        var txt = await _dns.LookupTxtAsync("multi.example.test");
        Assert.Equal(["second", "v=STSv1; id=20261128"], txt.Records.Order());
        Assert.Equal("v=spf1 -all", Assert.Single((await _dns.LookupTxtAsync("example.test")).Records));
    }

    [Fact]
    public async Task Tlsa()
    {
        var tlsa = await _dns.LookupTlsaAsync("_25._tcp.mx1.example.test");
        Assert.Equal(DnsStatus.Ok, tlsa.Status);
        Assert.True(tlsa.Authentic);
        var record = Assert.Single(tlsa.Records);
        Assert.Equal(new DnsTlsaRecord(3, 1, 1, Convert.FromHexString(TestZones.TlsaHex)), record);
        Assert.Equal(DnsStatus.NxDomain, (await _dns.LookupTlsaAsync("_25._tcp.mx2.example.test")).Status);
    }

    [Fact]
    public async Task Ptr()
    {
        var v4 = await _dns.LookupPtrAsync(IPAddress.Parse("192.0.2.1"));
        Assert.Equal("mx1.example.test", Assert.Single(v4.Records));
        Assert.Equal("1.2.0.192.in-addr.arpa", v4.Name);
        var v6 = await _dns.LookupPtrAsync(IPAddress.Parse("2001:db8::1"));
        Assert.Equal("mx1.example.test", Assert.Single(v6.Records));
        Assert.Equal(DnsStatus.NxDomain, (await _dns.LookupPtrAsync(IPAddress.Parse("192.0.2.200"))).Status);
    }

    [Fact]
    public async Task Underscore_names_resolve()
    {
        var a = await _dns.LookupAAsync("bad_host.example.test");
        Assert.Equal(IPAddress.Parse("192.0.2.20"), Assert.Single(a.Records));
    }

    [Fact]
    public async Task Bogus_signatures_are_servfail_a_temporary_failure()
    {
        var mx = await _dns.LookupMxAsync("bogus.test");
        Assert.Equal(DnsStatus.TemporaryFailure, mx.Status);
        Assert.False(mx.Authentic);
        Assert.Empty(mx.Records);
        Assert.Contains("SERVFAIL", mx.Error);
    }

    [Fact]
    public async Task Refused_is_a_temporary_failure()
    {
        // knot is not a recursive resolver: a name outside its zones is REFUSED.
        var a = await servers.Resolver(null, servers.Knot).LookupAAsync("example.org");
        Assert.Equal(DnsStatus.TemporaryFailure, a.Status);
        Assert.Contains("REFUSED", a.Error);
    }

    [Fact]
    public async Task An_invalid_name_fails_permanently_without_a_query()
    {
        var a = await _dns.LookupAAsync("exa mple..test");
        Assert.Equal(DnsStatus.PermanentFailure, a.Status);
        Assert.NotNull(a.Error);
    }

    [Fact]
    public async Task Answers_come_from_the_cache()
    {
        var first = await _dns.LookupMxAsync("example.test");
        var second = await _dns.LookupMxAsync("example.test");
        Assert.Same(first, second);
        Assert.Equal(1, _dns.CachedAnswers);
    }

    [Fact]
    public void Ad_bit_is_trusted_only_from_loopback_or_when_configured()
    {
        var loggers = new ListLoggerFactory();
        IPEndPoint Ep(string a) => new(IPAddress.Parse(a), 53);
        Assert.True(new DnsResolver(new DnsOptions { Servers = [Ep("127.0.0.1"), Ep("::1"), Ep("127.0.0.53")] }, loggers).TrustsAdBit);
        Assert.True(new DnsResolver(new DnsOptions { Servers = [Ep("::ffff:127.0.0.1")] }, loggers).TrustsAdBit);
        Assert.False(new DnsResolver(new DnsOptions { Servers = [Ep("192.0.2.53")] }, loggers).TrustsAdBit);
        Assert.False(new DnsResolver(new DnsOptions { Servers = [Ep("127.0.0.1"), Ep("192.0.2.53")] }, loggers).TrustsAdBit);
        Assert.True(new DnsResolver(new DnsOptions { Servers = [Ep("192.0.2.53")], TrustAdBit = true }, loggers).TrustsAdBit);
    }
}
