using System.Net;

namespace Tern.Delivery.Tests;

/// <summary>Route resolution, table-driven: (account, sender domain, recipient domain, attempts, override, REQUIRETLS) -> transport or failure.</summary>
public sealed class RouteTableTests
{
    private static readonly RouteTable Table = RouteTable.Create(new RoutingOptions
    {
        Transports =
        [
            new SmtpTransport { Name = "smarthost", Host = "relay.example" },
            new SmtpTransport { Name = "insecure", Host = "relay.example", RequireTls = false },
            new SubmissionTransport { Name = "sub", Host = "smtp.gmail.example", Auth = new SmarthostAuth("alice", "pw") },
            new SubmissionsTransport { Name = "subs", Host = "smtp.gmail.example", Auth = new SmarthostAuth("alice", "pw") },
            new SubmissionTransport { Name = "noverify", Host = "relay.example", VerifyTls = false },
            new SocksTransport { Name = "proxy", ProxyHost = "127.0.0.1", EhloName = "out.example.org", PublicAddresses = [IPAddress.Parse("192.0.2.10")] },
            new FailTransport { Name = "refuse", Code = 550, EnhancedCode = "5.7.1", Text = "not to them" },
            new FailTransport { Name = "tempfail", Code = 451, EnhancedCode = "4.3.2", Text = "paused" },
        ],
        AccountRoutes = new Dictionary<string, IReadOnlyList<Route>>
        {
            ["alice"] =
            [
                new Route { RecipientDomains = ["gmail.example"], Transport = "sub" },
                new Route { MinimumAttempts = 3, Transport = "subs" },
            ],
        },
        DomainRoutes = new Dictionary<string, IReadOnlyList<Route>>
        {
            ["example.org"] =
            [
                new Route { RecipientDomains = [".example.net"], Transport = "proxy" },
                new Route { MinimumAttempts = 2, Transport = "smarthost" },
            ],
        },
        GlobalRoutes =
        [
            new Route { RecipientDomains = ["blocked.example"], Transport = "refuse" },
            new Route { SenderDomains = ["legacy.example"], Transport = "insecure" },
            new Route { RecipientDomains = [".Later.Example"], MinimumAttempts = 5, Transport = "noverify" },
            new Route { RecipientDomains = ["busy.example"], Transport = "tempfail" },
        ],
    });

    [Theory]
    // No route: the default, direct.
    [InlineData(null, "other.example", "anywhere.example", 0, null, false, "direct", RouteSource.Default, null, null)]
    // Account routes first, case-insensitive domains, exact unless a leading dot.
    [InlineData("alice", "example.org", "gmail.example", 0, null, false, "sub", RouteSource.Route, "route 0 of account \"alice\"", null)]
    [InlineData("alice", "example.org", "GMAIL.Example", 0, null, false, "sub", RouteSource.Route, "route 0 of account \"alice\"", null)]
    [InlineData("alice", "example.org", "mx.gmail.example", 0, null, false, "direct", RouteSource.Default, null, null)]
    [InlineData("alice", "example.org", "x.example", 3, null, false, "subs", RouteSource.Route, "route 1 of account \"alice\"", null)]
    [InlineData("alice", "example.org", "example.net", 3, null, false, "subs", RouteSource.Route, "route 1 of account \"alice\"", null)]
    // Account names are exact; unknown accounts and relayed mail go on to the sender domain's routes.
    [InlineData("Alice", "example.org", "gmail.example", 0, null, false, "direct", RouteSource.Default, null, null)]
    [InlineData("bob", "example.org", "example.net", 0, null, false, "proxy", RouteSource.Route, "route 0 of domain \"example.org\"", null)]
    [InlineData(null, "example.org", "deep.sub.example.net", 0, null, false, "proxy", RouteSource.Route, "route 0 of domain \"example.org\"", null)]
    [InlineData(null, "example.org", "badexample.net", 0, null, false, "direct", RouteSource.Default, null, null)]
    [InlineData(null, "EXAMPLE.ORG", "x.example", 2, null, false, "smarthost", RouteSource.Route, "route 1 of domain \"example.org\"", null)]
    [InlineData(null, "sub.example.org", "x.example", 2, null, false, "direct", RouteSource.Default, null, null)]
    // Sender domain routes before global ones; then global, first match wins.
    [InlineData(null, "example.org", "blocked.example", 0, null, false, "refuse", RouteSource.Route, "global route 0", "550 5.7.1")]
    [InlineData(null, "example.org", "blocked.example", 2, null, false, "smarthost", RouteSource.Route, "route 1 of domain \"example.org\"", null)]
    [InlineData(null, "legacy.example", "blocked.example", 0, null, false, "refuse", RouteSource.Route, "global route 0", "550 5.7.1")]
    [InlineData(null, "legacy.example", "x.example", 0, null, false, "insecure", RouteSource.Route, "global route 1", null)]
    [InlineData(null, "other.example", "busy.example", 0, null, false, "tempfail", RouteSource.Route, "global route 3", "451 4.3.2")]
    // Minimum attempts; the null sender matches only routes without sender domains.
    [InlineData(null, "", "later.example", 4, null, false, "direct", RouteSource.Default, null, null)]
    [InlineData(null, "", "later.example", 5, null, false, "noverify", RouteSource.Route, "global route 2", null)]
    [InlineData(null, "", "a.later.example", 9, null, false, "noverify", RouteSource.Route, "global route 2", null)]
    [InlineData(null, "", "x.example", 0, null, false, "direct", RouteSource.Default, null, null)]
    // The operator's transport overrides every route.
    [InlineData("alice", "legacy.example", "gmail.example", 0, "smarthost", false, "smarthost", RouteSource.Override, null, null)]
    [InlineData(null, "example.org", "blocked.example", 0, "direct", false, "direct", RouteSource.Override, null, null)]
    [InlineData(null, "example.org", "x.example", 0, "gone", false, null, RouteSource.Override, null, "451 4.3.5")]
    // REQUIRETLS: only transports that verify TLS.
    [InlineData(null, "other.example", "x.example", 0, null, true, "direct", RouteSource.Default, null, null)]
    [InlineData(null, "example.org", "x.example.net", 0, null, true, "proxy", RouteSource.Route, "route 0 of domain \"example.org\"", null)]
    [InlineData(null, "example.org", "x.example", 2, null, true, "smarthost", RouteSource.Route, "route 1 of domain \"example.org\"", null)]
    [InlineData("alice", "example.org", "gmail.example", 0, null, true, "sub", RouteSource.Route, "route 0 of account \"alice\"", null)]
    [InlineData(null, "legacy.example", "x.example", 0, null, true, "insecure", RouteSource.Route, "global route 1", "550 5.7.30")]
    [InlineData(null, "", "later.example", 5, null, true, "noverify", RouteSource.Route, "global route 2", "550 5.7.30")]
    [InlineData(null, "other.example", "x.example", 0, "insecure", true, "insecure", RouteSource.Override, null, "550 5.7.30")]
    [InlineData(null, "other.example", "x.example", 0, "smarthost", true, "smarthost", RouteSource.Override, null, null)]
    // A fail transport gives its own reply, REQUIRETLS or not.
    [InlineData(null, "other.example", "blocked.example", 0, null, true, "refuse", RouteSource.Route, "global route 0", "550 5.7.1")]
    public void Resolves(
        string? account, string sender, string recipient, int attempts, string? overrideTransport, bool requireTls,
        string? transport, RouteSource source, string? route, string? failure)
    {
        var r = Table.Resolve(new RouteRequest(account, sender, recipient, attempts, overrideTransport, requireTls));
        Assert.Equal(transport, r.Transport?.Name);
        Assert.Equal(transport ?? overrideTransport, r.TransportName);
        Assert.Equal(source, r.Source);
        Assert.Equal(route, r.Location?.ToString());
        Assert.Equal(route is null, r.Route is null);
        Assert.Equal(failure, r.Failure is { } f ? $"{f.Code} {f.EnhancedCode}" : null);
        Assert.Equal(failure is not null, r.Failed);
    }

    [Fact]
    public void Matched_route_is_the_configured_one()
    {
        var r = Table.Resolve(new RouteRequest("alice", "example.org", "gmail.example", 0));
        Assert.Equal(["gmail.example"], r.Route!.RecipientDomains);
        Assert.Equal(new RouteLocation(RouteScope.Account, "alice", 0), r.Location);
    }

    [Fact]
    public void Requiretls_failure_is_permanent_and_names_the_transport()
    {
        var r = Table.Resolve(new RouteRequest(null, "legacy.example", "x.example", 0, RequireTls: true));
        Assert.True(r.Failure!.Permanent);
        Assert.Contains("insecure", r.Failure.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void Configured_direct_replaces_the_built_in_default()
    {
        var table = RouteTable.Create(new RoutingOptions
        {
            Transports = [new DirectTransport { Name = "direct", DisableIPv6 = true, EhloName = "mx.example.org" }],
        });
        var r = table.Resolve(new RouteRequest(null, "a.example", "b.example", 0));
        Assert.Equal(RouteSource.Default, r.Source);
        Assert.True(Assert.IsType<DirectTransport>(r.Transport).DisableIPv6);
        Assert.Same(table.DefaultTransport, r.Transport);
    }

    [Fact]
    public void Default_transport_can_be_another()
    {
        var table = RouteTable.Create(new RoutingOptions
        {
            Transports = [new SmtpTransport { Name = "relay", Host = "relay.example" }],
            DefaultTransport = "relay",
        });
        Assert.Equal("relay", table.Resolve(new RouteRequest(null, "a.example", "b.example", 0)).Transport!.Name);
        Assert.NotNull(table.Find("direct"));
        Assert.Null(table.Find("nope"));
        Assert.Equal(["direct", "relay"], table.Transports.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Empty_options_route_everything_direct()
    {
        var table = RouteTable.Create(new RoutingOptions());
        var r = table.Resolve(new RouteRequest("someone", "a.example", "b.example", 7, "", true));
        Assert.Same(DirectTransport.Default, r.Transport);
        Assert.Null(r.Failure);
    }
}
