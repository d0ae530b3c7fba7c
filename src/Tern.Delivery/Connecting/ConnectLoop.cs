using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Tern.Delivery;

/// <summary>
/// What both connectors share: addresses in the given order, family switches, one deadline for the
/// whole call, and every failure turned into a <see cref="ConnectError"/>.
/// </summary>
internal sealed class ConnectLoop(ConnectorOptions options, ILogger log, string via)
{
    /// <summary>Opens one connection to a target before the deadline; returns the socket and our end as the peer sees it.</summary>
    public delegate Task<(Socket Socket, IPEndPoint? Local)> Attempt(Socks5Target target, CancellationToken deadline);

    public ConnectorOptions Options { get; } = options;

    public async Task<ConnectResult> RunAsync(string host, IReadOnlyList<IPAddress> addresses, int port, Attempt attempt, CancellationToken cancel)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
        var errors = new List<ConnectError>();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        deadline.CancelAfter(Options.Timeout);
        foreach (var given in addresses)
        {
            var address = given.IsIPv4MappedToIPv6 ? given.MapToIPv4() : given;
            var v4 = address.AddressFamily == AddressFamily.InterNetwork;
            if (v4 ? Options.DisableIPv4 : Options.DisableIPv6)
            {
                Failed(host, port, errors, new ConnectError(address.ToString(), address, ConnectErrorKind.Skipped, v4 ? "IPv4 is disabled" : "IPv6 is disabled"));
                continue;
            }

            var (result, stop) = await TryAsync(host, new Socks5Target(address, port), attempt, errors, deadline, cancel);
            if (result is not null)
            {
                return result;
            }

            if (stop)
            {
                break;
            }
        }

        return NotConnected(host, port, errors, deadline, cancel);
    }

    /// <summary>One target (an address, or a name for the proxy to resolve) under the same rules.</summary>
    public async Task<ConnectResult> RunOneAsync(string host, Socks5Target target, Attempt attempt, CancellationToken cancel)
    {
        var errors = new List<ConnectError>();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        deadline.CancelAfter(Options.Timeout);
        var (result, _) = await TryAsync(host, target, attempt, errors, deadline, cancel);
        return result ?? NotConnected(host, target.Port, errors, deadline, cancel);
    }

    private async Task<(ConnectResult? Result, bool Stop)> TryAsync(
        string host, Socks5Target target, Attempt attempt, List<ConnectError> errors, CancellationTokenSource deadline, CancellationToken cancel)
    {
        var text = target.Address?.ToString() ?? target.Host ?? string.Empty;
        try
        {
            var (socket, local) = await attempt(target, deadline.Token);
            var remote = target.Address is { } a ? new IPEndPoint(a, target.Port) : null;
            DeliveryLog.Connected(log, host, target.ToString(), local, via);
            return (new ConnectResult(socket, remote, local, errors, false), false);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or IOException)
        {
            cancel.ThrowIfCancellationRequested();
            if (deadline.IsCancellationRequested)
            {
                Failed(host, target.Port, errors, new ConnectError(text, target.Address, ConnectErrorKind.TimedOut,
                    $"no connection within the connect timeout of {Options.Timeout.TotalSeconds:0.###} s"));
                return (null, true);
            }

            var error = ToError(text, target.Address, e);
            Failed(host, target.Port, errors, error);
            return (null, e is ConnectFailureException { Fatal: true });
        }
    }

    private ConnectResult NotConnected(string host, int port, List<ConnectError> errors, CancellationTokenSource deadline, CancellationToken cancel)
    {
        cancel.ThrowIfCancellationRequested();
        var timedOut = deadline.IsCancellationRequested;
        DeliveryLog.NoConnection(log, host, port, errors.Count, timedOut, via);
        return new ConnectResult(null, null, null, errors, timedOut);
    }

    private void Failed(string host, int port, List<ConnectError> errors, ConnectError error)
    {
        errors.Add(error);
        DeliveryLog.ConnectFailed(log, host, error.Target, port, error.Kind, error.Message, via);
    }

    private static ConnectError ToError(string target, IPAddress? address, Exception e) => e switch
    {
        ConnectFailureException s => new ConnectError(target, address, s.Kind, s.Message, (s.InnerException as SocketException)?.SocketErrorCode, s.Reply),
        SocketException s => FromSocket(target, address, s),
        IOException { InnerException: SocketException s } => FromSocket(target, address, s),
        _ => new ConnectError(target, address, ConnectErrorKind.Failed, e.Message),
    };

    private static ConnectError FromSocket(string target, IPAddress? address, SocketException e)
    {
        var kind = e.SocketErrorCode switch
        {
            SocketError.ConnectionRefused => ConnectErrorKind.Refused,
            SocketError.NetworkUnreachable or SocketError.HostUnreachable or SocketError.NetworkDown or SocketError.HostDown => ConnectErrorKind.Unreachable,
            SocketError.TimedOut => ConnectErrorKind.TimedOut,
            _ => ConnectErrorKind.Failed,
        };
        return new ConnectError(target, address, kind, e.Message, e.SocketErrorCode);
    }
}
