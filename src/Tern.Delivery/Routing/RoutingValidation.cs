namespace Tern.Delivery;

/// <summary>Checks a whole set of transports and routes; problems are returned as values.</summary>
internal static class RoutingValidation
{
    public static List<RoutingError> Check(RoutingOptions o, out Dictionary<string, Transport> transports)
    {
        var errors = new List<RoutingError>();
        transports = new Dictionary<string, Transport>(StringComparer.Ordinal) { [DirectTransport.DefaultName] = DirectTransport.Default };
        var defined = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in o.Transports)
        {
            TransportValidation.Check(t, errors);
            if (!defined.Add(t.Name))
            {
                errors.Add(new RoutingError(t.Name, null, nameof(Transport.Name), "defined more than once"));
                continue;
            }

            transports[t.Name] = t;
        }

        if (!transports.ContainsKey(o.DefaultTransport))
        {
            errors.Add(new RoutingError(null, null, nameof(RoutingOptions.DefaultTransport), $"unknown transport \"{o.DefaultTransport}\""));
        }

        foreach (var (account, routes) in o.AccountRoutes.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (account.Length == 0)
            {
                errors.Add(new RoutingError(null, null, nameof(RoutingOptions.AccountRoutes), "routes for an empty account name"));
            }

            CheckRoutes(RouteScope.Account, account, routes, transports, errors);
        }

        var domains = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (domain, routes) in o.DomainRoutes.OrderBy(p => p.Key, StringComparer.OrdinalIgnoreCase))
        {
            if (DomainPattern.DomainProblem(domain, domain) is { } problem)
            {
                errors.Add(new RoutingError(null, null, nameof(RoutingOptions.DomainRoutes), problem));
            }
            else if (!domains.Add(domain))
            {
                errors.Add(new RoutingError(null, null, nameof(RoutingOptions.DomainRoutes), $"routes for \"{domain}\" given more than once (domains are case-insensitive)"));
            }

            CheckRoutes(RouteScope.SenderDomain, domain, routes, transports, errors);
        }

        CheckRoutes(RouteScope.Global, string.Empty, o.GlobalRoutes, transports, errors);
        return errors;
    }

    private static void CheckRoutes(RouteScope scope, string owner, IReadOnlyList<Route> routes, Dictionary<string, Transport> transports, List<RoutingError> errors)
    {
        for (var i = 0; i < routes.Count; i++)
        {
            var route = routes[i];
            var at = new RouteLocation(scope, owner, i);
            if (route.Transport.Length == 0)
            {
                errors.Add(new RoutingError(null, at, nameof(Route.Transport), "no transport given"));
            }
            else if (!transports.ContainsKey(route.Transport))
            {
                errors.Add(new RoutingError(null, at, nameof(Route.Transport), $"unknown transport \"{route.Transport}\""));
            }

            if (route.MinimumAttempts < 0)
            {
                errors.Add(new RoutingError(null, at, nameof(Route.MinimumAttempts), $"{route.MinimumAttempts} is negative"));
            }

            foreach (var d in route.SenderDomains)
            {
                if (DomainPattern.Problem(d) is { } problem)
                {
                    errors.Add(new RoutingError(null, at, nameof(Route.SenderDomains), problem));
                }
            }

            foreach (var d in route.RecipientDomains)
            {
                if (DomainPattern.Problem(d) is { } problem)
                {
                    errors.Add(new RoutingError(null, at, nameof(Route.RecipientDomains), problem));
                }
            }
        }
    }
}
