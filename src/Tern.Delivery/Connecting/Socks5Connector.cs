using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Tern.Observability.Logging;

namespace Tern.Delivery;

/// <summary>
/// Connections through a SOCKS5 proxy (RFC 1928), one proxy connection and CONNECT per target
/// address, with "no authentication" or username/password (RFC 1929). The returned socket is the
/// connection to the proxy, already tunnelled to the target. The connect timeout covers reaching
/// the proxy and every negotiation. A proxy that cannot be reached or refuses our credentials ends
/// the call at once; a failed CONNECT moves on to the next address.
/// </summary>
public sealed class Socks5Connector : IConnector
{
    private readonly ConnectLoop _loop;

    /// <param name="options">Timeout and family switches apply to the targets; source addresses to the connection to the proxy.</param>
    public Socks5Connector(Socks5ProxyOptions proxy, ConnectorOptions options, ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(proxy);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggers);
        Proxy = proxy;
        _loop = new ConnectLoop(options, loggers.CreateLogger(LogComponents.Delivery), $"socks5 {proxy.Host}:{proxy.Port}");
    }

    public Socks5ProxyOptions Proxy { get; }

    public ConnectorOptions Options => _loop.Options;

    /// <summary>CONNECT by IP address (RFC 1928 ATYP 1 and 4) to each address in turn.</summary>
    public Task<ConnectResult> ConnectAsync(string host, IReadOnlyList<IPAddress> addresses, int port, CancellationToken cancel = default) =>
        _loop.RunAsync(host, addresses, port, AttemptAsync, cancel);

    /// <summary>
    /// CONNECT by domain name (RFC 1928 ATYP 3): the proxy resolves <paramref name="host"/> (in
    /// A-label form). <see cref="ConnectResult.Remote"/> is then null: the proxy does not say which
    /// address it reached.
    /// </summary>
    public Task<ConnectResult> ConnectToHostAsync(string host, int port, CancellationToken cancel = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
        return _loop.RunOneAsync(host, new Socks5Target(host, port), AttemptAsync, cancel);
    }

    private async Task<(Socket, IPEndPoint?)> AttemptAsync(Socks5Target target, CancellationToken deadline)
    {
        var socket = await OpenProxyAsync(deadline);
        try
        {
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            var bound = await Socks5Handshake.ConnectAsync(stream, target, Proxy.Credentials, deadline);
            return (socket, bound);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>A TCP connection to the proxy, trying each of its addresses; any failure is fatal for the call.</summary>
    private async Task<Socket> OpenProxyAsync(CancellationToken deadline)
    {
        // An IP literal only: a host name would need the system resolver (getaddrinfo), which a static
        // binary cannot use; the host checks the configuration for it.
        if (!IPAddress.TryParse(Proxy.Host, out var literal))
        {
            throw Unavailable($"SOCKS5 proxy {Proxy.Host}: not an IP address", null);
        }

        IPAddress[] addresses = [literal];
        Exception? last = null;
        foreach (var address in addresses)
        {
            try
            {
                return await DirectConnector.OpenAsync(new IPEndPoint(address, Proxy.Port), Options, deadline);
            }
            catch (Exception e) when (e is SocketException or ConnectFailureException)
            {
                last = e;
            }
        }

        throw Unavailable($"cannot connect to SOCKS5 proxy {Proxy.Host}:{Proxy.Port}: {last?.Message ?? "no address"}", last);
    }

    private static ConnectFailureException Unavailable(string message, Exception? inner) =>
        new(ConnectErrorKind.ProxyUnavailable, true, message, inner: inner);
}
