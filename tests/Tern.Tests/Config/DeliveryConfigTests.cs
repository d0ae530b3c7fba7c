using System.Net;
using Tern.Config;
using Tern.Delivery;

namespace Tern.Tests.Config;

/// <summary><c>[dns]</c>, <c>[delivery]</c>, <c>[transports.NAME]</c> and <c>[[routes]]</c>: bound into the libraries' options, every problem named by file, line and key.</summary>
public sealed class DeliveryConfigTests
{
    private const string File = "tern.toml";

    private static TernConfig Parse(string toml) => ConfigLoader.Parse(toml, File, "/etc/tern");

    private static IReadOnlyList<ConfigError> Errors(string toml) => Assert.Throws<ConfigException>(() => Parse(toml)).Errors;

    [Fact]
    public void Defaults_deliver_directly_with_the_system_resolvers()
    {
        var c = ConfigLoader.Default();
        Assert.True(c.Delivery.Enabled);
        Assert.Null(c.Dns.Servers);
        Assert.False(c.Dns.TrustAdBit);
        Assert.Equal(25, c.Delivery.DirectPort);
        Assert.Empty(c.Delivery.Routing.Transports);
        Assert.Equal(DirectTransport.DefaultName, c.Delivery.Routing.DefaultTransport);
        Assert.Equal(DirectTransport.DefaultName, RouteTable.Create(c.Delivery.Routing).DefaultTransport.Name);

        var example = ConfigLoader.Parse(ConfigLoader.Example(), "example.toml", Directory.GetCurrentDirectory());
        Assert.Equal(c.Dns, example.Dns);
        var routing = new RoutingOptions();
        var scheduler = new Tern.Scheduler.SchedulerOptions();
        Assert.Equal(c.Delivery with { Routing = routing, Scheduler = scheduler }, example.Delivery with { Routing = routing, Scheduler = scheduler });
        Assert.Equal(c.Delivery.Scheduler with { Destinations = scheduler.Destinations }, example.Delivery.Scheduler with { Destinations = scheduler.Destinations });
        Assert.Equal(c.Delivery.Scheduler.Destinations.Default, example.Delivery.Scheduler.Destinations.Default);
        Assert.Empty(example.Delivery.Scheduler.Destinations.Rules);
        Assert.Empty(example.Delivery.Routing.Transports);
        Assert.Empty(example.Delivery.Routing.GlobalRoutes);
    }

    [Fact]
    public void Retries_limits_and_destination_rules_are_bound()
    {
        var c = Parse("""
            [delivery]
            concurrency = 250
            metrics_destinations = 5
            first_retry = "5m"
            max_retries = 4
            retry_jitter = 0.1
            delay_notice_after = 3
            max_connections = 30
            max_messages_per_connection = 50
            rate = 12.5
            burst = 5
            max_recipients = 200
            idle_reuse = "10s"
            pipeline_next = false
            suspend_after = 2
            suspend_for = "1m"
            [[destinations]]
            mx = "*.outlook.example"
            max_connections = 4
            rate = 20
            [[destinations]]
            domain = ".small.example"
            max_connections = 1
            """).Delivery.Scheduler;
        Assert.Equal(250, c.Concurrency);
        Assert.Equal(5, c.MetricsDestinations);
        Assert.Equal(new Tern.Scheduler.RetryPolicy { FirstRetry = TimeSpan.FromMinutes(5), MaxRetries = 4, Jitter = 0.1, DelayNoticeAfter = 3 }, c.Retry);
        var defaults = new Tern.Scheduler.DestinationLimits
        {
            MaxConnections = 30,
            MaxMessagesPerConnection = 50,
            MessagesPerSecond = 12.5,
            Burst = 5,
            MaxRecipientsPerTransaction = 200,
            IdleReuse = TimeSpan.FromSeconds(10),
            PipelineNext = false,
            SuspendAfter = 2,
            SuspendFor = TimeSpan.FromMinutes(1),
        };
        Assert.Equal(defaults, c.Destinations.Default);
        Assert.Equal(2, c.Destinations.Rules.Count);

        // A rule inherits what it does not set from [delivery].
        Assert.Equal(new Tern.Scheduler.DestinationRule(Tern.Scheduler.DestinationMatch.Mx, "*.outlook.example", defaults with { MaxConnections = 4, MessagesPerSecond = 20 }), c.Destinations.Rules[0]);
        Assert.Equal(new Tern.Scheduler.DestinationRule(Tern.Scheduler.DestinationMatch.Domain, ".small.example", defaults with { MaxConnections = 1 }), c.Destinations.Rules[1]);
        Assert.Same(c.Destinations.Rules[0].Limits, c.Destinations.For("customer.example", ["mx1.eu.outlook.example"]));
    }

    [Theory]
    [InlineData("[[destinations]]\nmax_connections = 2", "destinations", "either a recipient domain")]
    [InlineData("[[destinations]]\ndomain = \"a.example\"\nmx = \"b.example\"", "destinations", "one of them")]
    [InlineData("[[destinations]]\nmx = \"not a name\"", "mx", "not a domain name or pattern")]
    [InlineData("[delivery]\nrate = \"fast\"", "rate", "expected a number from 0 to 1000000")]
    [InlineData("[delivery]\nretry_jitter = 2", "retry_jitter", "expected a number from 0 to 1")]
    [InlineData("[delivery]\nmax_connections = 0", "max_connections", "expected an integer from 1 to 10000")]
    [InlineData("[delivery]\nmetrics_destinations = 5000", "metrics_destinations", "expected an integer from 0 to 1000")]
    [InlineData("[delivery]\npipeline_next = \"yes\"", "pipeline_next", "true or false")]
    [InlineData("[delivery]\npoll_interval = \"1s\"", "poll_interval", "unknown")]
    public void Bad_scheduler_settings_name_the_key(string toml, string key, string problem)
    {
        var e = Assert.Single(Errors(toml.Replace("\\n", "\n", StringComparison.Ordinal)));
        Assert.Contains(key, e.Key, StringComparison.Ordinal);
        Assert.Contains(problem, e.Message, StringComparison.Ordinal);
        Assert.True(e.Line > 0, e.ToString());
    }

    [Fact]
    public void Route_entries_between_other_tables_are_all_kept()
    {
        // TOML lets [[routes]] entries sit between other tables; each one is an entry of the same array.
        var c = Parse("""
            [transports.a]
            kind = "smtp"
            host = "127.0.0.1"
            port = 2601
            [[routes]]
            recipient_domains = ["a.test"]
            transport = "a"
            [transports.b]
            kind = "smtp"
            host = "127.0.0.1"
            port = 2602
            [[routes]]
            recipient_domains = ["b.test"]
            transport = "b"
            [delivery]
            concurrency = 4
            [[routes]]
            recipient_domains = ["c.test"]
            transport = "b"
            """);
        var table = RouteTable.Create(c.Delivery.Routing);
        Assert.Equal(3, c.Delivery.Routing.GlobalRoutes.Count);
        Assert.Equal("a", table.Resolve(new RouteRequest(null, "x.test", "a.test", 0)).TransportName);
        Assert.Equal("b", table.Resolve(new RouteRequest(null, "x.test", "b.test", 0)).TransportName);
        Assert.Equal("b", table.Resolve(new RouteRequest(null, "x.test", "c.test", 0)).TransportName);
    }

    [Fact]
    public void A_bad_key_in_an_interrupted_route_entry_names_its_own_line()
    {
        var e = Assert.Single(Errors("""
            [transports.a]
            kind = "smtp"
            host = "127.0.0.1"
            [[routes]]
            transport = "a"
            [delivery]
            concurrency = 4
            [[routes]]
            transport = "a"
            colour = "blue"
            """));
        Assert.Equal("routes[1].colour", e.Key);
        Assert.Equal(10, e.Line);
    }

    [Fact]
    public void Transports_and_routes_are_bound_in_their_scopes()
    {
        var c = Parse("""
            [dns]
            servers = ["127.0.0.1", "[::1]:5353"]
            trust_ad = true
            timeout = "2s"
            [delivery]
            ehlo_name = "out.example.org"
            ca_bundle = "certs/roots.pem"
            concurrency = 4
            default_transport = "smarthost"
            [transports.smarthost]
            kind = "submission"
            host = "smtp.example.net"
            username = "me"
            password = "secret"
            mechanisms = ["SCRAM-SHA-256"]
            [transports.v4]
            kind = "direct"
            ipv6 = false
            source_ipv4 = "192.0.2.7"
            [transports.proxy]
            kind = "socks"
            proxy = "127.0.0.1:1080"
            ehlo_name = "proxy.example.org"
            public_ips = ["198.51.100.1"]
            [transports.no]
            kind = "fail"
            code = 451
            enhanced_code = "4.7.1"
            text = "later"
            [[routes]]
            account = "alice"
            transport = "no"
            [[routes]]
            domain = "example.org"
            recipient_domains = [".example.com"]
            transport = "v4"
            [[routes]]
            min_attempts = 3
            transport = "proxy"
            """);
        Assert.Equal([new IPEndPoint(IPAddress.Loopback, 53), new IPEndPoint(IPAddress.IPv6Loopback, 5353)], c.Dns.Servers);
        Assert.True(c.Dns.TrustAdBit);
        Assert.Equal("out.example.org", c.Delivery.EhloName);
        Assert.Equal("/etc/tern/certs/roots.pem", c.Delivery.CaBundle);
        var r = c.Delivery.Routing;
        Assert.Equal("smarthost", r.DefaultTransport);
        var sub = Assert.IsType<SubmissionTransport>(r.Transports.Single(t => t.Name == "smarthost"));
        Assert.Equal(("smtp.example.net", 587, "me", "secret"), (sub.Host, sub.Port, sub.Auth!.Username, sub.Auth.Password));
        Assert.Equal(["SCRAM-SHA-256"], sub.Auth.Mechanisms);
        var v4 = Assert.IsType<DirectTransport>(r.Transports.Single(t => t.Name == "v4"));
        Assert.True(v4.DisableIPv6);
        Assert.Equal(IPAddress.Parse("192.0.2.7"), v4.SourceIPv4);
        var proxy = Assert.IsType<SocksTransport>(r.Transports.Single(t => t.Name == "proxy"));
        Assert.Equal(("127.0.0.1", 1080), (proxy.ProxyHost, proxy.ProxyPort));
        var no = Assert.IsType<FailTransport>(r.Transports.Single(t => t.Name == "no"));
        Assert.Equal((451, "4.7.1", "later"), (no.Code, no.EnhancedCode, no.Text));

        // Account routes first, then the sender domain's, then the global ones.
        var table = RouteTable.Create(r);
        Assert.Equal("no", table.Resolve(new RouteRequest("alice", "example.org", "example.com", 0)).TransportName);
        Assert.Equal("v4", table.Resolve(new RouteRequest(null, "example.org", "mx.example.com", 0)).TransportName);
        Assert.Equal("smarthost", table.Resolve(new RouteRequest(null, "example.org", "example.net", 0)).TransportName);
        Assert.Equal("proxy", table.Resolve(new RouteRequest(null, "example.org", "example.net", 3)).TransportName);
    }

    [Fact]
    public void Every_problem_names_its_line_and_key()
    {
        var errors = Errors("""
            [dns]
            servers = ["resolver.example"]
            [transports.relay]
            kind = "smtp"
            [transports.odd]
            kind = "pigeon"
            [transports.proxy]
            kind = "socks"
            proxy = "proxy.example:1080"
            ehlo_name = "p.example"
            [transports.no]
            kind = "fail"
            code = 250
            [[routes]]
            transport = "nowhere"
            [[routes]]
            account = "a"
            domain = "b.example"
            transport = "relay"
            """);
        Assert.Contains(errors, e => e.Line == 2 && e.Key == "dns.servers" && e.Message.Contains("resolver.example", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Line == 3 && e.Key == "transports.relay.host" && e.Message == "missing");
        Assert.Contains(errors, e => e.Line == 6 && e.Key == "transports.odd.kind" && e.Message.Contains("pigeon", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Line == 9 && e.Key == "transports.proxy.proxy" && e.Message.Contains("IP address", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Line == 13 && e.Key == "transports.no.code");
        Assert.Contains(errors, e => e.Line == 15 && e.Key == "routes[0].transport" && e.Message.Contains("nowhere", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Line == 18 && e.Key == "routes[1].domain");
        Assert.All(errors, e => Assert.Equal(File, e.File));
    }

    [Fact]
    public void Unknown_keys_in_transports_and_routes_are_reported()
    {
        var errors = Errors("""
            [transports.t]
            kind = "direct"
            colour = "red"
            [[routes]]
            transport = "t"
            priority = 1
            """);
        Assert.Contains(errors, e => e.Line == 3 && e.Key == "transports.t.colour" && e.Message == "unknown key");
        Assert.Contains(errors, e => e.Line == 6 && e.Key == "routes[0].priority" && e.Message == "unknown key");
    }
}
