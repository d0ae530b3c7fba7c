namespace Tern.Delivery;

/// <summary>
/// A problem in transports or routes, as a value, so that the host can report it with the file and
/// line it took the item from. Exactly one of <see cref="Transport"/> and <see cref="Route"/> is set
/// (or neither, for <see cref="RoutingOptions.DefaultTransport"/>).
/// </summary>
/// <param name="Transport">The name of the transport at fault.</param>
/// <param name="Route">The route at fault.</param>
/// <param name="Property">The property of <see cref="Tern.Delivery.Transport"/>, <see cref="Tern.Delivery.Route"/> or <see cref="RoutingOptions"/> at fault (C# name; the host maps it to its key).</param>
public sealed record RoutingError(string? Transport, RouteLocation? Route, string Property, string Message)
{
    public override string ToString() =>
        Transport is not null ? $"transport \"{Transport}\": {Property}: {Message}"
        : Route is not null ? $"{Route}: {Property}: {Message}"
        : $"{Property}: {Message}";
}
