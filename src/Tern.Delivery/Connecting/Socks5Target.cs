using System.Net;

namespace Tern.Delivery;

/// <summary>
/// What a SOCKS5 CONNECT asks for (RFC 1928 section 4): an IP address (ATYP 1 or 4), or a domain
/// name (ATYP 3) that the proxy resolves.
/// </summary>
public readonly record struct Socks5Target
{
    public Socks5Target(IPAddress address, int port)
    {
        Address = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        Port = port;
    }

    public Socks5Target(string host, int port)
    {
        Host = host;
        Port = port;
    }

    public IPAddress? Address { get; }

    /// <summary>A domain name in A-label form, at most 255 bytes (RFC 1928 section 5: one length octet).</summary>
    public string? Host { get; }

    public int Port { get; }

    public override string ToString() => Address is { } a ? new IPEndPoint(a, Port).ToString() : $"{Host}:{Port}";
}
