using System.Net;
using System.Net.Sockets;

namespace Tern.EndToEnd.Tests;

/// <summary>Loopback ports for configurations that need a fixed one (HttpListener cannot bind port 0).</summary>
internal static class Ports
{
    public static int Free()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}
