using System.Net;
using Tern.Delivery;

namespace Tern.Config;

/// <summary>Binding of <c>[dns]</c>, <c>[delivery]</c>, <c>[transports.NAME]</c> and <c>[[routes]]</c>.</summary>
public static partial class ConfigLoader
{
    private static DnsConfig BindDns(ConfigTable? t)
    {
        var d = new DnsConfig();
        if (t is null)
        {
            return d;
        }

        List<IPEndPoint>? servers = null;
        if (t.StringArray("servers") is { } list)
        {
            servers = [];
            foreach (var text in list)
            {
                // The endpoint form first: IPAddress.TryParse takes "[::1]:5353" too, and drops the port.
                if (ConfigValues.TryParseEndpoint(text, out var ep) && ep.Port != 0)
                {
                    servers.Add(ep);
                }
                else if (IPAddress.TryParse(text, out var ip) && !text.Contains(']', StringComparison.Ordinal))
                {
                    servers.Add(new IPEndPoint(ip, 53));
                }
                else
                {
                    t.Error("servers", $"expected IP addresses, optionally with a port (\"127.0.0.1\", \"127.0.0.1:5353\", \"[::1]:53\"), got \"{text}\"");
                }
            }

            if (servers.Count == 0 && list.Count == 0)
            {
                t.Error("servers", "must name at least one resolver (leave it out to use /etc/resolv.conf)");
            }
        }

        var config = new DnsConfig
        {
            Servers = servers,
            TrustAdBit = t.Bool("trust_ad", d.TrustAdBit),
            Timeout = t.Duration("timeout", d.Timeout, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(60)),
            Attempts = (int)t.Integer("attempts", d.Attempts, 1, 10),
            CacheEntries = (int)t.Integer("cache_entries", d.CacheEntries, 0, 10_000_000),
        };
        t.Finish();
        return config;
    }

    private static DeliveryConfig BindDelivery(ConfigTable? delivery, ConfigTable? transports, IReadOnlyList<ConfigTable> routes, IReadOnlyList<ConfigTable> destinations, string baseDirectory)
    {
        var d = new DeliveryConfig();
        var config = d;
        if (delivery is not null)
        {
            var ehlo = delivery.OptionalString("ehlo_name");
            if (ehlo is not null && !IsDomainName(ehlo))
            {
                delivery.Error("ehlo_name", $"\"{ehlo}\" is not a valid host name");
            }

            var ca = delivery.OptionalString("ca_bundle");
            config = new DeliveryConfig
            {
                Enabled = delivery.Bool("enabled", d.Enabled),
                EhloName = ehlo,
                CaBundle = ca is null ? null : Path.GetFullPath(ca, baseDirectory),
                ConnectTimeout = delivery.Duration("connect_timeout", d.ConnectTimeout, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(5)),
                MaxRecipientsPerTransaction = (int)delivery.Integer("max_recipients", d.MaxRecipientsPerTransaction, 1, 100_000),
                Strict8BitMime = delivery.Bool("strict_8bitmime", d.Strict8BitMime),
                DirectPort = (int)delivery.Integer("direct_port", d.DirectPort, 1, 65535),
                MtaSts = delivery.Bool("mta_sts", d.MtaSts),
                MtaStsPort = (int)delivery.Integer("mta_sts_port", d.MtaStsPort, 1, 65535),
                Scheduler = BindScheduler(delivery, d.Scheduler),
            };
            var defaultTransport = delivery.String("default_transport", DirectTransport.DefaultName);
            config = config with { Routing = config.Routing with { DefaultTransport = defaultTransport } };
            delivery.Finish();
        }

        config = config with { Scheduler = config.Scheduler with { Destinations = BindDestinations(destinations, config.Scheduler.Destinations.Default with { MaxRecipientsPerTransaction = config.MaxRecipientsPerTransaction }) } };
        var lines = new Dictionary<string, ConfigTable>(StringComparer.Ordinal);
        var bound = new List<Transport>();
        if (transports is not null)
        {
            foreach (var (name, table) in transports.NamedTables())
            {
                lines[name] = table;
                if (BindTransport(name, table) is { } transport)
                {
                    bound.Add(transport);
                }

                table.Finish();
            }

            transports.Finish();
        }

        var accountRoutes = new Dictionary<string, List<Route>>(StringComparer.Ordinal);
        var domainRoutes = new Dictionary<string, List<Route>>(StringComparer.OrdinalIgnoreCase);
        var globalRoutes = new List<Route>();
        var routeTables = new Dictionary<RouteLocation, ConfigTable>();
        foreach (var table in routes)
        {
            var account = table.OptionalString("account");
            var domain = table.OptionalString("domain");
            if (account is not null && domain is not null)
            {
                table.Error("domain", "a route belongs to an account or to a sender domain, not both");
            }

            var transport = table.OptionalString("transport");
            if (transport is null)
            {
                table.Error("transport", "missing: the name of the transport this route sends through");
            }

            var route = new Route
            {
                SenderDomains = table.StringArray("sender_domains") ?? [],
                RecipientDomains = table.StringArray("recipient_domains") ?? [],
                MinimumAttempts = (int)table.Integer("min_attempts", 0, 0, 1000),
                Transport = transport ?? string.Empty,
            };
            table.Finish();
            RouteLocation location;
            if (account is not null)
            {
                var list = accountRoutes.TryGetValue(account, out var l) ? l : accountRoutes[account] = [];
                location = new RouteLocation(RouteScope.Account, account, list.Count);
                list.Add(route);
            }
            else if (domain is not null)
            {
                var list = domainRoutes.TryGetValue(domain, out var l) ? l : domainRoutes[domain] = [];
                location = new RouteLocation(RouteScope.SenderDomain, domain, list.Count);
                list.Add(route);
            }
            else
            {
                location = new RouteLocation(RouteScope.Global, string.Empty, globalRoutes.Count);
                globalRoutes.Add(route);
            }

            routeTables[location] = table;
        }

        var routing = config.Routing with
        {
            Transports = bound,
            AccountRoutes = accountRoutes.ToDictionary(p => p.Key, p => (IReadOnlyList<Route>)p.Value, StringComparer.Ordinal),
            DomainRoutes = domainRoutes.ToDictionary(p => p.Key, p => (IReadOnlyList<Route>)p.Value, StringComparer.OrdinalIgnoreCase),
            GlobalRoutes = globalRoutes,
        };

        // The library checks the whole set (names, references, values); each problem goes back to its table and key.
        foreach (var error in RouteTable.Validate(routing))
        {
            if (error.Transport is { } name && lines.TryGetValue(name, out var t))
            {
                t.Error(TransportKey(error.Property), error.Message);
            }
            else if (error.Route is { } at && routeTables.TryGetValue(at, out var r))
            {
                r.Error(RouteKey(error.Property), error.Message);
            }
            else if (delivery is not null)
            {
                delivery.Error("default_transport", error.Message);
            }
            else if (routes.Count > 0)
            {
                routes[0].Error("transport", error.ToString());
            }
        }

        return config with { Routing = routing };
    }

    private static Transport? BindTransport(string name, ConfigTable t)
    {
        var kind = t.OptionalString("kind");
        switch (kind)
        {
            case "direct":
                return new DirectTransport
                {
                    Name = name,
                    DisableIPv4 = !t.Bool("ipv4", true),
                    DisableIPv6 = !t.Bool("ipv6", true),
                    SourceIPv4 = Address(t, "source_ipv4", System.Net.Sockets.AddressFamily.InterNetwork),
                    SourceIPv6 = Address(t, "source_ipv6", System.Net.Sockets.AddressFamily.InterNetworkV6),
                    EhloName = t.OptionalString("ehlo_name"),
                };
            case "smtp":
                return Smarthost(t, new SmtpTransport { Name = name, Host = string.Empty, RequireTls = t.Bool("require_tls", true) });
            case "submission":
                return Smarthost(t, new SubmissionTransport { Name = name, Host = string.Empty });
            case "submissions":
                return Smarthost(t, new SubmissionsTransport { Name = name, Host = string.Empty });
            case "socks":
            {
                var proxy = Required(t, "proxy");
                IPEndPoint? endpoint = null;
                if (proxy.Length > 0 && !(ConfigValues.TryParseEndpoint(proxy, out endpoint) && endpoint.Port != 0))
                {
                    // An IP literal: a static binary has no system resolver to look a name up with.
                    t.Error("proxy", $"expected the proxy's IP address and port, such as \"127.0.0.1:1080\" or \"[::1]:1080\", got \"{proxy}\"");
                }

                var user = t.OptionalString("username");
                var password = t.OptionalString("password");
                if ((user is null) != (password is null))
                {
                    t.Error(user is null ? "username" : "password", "username and password go together");
                }

                var ips = new List<IPAddress>();
                foreach (var text in t.StringArray("public_ips") ?? [])
                {
                    if (IPAddress.TryParse(text, out var ip))
                    {
                        ips.Add(ip);
                    }
                    else
                    {
                        t.Error("public_ips", $"\"{text}\" is not an IP address");
                    }
                }

                return new SocksTransport
                {
                    Name = name,
                    ProxyHost = endpoint?.Address.ToString() ?? string.Empty,
                    ProxyPort = endpoint?.Port ?? SocksTransport.DefaultProxyPort,
                    Credentials = user is not null && password is not null ? new Socks5Credentials(user, password) : null,
                    EhloName = Required(t, "ehlo_name"),
                    PublicAddresses = ips,
                };
            }

            case "fail":
                return new FailTransport
                {
                    Name = name,
                    Code = (int)t.Integer("code", 554, 400, 599),
                    EnhancedCode = t.String("enhanced_code", "5.0.0"),
                    Text = t.String("text", "delivery refused by the fail transport"),
                };
            case null:
                t.Error("kind", "missing: one of direct, smtp, submission, submissions, socks, fail");
                return null;
            default:
                t.Error("kind", $"\"{kind}\" is not a transport kind (direct, smtp, submission, submissions, socks, fail)");
                return null;
        }
    }

    /// <summary>The keys every smarthost kind shares; <paramref name="kind"/> brings its own default port.</summary>
    private static SmarthostTransport Smarthost(ConfigTable t, SmarthostTransport kind) => kind with
    {
        Host = Required(t, "host"),
        Port = (int)t.Integer("port", kind.Port, 1, 65535),
        VerifyTls = t.Bool("verify_tls", true),
        Auth = Auth(t),
        EhloName = t.OptionalString("ehlo_name"),
    };

    private static string Required(ConfigTable t, string key)
    {
        if (t.OptionalString(key) is { Length: > 0 } value)
        {
            return value;
        }

        t.Error(key, "missing");
        return string.Empty;
    }

    private static IPAddress? Address(ConfigTable t, string key, System.Net.Sockets.AddressFamily family)
    {
        if (t.OptionalString(key) is not { } text)
        {
            return null;
        }

        if (IPAddress.TryParse(text, out var ip) && ip.AddressFamily == family)
        {
            return ip;
        }

        t.Error(key, $"\"{text}\" is not an {(family == System.Net.Sockets.AddressFamily.InterNetwork ? "IPv4" : "IPv6")} address");
        return null;
    }

    private static SmarthostAuth? Auth(ConfigTable t)
    {
        var user = t.OptionalString("username");
        var password = t.OptionalString("password");
        var mechanisms = t.StringArray("mechanisms");
        if (user is null && password is null)
        {
            if (mechanisms is not null)
            {
                t.Error("mechanisms", "needs username and password");
            }

            return null;
        }

        if (user is null || password is null)
        {
            t.Error(user is null ? "username" : "password", "username and password go together");
            return null;
        }

        return new SmarthostAuth(user, password, mechanisms ?? []);
    }

    /// <summary>The TOML key of a transport property named in a library error.</summary>
    private static string TransportKey(string property) => property switch
    {
        nameof(Transport.Name) => "kind",
        nameof(SmarthostTransport.Host) => "host",
        nameof(SmarthostTransport.Port) => "port",
        nameof(SmarthostTransport.Auth) => "username",
        nameof(SmarthostTransport.EhloName) => "ehlo_name",
        nameof(DirectTransport.SourceIPv4) => "source_ipv4",
        nameof(DirectTransport.SourceIPv6) => "source_ipv6",
        nameof(DirectTransport.DisableIPv4) => "ipv4",
        nameof(DirectTransport.DisableIPv6) => "ipv6",
        nameof(SocksTransport.ProxyHost) or nameof(SocksTransport.ProxyPort) => "proxy",
        nameof(SocksTransport.Credentials) => "username",
        nameof(SocksTransport.PublicAddresses) => "public_ips",
        nameof(FailTransport.Code) => "code",
        nameof(FailTransport.EnhancedCode) => "enhanced_code",
        nameof(FailTransport.Text) => "text",
        _ => "kind",
    };

    private static string RouteKey(string property) => property switch
    {
        nameof(Route.SenderDomains) => "sender_domains",
        nameof(Route.RecipientDomains) => "recipient_domains",
        nameof(Route.MinimumAttempts) => "min_attempts",
        _ => "transport",
    };
}
