namespace Tern.Delivery;

/// <summary>Why a transport was chosen.</summary>
public enum RouteSource
{
    /// <summary>The operator set the transport on the message (<c>tern queue set transport</c>).</summary>
    Override,

    /// <summary>A route matched (<see cref="RouteResult.Route"/>).</summary>
    Route,

    /// <summary>No route matched: the default transport.</summary>
    Default,
}

/// <summary>
/// The outcome of routing one attempt: the transport, why it was chosen (for logs), and whether the
/// attempt must end at once (<see cref="Failure"/>: a <see cref="FailTransport"/>, a REQUIRETLS
/// message on a transport without verified TLS, or an operator-set transport that no longer exists).
/// </summary>
/// <param name="Transport">The chosen transport; null only when an override names an unknown transport.</param>
/// <param name="Route">The matching route and its location, for <see cref="RouteSource.Route"/>.</param>
public sealed record RouteResult(Transport? Transport, string TransportName, RouteSource Source, RouteLocation? Location, Route? Route, DeliveryFailure? Failure)
{
    public bool Failed => Failure is not null;
}
