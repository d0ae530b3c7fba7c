using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Tern.Delivery.Tests;

/// <summary>Loopback helpers for the connector tests.</summary>
internal static class Net
{
    public static readonly IPAddress Other = IPAddress.Parse("127.0.0.3");

    /// <summary>Whether ::1 can be bound here (some containers run without IPv6).</summary>
    public static bool HasIPv6Loopback { get; } = CanBind(IPAddress.IPv6Loopback);

    /// <summary>Reads one CRLF-terminated line (byte by byte: nothing after it is consumed).</summary>
    public static async Task<string> ReadLineAsync(Socket socket)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var line = new StringBuilder();
        var one = new byte[1];
        while (!line.ToString().EndsWith("\r\n", StringComparison.Ordinal))
        {
            if (await socket.ReceiveAsync(one, timeout.Token) == 0)
            {
                break;
            }

            line.Append((char)one[0]);
        }

        return line.ToString();
    }

    /// <summary>Reads the banner, sends a line and expects it echoed: the connection reaches the banner server.</summary>
    public static async Task AssertReachesBannerServerAsync(Socket socket)
    {
        Assert.Equal(BannerServer.Banner, await ReadLineAsync(socket));
        await socket.SendAsync(Encoding.ASCII.GetBytes("EHLO tern.test\r\n"));
        Assert.Equal("EHLO tern.test\r\n", await ReadLineAsync(socket));
    }

    private static bool CanBind(IPAddress address)
    {
        try
        {
            using var s = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            s.Bind(new IPEndPoint(address, 0));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
