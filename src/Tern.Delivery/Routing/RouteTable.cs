using System.Diagnostics.CodeAnalysis;

namespace Tern.Delivery;

/// <summary>
/// Chooses the transport for each delivery attempt. Evaluated on every attempt (a route may start to
/// match after some attempts): the operator's transport set on the message wins; otherwise the
/// account's routes (mail it submitted), then the sender domain's, then the global ones, first match
/// wins; no match: the default transport (built-in "direct"). Immutable and thread-safe; the host
/// builds a new one when the configuration changes.
/// </summary>
public sealed class RouteTable
{
    private readonly Dictionary<string, Transport> _transports;
    private readonly Dictionary<string, CompiledRoute[]> _accountRoutes;
    private readonly Dictionary<string, CompiledRoute[]> _domainRoutes;
    private readonly CompiledRoute[] _globalRoutes;

    private RouteTable(RoutingOptions options, Dictionary<string, Transport> transports)
    {
        _transports = transports;
        DefaultTransport = transports[options.DefaultTransport];
        _accountRoutes = options.AccountRoutes.ToDictionary(
            p => p.Key, p => Compile(RouteScope.Account, p.Key, p.Value), StringComparer.Ordinal);
        _domainRoutes = options.DomainRoutes.ToDictionary(
            p => p.Key, p => Compile(RouteScope.SenderDomain, p.Key, p.Value), StringComparer.OrdinalIgnoreCase);
        _globalRoutes = Compile(RouteScope.Global, string.Empty, options.GlobalRoutes);
    }

    /// <summary>Every transport by name, the built-in "direct" included.</summary>
    public IReadOnlyDictionary<string, Transport> Transports => _transports;

    /// <summary>The transport used when no route matches.</summary>
    public Transport DefaultTransport { get; }

    /// <summary>Every problem in <paramref name="options"/> (empty when it is usable).</summary>
    public static IReadOnlyList<RoutingError> Validate(RoutingOptions options) => RoutingValidation.Check(options, out _);

    /// <summary>The table for <paramref name="options"/>, or null and the problems that prevent it.</summary>
    public static bool TryCreate(RoutingOptions options, [NotNullWhen(true)] out RouteTable? table, out IReadOnlyList<RoutingError> errors)
    {
        var problems = RoutingValidation.Check(options, out var transports);
        errors = problems;
        table = problems.Count == 0 ? new RouteTable(options, transports) : null;
        return table is not null;
    }

    /// <summary>The table for <paramref name="options"/>; <see cref="ArgumentException"/> listing the problems when invalid.</summary>
    public static RouteTable Create(RoutingOptions options) =>
        TryCreate(options, out var table, out var errors)
            ? table
            : throw new ArgumentException("invalid routing: " + string.Join("; ", errors), nameof(options));

    /// <summary>The transport named <paramref name="name"/>, or null.</summary>
    public Transport? Find(string name) => _transports.GetValueOrDefault(name);

    /// <summary>
    /// The transport for one attempt, why it was chosen, and whether the attempt ends at once:
    /// a <see cref="FailTransport"/> gives its configured reply; a REQUIRETLS message on a transport
    /// that does not verify TLS fails with 550 5.7.30 (RFC 8689 section 4.2.1 forbids delivery
    /// without verified TLS; 5.7.30 "REQUIRETLS support required" is registered in its section 7);
    /// an operator-set transport that no longer exists is a temporary 451 4.3.5 (RFC 3463 "system
    /// incorrectly configured"), so that fixing the configuration or clearing the transport resumes delivery.
    /// </summary>
    public RouteResult Resolve(in RouteRequest request)
    {
        if (!string.IsNullOrEmpty(request.TransportOverride))
        {
            var name = request.TransportOverride;
            return _transports.TryGetValue(name, out var chosen)
                ? Finish(chosen, RouteSource.Override, null, request.RequireTls)
                : new RouteResult(null, name, RouteSource.Override, null, null,
                    new DeliveryFailure(451, "4.3.5", $"transport \"{name}\" set on the message is not configured"));
        }

        if (request.Account is { } account && _accountRoutes.TryGetValue(account, out var routes) && First(routes, request) is { } byAccount)
        {
            return Finish(byAccount.Transport, RouteSource.Route, byAccount, request.RequireTls);
        }

        if (request.SenderDomain.Length > 0 && _domainRoutes.TryGetValue(request.SenderDomain, out routes) && First(routes, request) is { } byDomain)
        {
            return Finish(byDomain.Transport, RouteSource.Route, byDomain, request.RequireTls);
        }

        return First(_globalRoutes, request) is { } global
            ? Finish(global.Transport, RouteSource.Route, global, request.RequireTls)
            : Finish(DefaultTransport, RouteSource.Default, null, request.RequireTls);
    }

    private static CompiledRoute? First(CompiledRoute[] routes, in RouteRequest request)
    {
        foreach (var r in routes)
        {
            if (r.Matches(request))
            {
                return r;
            }
        }

        return null;
    }

    private static RouteResult Finish(Transport t, RouteSource source, CompiledRoute? route, bool requireTls)
    {
        var failure = t switch
        {
            FailTransport f => f.Failure,
            _ when requireTls && !t.VerifiesTls => new DeliveryFailure(550, "5.7.30", $"REQUIRETLS: transport \"{t.Name}\" does not verify TLS"),
            _ => null,
        };
        return new RouteResult(t, t.Name, source, route?.Location, route?.Route, failure);
    }

    private CompiledRoute[] Compile(RouteScope scope, string owner, IReadOnlyList<Route> routes) =>
        [.. routes.Select((r, i) => new CompiledRoute(r, new RouteLocation(scope, owner, i), _transports[r.Transport]))];
}
