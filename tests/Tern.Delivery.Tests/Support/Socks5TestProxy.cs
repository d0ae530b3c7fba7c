using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Tern.Delivery.Tests;

/// <summary>
/// A small SOCKS5 server (RFC 1928, CONNECT only; RFC 1929 username/password) on 127.0.0.1 for the
/// connector tests. It really connects to the target and relays both ways. Switches make it
/// misbehave: a forced reply code, silence, or closing right after the greeting.
/// </summary>
public sealed class Socks5TestProxy : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    public Socks5TestProxy(string? username = null, string? password = null)
    {
        Username = username;
        Password = password;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptAsync();
    }

    public int Port { get; }

    public string? Username { get; }

    public string? Password { get; }

    /// <summary>Answer every CONNECT with this reply code instead of connecting.</summary>
    public byte? ForcedReply { get; init; }

    /// <summary>Wait this long before answering a CONNECT.</summary>
    public TimeSpan ReplyDelay { get; init; }

    /// <summary>Accept connections and never answer.</summary>
    public bool Silent { get; init; }

    /// <summary>Close the connection as soon as the client's greeting has arrived.</summary>
    public bool CloseAfterGreeting { get; init; }

    /// <summary>CONNECT targets received, as "atyp host:port".</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    /// <summary>Client connections accepted.</summary>
    public int Connections => _connections;

    private int _connections;

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _accepting;
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptSocketAsync(_stop.Token);
            Interlocked.Increment(ref _connections);
            _ = ServeAsync(client);
        }
    }

    private async Task ServeAsync(Socket client)
    {
        using (client)
        {
            try
            {
                await using var stream = new NetworkStream(client, ownsSocket: false);
                await NegotiateAndRelayAsync(stream);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or IOException)
            {
            }
        }
    }

    private async Task NegotiateAndRelayAsync(NetworkStream s)
    {
        var cancel = _stop.Token;
        if (Silent)
        {
            await Task.Delay(Timeout.Infinite, cancel);
        }

        var buffer = new byte[512];
        await s.ReadExactlyAsync(buffer.AsMemory(0, 2), cancel);
        if (buffer[0] != 5)
        {
            return;
        }

        var methods = buffer.AsMemory(2, buffer[1]);
        await s.ReadExactlyAsync(methods, cancel);
        if (CloseAfterGreeting)
        {
            return;
        }

        var wanted = Username is null ? (byte)0 : (byte)2;
        if (!methods.Span.Contains(wanted))
        {
            await s.WriteAsync(new byte[] { 5, 0xFF }, cancel);
            return;
        }

        await s.WriteAsync(new byte[] { 5, wanted }, cancel);
        if (wanted == 2)
        {
            // RFC 1929: VER ULEN UNAME PLEN PASSWD.
            await s.ReadExactlyAsync(buffer.AsMemory(0, 2), cancel);
            var user = new byte[buffer[1]];
            await s.ReadExactlyAsync(user, cancel);
            await s.ReadExactlyAsync(buffer.AsMemory(0, 1), cancel);
            var password = new byte[buffer[0]];
            await s.ReadExactlyAsync(password, cancel);
            var ok = Encoding.UTF8.GetString(user) == Username && Encoding.UTF8.GetString(password) == Password;
            await s.WriteAsync(new byte[] { 1, ok ? (byte)0 : (byte)1 }, cancel);
            if (!ok)
            {
                return;
            }
        }

        // RFC 1928 section 4: VER CMD RSV ATYP DST.ADDR DST.PORT.
        await s.ReadExactlyAsync(buffer.AsMemory(0, 4), cancel);
        var command = buffer[1];
        var atyp = buffer[3];
        string host;
        IPAddress[] targets;
        switch (atyp)
        {
            case 1:
            case 4:
                var raw = new byte[atyp == 1 ? 4 : 16];
                await s.ReadExactlyAsync(raw, cancel);
                var ip = new IPAddress(raw);
                host = ip.ToString();
                targets = [ip];
                break;
            case 3:
                await s.ReadExactlyAsync(buffer.AsMemory(0, 1), cancel);
                var name = new byte[buffer[0]];
                await s.ReadExactlyAsync(name, cancel);
                host = Encoding.ASCII.GetString(name);
                targets = await System.Net.Dns.GetHostAddressesAsync(host, cancel);
                break;
            default:
                await ReplyAsync(s, 8, null, cancel);
                return;
        }

        await s.ReadExactlyAsync(buffer.AsMemory(0, 2), cancel);
        var port = BinaryPrimitives.ReadUInt16BigEndian(buffer);
        Requests.Enqueue($"{atyp} {host}:{port}");
        if (command != 1)
        {
            await ReplyAsync(s, 7, null, cancel);
            return;
        }

        await Task.Delay(ReplyDelay, cancel);
        if (ForcedReply is { } forced)
        {
            await ReplyAsync(s, forced, null, cancel);
            return;
        }

        using var upstream = await ConnectAsync(targets, port, cancel);
        if (upstream.Socket is null)
        {
            await ReplyAsync(s, upstream.Reply, null, cancel);
            return;
        }

        await ReplyAsync(s, 0, (IPEndPoint)upstream.Socket.LocalEndPoint!, cancel);
        await using var target = new NetworkStream(upstream.Socket, ownsSocket: false);
        using var done = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        var up = s.CopyToAsync(target, done.Token);
        var down = target.CopyToAsync(s, done.Token);
        await Task.WhenAny(up, down);
        await done.CancelAsync();
    }

    private static async Task<Upstream> ConnectAsync(IPAddress[] targets, int port, CancellationToken cancel)
    {
        byte reply = 4;
        foreach (var address in targets)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, port), cancel);
                return new Upstream(socket, 0);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                reply = e.SocketErrorCode switch
                {
                    SocketError.ConnectionRefused => 5,
                    SocketError.NetworkUnreachable => 3,
                    SocketError.HostUnreachable => 4,
                    SocketError.TimedOut => 6,
                    _ => 1,
                };
            }
        }

        return new Upstream(null, reply);
    }

    /// <summary>RFC 1928 section 6: VER REP RSV ATYP BND.ADDR BND.PORT.</summary>
    private static async Task ReplyAsync(NetworkStream s, byte rep, IPEndPoint? bound, CancellationToken cancel)
    {
        bound ??= new IPEndPoint(IPAddress.Any, 0);
        var address = bound.Address.GetAddressBytes();
        var reply = new byte[4 + address.Length + 2];
        reply[0] = 5;
        reply[1] = rep;
        reply[3] = address.Length == 4 ? (byte)1 : (byte)4;
        address.CopyTo(reply, 4);
        BinaryPrimitives.WriteUInt16BigEndian(reply.AsSpan(4 + address.Length), (ushort)bound.Port);
        await s.WriteAsync(reply, cancel);
    }

    private sealed record Upstream(Socket? Socket, byte Reply) : IDisposable
    {
        public void Dispose() => Socket?.Dispose();
    }
}
