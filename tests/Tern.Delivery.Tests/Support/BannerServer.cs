using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Tern.Delivery.Tests;

/// <summary>A TCP server on loopback that greets like an SMTP server ("220 ...") and then echoes what it reads.</summary>
public sealed class BannerServer : IAsyncDisposable
{
    public const string Banner = "220 banner.test ESMTP ready\r\n";

    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    public BannerServer(IPAddress address)
    {
        _listener = new TcpListener(address, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptAsync();
    }

    public int Port { get; }

    /// <summary>The client endpoints seen, in order.</summary>
    public ConcurrentQueue<IPEndPoint> Clients { get; } = new();

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
            Clients.Enqueue((IPEndPoint)client.RemoteEndPoint!);
            _ = ServeAsync(client);
        }
    }

    private async Task ServeAsync(Socket client)
    {
        using (client)
        {
            try
            {
                await client.SendAsync(Encoding.ASCII.GetBytes(Banner), _stop.Token);
                var buffer = new byte[4096];
                int n;
                while ((n = await client.ReceiveAsync(buffer, _stop.Token)) > 0)
                {
                    await client.SendAsync(buffer.AsMemory(0, n), _stop.Token);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException)
            {
            }
        }
    }
}
