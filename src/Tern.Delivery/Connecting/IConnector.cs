using System.Net;

namespace Tern.Delivery;

/// <summary>
/// Opens the TCP connection for one SMTP session: to the first of a host's addresses that accepts,
/// in the order given (the caller orders them: MX preference, address family alternation, the
/// address that worked last time first). One connect timeout covers all addresses.
/// </summary>
public interface IConnector
{
    /// <summary>
    /// Connects to <paramref name="addresses"/> in order on <paramref name="port"/>. Failures are
    /// values (<see cref="ConnectResult.Errors"/>, one per address tried or skipped); only the
    /// caller's <paramref name="cancel"/> throws (<see cref="OperationCanceledException"/>).
    /// </summary>
    /// <param name="host">The host's name, for logs and error messages.</param>
    Task<ConnectResult> ConnectAsync(string host, IReadOnlyList<IPAddress> addresses, int port, CancellationToken cancel = default);
}
