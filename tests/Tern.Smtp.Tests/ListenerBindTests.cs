using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Tern.Observability.Metrics;
using Tern.Smtp.Server;

namespace Tern.Smtp.Tests;

/// <summary>A listener's address belongs to one server: a second one fails to start instead of sharing it.</summary>
public sealed class ListenerBindTests
{
    [Fact]
    public void An_address_another_server_listens_on_is_refused_even_when_that_server_allows_port_sharing()
    {
        // Another .NET server: ReuseAddress, which on Linux sets SO_REUSEPORT too (it would accept a
        // second socket with SO_REUSEPORT, and the kernel would split the connections between them).
        using var other = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        other.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        other.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        other.Listen();
        var taken = (IPEndPoint)other.LocalEndPoint!;

        var server = Server(taken);
        var e = Assert.Throws<SmtpListenerException>(server.Start);
        Assert.Contains($"listener relay: cannot listen on {taken}", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_restart_binds_again_while_old_connections_linger_in_time_wait()
    {
        IPEndPoint endpoint;
        await using (var first = TestServer.Start())
        {
            endpoint = first.RelayNoTls;
            using var client = new TcpClient();
            await client.ConnectAsync(endpoint);
            using var reader = new StreamReader(client.GetStream());
            await reader.ReadLineAsync();
            await client.GetStream().WriteAsync("QUIT\r\n"u8.ToArray());
            await reader.ReadLineAsync();
            // The server closes first after 221: its side of the connection stays in TIME_WAIT.
            Assert.Null(await reader.ReadLineAsync());
        }

        var again = Server(endpoint);
        again.Start();
        await again.StopAsync(TimeSpan.FromSeconds(1));
    }

    private static SmtpServer Server(IPEndPoint endpoint) => new(
        new SmtpServerOptions
        {
            Hostname = "mx.tern.test",
            Listeners = [new SmtpListenerOptions { Name = "relay", Kind = ListenerKind.Relay, Endpoint = endpoint }],
        },
        new MemoryMessageStore(),
        NullLoggerFactory.Instance,
        NullMetrics.Instance);
}
