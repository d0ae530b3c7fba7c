using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Tern.Observability.Logging;

namespace Tern.Delivery;

/// <summary>Plain TCP connections from this host (RFC 793/9293), binding the configured source address per family.</summary>
public sealed class DirectConnector : IConnector
{
    private readonly ConnectLoop _loop;

    public DirectConnector(ConnectorOptions options, ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggers);
        _loop = new ConnectLoop(options, loggers.CreateLogger(LogComponents.Delivery), "direct");
    }

    public ConnectorOptions Options => _loop.Options;

    public Task<ConnectResult> ConnectAsync(string host, IReadOnlyList<IPAddress> addresses, int port, CancellationToken cancel = default) =>
        _loop.RunAsync(host, addresses, port, AttemptAsync, cancel);

    private async Task<(Socket, IPEndPoint?)> AttemptAsync(Socks5Target target, CancellationToken deadline)
    {
        var address = target.Address ?? throw new ArgumentException("a direct connection needs an address", nameof(target));
        var socket = await OpenAsync(new IPEndPoint(address, target.Port), Options, deadline);
        return (socket, socket.LocalEndPoint as IPEndPoint);
    }

    /// <summary>A socket connected to <paramref name="remote"/>, bound first to the source address of its family when one is configured.</summary>
    internal static async Task<Socket> OpenAsync(IPEndPoint remote, ConnectorOptions options, CancellationToken deadline)
    {
        // Nagle off, as on the server's sockets. The client writes a large message's content in
        // several writes and then waits for the reply: with Nagle on, the last partial segment waits
        // for the ACK of the data before it, and a receiver that delays its ACK (it has nothing to
        // send until it has the final dot) stalls each such transaction up to its ACK timer. A
        // pipelined group of commands is one write, so no small packets are added.
        var socket = new Socket(remote.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            var source = remote.AddressFamily == AddressFamily.InterNetwork ? options.SourceIPv4 : options.SourceIPv6;
            if (source is not null)
            {
                try
                {
                    socket.Bind(new IPEndPoint(source, 0));
                }
                catch (SocketException e)
                {
                    throw new ConnectFailureException(ConnectErrorKind.Failed, false, $"cannot bind source address {source}: {e.Message}", inner: e);
                }
            }

            await socket.ConnectAsync(remote, deadline);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
