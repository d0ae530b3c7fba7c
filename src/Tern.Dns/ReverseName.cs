using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Tern.Dns;

/// <summary>The PTR owner name of an address.</summary>
internal static class ReverseName
{
    // RFC 1035 section 3.5 (in-addr.arpa: octets reversed) and RFC 3596 section 2.5 (ip6.arpa: nibbles reversed).
    public static string For(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
            address = address.MapToIPv4();
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out var length);
        bytes = bytes[..length];
        var name = new StringBuilder(73);
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            for (var i = bytes.Length - 1; i >= 0; i--)
                name.Append(bytes[i]).Append('.');
            return name.Append("in-addr.arpa").ToString();
        }
        const string hex = "0123456789abcdef";
        for (var i = bytes.Length - 1; i >= 0; i--)
            name.Append(hex[bytes[i] & 0xf]).Append('.').Append(hex[bytes[i] >> 4]).Append('.');
        return name.Append("ip6.arpa").ToString();
    }
}
