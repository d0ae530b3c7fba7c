namespace Tern.Dns;

/// <summary>Which address families delivery may use. Built by the host from its configuration.</summary>
public sealed record DestinationOptions
{
    public bool UseIPv4 { get; init; } = true;

    public bool UseIPv6 { get; init; } = true;
}
