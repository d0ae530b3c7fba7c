using System.Net;

namespace Tern.Delivery.Tests;

/// <summary>Problems in transports and routes come back as values naming the transport or route and the property.</summary>
public sealed class RoutingValidationTests
{
    private static IReadOnlyList<RoutingError> Validate(RoutingOptions o) => RouteTable.Validate(o);

    private static IReadOnlyList<RoutingError> ValidateTransport(Transport t) => Validate(new RoutingOptions { Transports = [t] });

    [Fact]
    public void Unknown_transport_names_the_route()
    {
        var options = new RoutingOptions
        {
            Transports = [new SmtpTransport { Name = "relay", Host = "relay.example" }],
            AccountRoutes = new Dictionary<string, IReadOnlyList<Route>> { ["alice"] = [new Route { Transport = "relay" }, new Route { Transport = "rleay" }] },
            DomainRoutes = new Dictionary<string, IReadOnlyList<Route>> { ["example.org"] = [new Route { Transport = "nope" }] },
            GlobalRoutes = [new Route { Transport = "relay" }, new Route { Transport = "" }],
        };
        var errors = Validate(options);
        Assert.Equal(
        [
            "route 1 of account \"alice\": Transport: unknown transport \"rleay\"",
            "route 0 of domain \"example.org\": Transport: unknown transport \"nope\"",
            "global route 1: Transport: no transport given",
        ], errors.Select(e => e.ToString()));
        Assert.Equal(new RouteLocation(RouteScope.Account, "alice", 1), errors[0].Route);
        Assert.Equal(nameof(Route.Transport), errors[0].Property);
        Assert.Null(errors[0].Transport);
        Assert.False(RouteTable.TryCreate(options, out var table, out var same));
        Assert.Null(table);
        Assert.Equal(errors, same);
        Assert.Throws<ArgumentException>(() => RouteTable.Create(options));
    }

    [Fact]
    public void Valid_options_have_no_errors()
    {
        var options = new RoutingOptions
        {
            Transports =
            [
                new DirectTransport { Name = "direct-v4", DisableIPv6 = true, SourceIPv4 = IPAddress.Parse("192.0.2.1"), EhloName = "mx.example.org" },
                new SmtpTransport { Name = "relay", Host = "relay.example", Auth = new SmarthostAuth("u", "p", ["scram-sha-256", "PLAIN"]) },
                new SubmissionsTransport { Name = "subs", Host = "192.0.2.7", Port = 4650 },
                new SocksTransport { Name = "tor", ProxyHost = "localhost", EhloName = "out.example.org", PublicAddresses = [IPAddress.Parse("2001:db8::1")], Credentials = new("u", "p") },
                new FailTransport { Name = "no", Code = 421, EnhancedCode = "4.7.0", Text = "later" },
            ],
            DomainRoutes = new Dictionary<string, IReadOnlyList<Route>> { ["xn--bcher-kva.example"] = [new Route { Transport = "tor", RecipientDomains = [".example.net", "a-b.example"] }] },
            GlobalRoutes = [new Route { Transport = "direct" }, new Route { Transport = "no", SenderDomains = ["Example.COM"], MinimumAttempts = 3 }],
        };
        Assert.Empty(Validate(options));
        Assert.True(RouteTable.TryCreate(options, out var table, out _));
        Assert.Equal(6, table.Transports.Count);
    }

    [Theory]
    [InlineData("b\u00fccher.example", "\"b\u00fccher.example\" must be written in A-label form: \"xn--bcher-kva.example\"")]
    [InlineData(".b\u00fccher.example", "\".b\u00fccher.example\" must be written in A-label form: \".xn--bcher-kva.example\"")]
    [InlineData("-bad.example", "\"-bad.example\" has a label that starts or ends with \"-\"")]
    [InlineData("a..example", "\"a..example\" has an empty label or one longer than 63 characters")]
    [InlineData("example.com.", "\"example.com.\" has an empty label or one longer than 63 characters")]
    [InlineData("*.example", "\"*.example\" contains \"*\" (letters, digits, \"-\" and \".\" only)")]
    [InlineData(".", "\".\" is not a domain name")]
    [InlineData("", "\"\" is not a domain name")]
    public void Bad_route_domains_are_reported(string domain, string message)
    {
        var errors = Validate(new RoutingOptions { GlobalRoutes = [new Route { Transport = "direct", RecipientDomains = [domain], SenderDomains = ["ok.example"] }] });
        var e = Assert.Single(errors);
        Assert.Equal(message, e.Message);
        Assert.Equal(nameof(Route.RecipientDomains), e.Property);
        Assert.Equal(new RouteLocation(RouteScope.Global, "", 0), e.Route);
    }

    [Fact]
    public void Other_route_problems()
    {
        var errors = Validate(new RoutingOptions
        {
            DomainRoutes = new Dictionary<string, IReadOnlyList<Route>>
            {
                ["bad domain"] = [],
                ["Example.org"] = [new Route { Transport = "direct", MinimumAttempts = -1 }],
                ["example.ORG"] = [],
            },
            AccountRoutes = new Dictionary<string, IReadOnlyList<Route>> { [""] = [] },
            DefaultTransport = "missing",
        });
        Assert.Equal(
        [
            "DefaultTransport: unknown transport \"missing\"",
            "AccountRoutes: routes for an empty account name",
            "DomainRoutes: \"bad domain\" contains \" \" (letters, digits, \"-\" and \".\" only)",
            "route 0 of domain \"Example.org\": MinimumAttempts: -1 is negative",
            "DomainRoutes: routes for \"example.ORG\" given more than once (domains are case-insensitive)",
        ], errors.Select(e => e.ToString()));
    }

    [Fact]
    public void Transport_names_are_checked_and_unique()
    {
        var errors = Validate(new RoutingOptions
        {
            Transports =
            [
                new DirectTransport { Name = "a b" },
                new DirectTransport { Name = "" },
                new DirectTransport { Name = "twice" },
                new SmtpTransport { Name = "twice", Host = "h.example" },
            ],
        });
        Assert.Equal(
        [
            "transport \"a b\": Name: transport name \"a b\" contains spaces or control characters",
            "transport \"\": Name: empty transport name",
            "transport \"twice\": Name: defined more than once",
        ], errors.Select(e => e.ToString()));
    }

    [Theory]
    [InlineData(550, "5.7.1", "refused", null)]
    [InlineData(421, "4.3.2", "later", null)]
    [InlineData(250, "5.0.0", "ok", "Code")]
    [InlineData(600, "5.0.0", "x", "Code")]
    [InlineData(450, "5.7.1", "x", "EnhancedCode")]
    [InlineData(550, "5.7", "x", "EnhancedCode")]
    [InlineData(550, "2.0.0", "x", "EnhancedCode")]
    [InlineData(550, "5.1234.1", "x", "EnhancedCode")]
    [InlineData(550, "5.7.1", "", "Text")]
    [InlineData(550, "5.7.1", "two\r\nlines", "Text")]
    public void Fail_transport_reply_is_checked(int code, string enhanced, string text, string? property)
    {
        var errors = ValidateTransport(new FailTransport { Name = "f", Code = code, EnhancedCode = enhanced, Text = text });
        Assert.Equal(property is null ? [] : [property], errors.Select(e => e.Property));
        Assert.All(errors, e => Assert.Equal("f", e.Transport));
    }

    [Fact]
    public void Direct_transport_problems()
    {
        var errors = ValidateTransport(new DirectTransport
        {
            Name = "d",
            DisableIPv4 = true,
            DisableIPv6 = true,
            SourceIPv4 = IPAddress.IPv6Loopback,
            SourceIPv6 = IPAddress.Loopback,
            EhloName = "not a name",
        });
        Assert.Equal(["DisableIPv6", "SourceIPv4", "SourceIPv6", "EhloName"], errors.Select(e => e.Property));
    }

    [Fact]
    public void Smarthost_problems()
    {
        var errors = ValidateTransport(new SubmissionTransport
        {
            Name = "s",
            Host = "",
            Port = 70000,
            Auth = new SmarthostAuth("", "", ["SCRAM-SHA-256", "XOAUTH2"]),
        });
        Assert.Equal(["Host", "Port", "Auth", "Auth", "Auth"], errors.Select(e => e.Property));
        Assert.Contains(errors, e => e.Message.StartsWith("unknown SASL mechanism \"XOAUTH2\"", StringComparison.Ordinal));
    }

    [Fact]
    public void Socks_problems()
    {
        var errors = ValidateTransport(new SocksTransport
        {
            Name = "s",
            ProxyHost = "proxy..example",
            ProxyPort = 0,
            EhloName = "",
            PublicAddresses = [],
            Credentials = new Socks5Credentials(new string('u', 256), ""),
        });
        Assert.Equal(["ProxyHost", "ProxyPort", "EhloName", "PublicAddresses", "Credentials", "Credentials"], errors.Select(e => e.Property));
        Assert.Contains(errors, e => e.Message == "the SOCKS5 username must be 1 to 255 bytes (RFC 1929), not 256");
    }
}
