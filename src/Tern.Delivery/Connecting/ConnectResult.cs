using System.Net;
using System.Net.Sockets;

namespace Tern.Delivery;

/// <summary>
/// The outcome of <see cref="IConnector.ConnectAsync"/>: a connected socket (owned by the caller)
/// or none, and what went wrong with each address tried before.
/// </summary>
/// <param name="Socket">The connected socket (through the proxy, for SOCKS); null when no address accepted.</param>
/// <param name="Remote">The address and port reached (the target, not the proxy).</param>
/// <param name="Local">
/// Our end: the socket's local address, or for SOCKS the address the proxy reports it connected from
/// (BND.ADDR, RFC 1928 section 6), null when the proxy gave a name.
/// </param>
/// <param name="Errors">One per address that failed or was skipped, in the order tried.</param>
/// <param name="TimedOut">The connect timeout ran out (addresses after the last error were not tried).</param>
public sealed record ConnectResult(Socket? Socket, IPEndPoint? Remote, IPEndPoint? Local, IReadOnlyList<ConnectError> Errors, bool TimedOut)
{
    public bool Connected => Socket is not null;

    /// <summary>All errors on one line, for a log line or a temporary-failure reply text.</summary>
    public string Describe() => Errors.Count == 0 ? "no addresses" : string.Join("; ", Errors);
}
