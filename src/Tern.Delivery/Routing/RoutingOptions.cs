namespace Tern.Delivery;

/// <summary>Transports and routes, as the host builds them from its configuration.</summary>
public sealed record RoutingOptions
{
    /// <summary>
    /// The named transports. A built-in <see cref="DirectTransport.Default"/> named "direct" exists
    /// unless one of these takes that name.
    /// </summary>
    public IReadOnlyList<Transport> Transports { get; init; } = [];

    /// <summary>Routes per account name (compared ordinally, as account names are), evaluated first for mail the account submitted.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<Route>> AccountRoutes { get; init; } = new Dictionary<string, IReadOnlyList<Route>>();

    /// <summary>Routes per envelope sender domain (A-label, case-insensitive), evaluated second.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<Route>> DomainRoutes { get; init; } = new Dictionary<string, IReadOnlyList<Route>>();

    /// <summary>Routes for every message, evaluated last.</summary>
    public IReadOnlyList<Route> GlobalRoutes { get; init; } = [];

    /// <summary>The transport used when no route matches.</summary>
    public string DefaultTransport { get; init; } = DirectTransport.DefaultName;
}
