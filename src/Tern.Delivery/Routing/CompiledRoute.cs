namespace Tern.Delivery;

/// <summary>A validated route with its transport looked up, ready for matching on every attempt.</summary>
internal sealed class CompiledRoute(Route route, RouteLocation location, Transport transport)
{
    private readonly string[] _senders = [.. route.SenderDomains];
    private readonly string[] _recipients = [.. route.RecipientDomains];

    public Route Route { get; } = route;

    public RouteLocation Location { get; } = location;

    public Transport Transport { get; } = transport;

    /// <summary>A route with sender domains never matches the null sender (empty <see cref="RouteRequest.SenderDomain"/>).</summary>
    public bool Matches(in RouteRequest r) =>
        r.Attempts >= Route.MinimumAttempts
        && (_senders.Length == 0 || (r.SenderDomain.Length > 0 && DomainPattern.MatchesAny(_senders, r.SenderDomain)))
        && DomainPattern.MatchesAny(_recipients, r.RecipientDomain);
}
