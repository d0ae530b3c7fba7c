using System.Net;
using System.Net.Sockets;

namespace Tern.Smtp.Server;

/// <summary>
/// The key under which per-client limits are counted: the IPv4 address, or the IPv6 /64 (one
/// subscriber usually holds a whole /64, so per-address keys would give it 2^64 fresh budgets).
/// </summary>
internal static class ClientAddress
{
    public static IPAddress LimitKey(IPAddress address)
    {
        if (address.AddressFamily != AddressFamily.InterNetworkV6 || address.IsIPv4MappedToIPv6)
        {
            return address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes);
    }
}
