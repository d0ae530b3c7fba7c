namespace Tern.Delivery;

/// <summary>Which list of routes a route belongs to, in the order they are evaluated.</summary>
public enum RouteScope
{
    /// <summary>Routes of the authenticated account that submitted the message.</summary>
    Account,

    /// <summary>Routes of the envelope sender's domain.</summary>
    SenderDomain,

    /// <summary>Routes for every message.</summary>
    Global,
}

/// <summary>
/// Where a route is: its list and its 0-based position in it. Names the route in log lines and in
/// validation errors (the host maps it back to a file and line).
/// </summary>
/// <param name="Owner">The account name or sender domain; empty for <see cref="RouteScope.Global"/>.</param>
public sealed record RouteLocation(RouteScope Scope, string Owner, int Index)
{
    public override string ToString() => Scope switch
    {
        RouteScope.Account => $"route {Index} of account \"{Owner}\"",
        RouteScope.SenderDomain => $"route {Index} of domain \"{Owner}\"",
        _ => $"global route {Index}",
    };
}
