using System.Net;
using System.Net.Sockets;

namespace Tern.Delivery;

/// <summary>Why one address did not give a connection.</summary>
public enum ConnectErrorKind
{
    /// <summary>Not tried: its address family is disabled for the transport.</summary>
    Skipped,

    /// <summary>The host refused (TCP reset; SOCKS5 reply 5).</summary>
    Refused,

    /// <summary>No route to the network or host (ICMP unreachable; SOCKS5 replies 3 and 4).</summary>
    Unreachable,

    /// <summary>The connect timeout ran out, the kernel gave up, or SOCKS5 reply 6 (TTL expired).</summary>
    TimedOut,

    /// <summary>Another socket error, a source address that cannot be bound, or SOCKS5 reply 1 (general failure).</summary>
    Failed,

    /// <summary>The SOCKS5 proxy's rules forbid this target (reply 2).</summary>
    NotAllowed,

    /// <summary>The SOCKS5 proxy itself could not be resolved or reached; no further address is tried.</summary>
    ProxyUnavailable,

    /// <summary>The SOCKS5 proxy refused our authentication (RFC 1928 method X'FF', RFC 1929 status); no further address is tried.</summary>
    ProxyAuthentication,

    /// <summary>The SOCKS5 proxy broke the protocol or does not support the request (replies 7, 8, unassigned codes).</summary>
    ProxyProtocol,
}

/// <summary>One target's failure.</summary>
/// <param name="Target">The target as tried: an IP address, or a host name given to a SOCKS5 proxy.</param>
/// <param name="Address">The target address (not the proxy's); null for a host name.</param>
/// <param name="SocketError">The socket error, when there was one.</param>
/// <param name="ProxyReply">The SOCKS5 reply code, when the proxy answered the CONNECT with a failure.</param>
public sealed record ConnectError(string Target, IPAddress? Address, ConnectErrorKind Kind, string Message, SocketError? SocketError = null, Socks5Reply? ProxyReply = null)
{
    public override string ToString() => $"{Target}: {Message}";
}
