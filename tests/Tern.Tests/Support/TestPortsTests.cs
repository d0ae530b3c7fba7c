using System.Net;
using System.Net.Sockets;

namespace Tern.Tests.Support;

/// <summary>The test servers' ports: never one an outgoing connection can take, never one handed out twice.</summary>
public sealed class TestPortsTests
{
    [Fact]
    public void Ports_are_outside_the_ephemeral_range_distinct_and_bindable()
    {
        var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();
        var ports = Enumerable.Range(0, 20).Select(_ => TestPorts.Free()).ToList();

        Assert.Equal(ports.Count, ports.Distinct().Count());
        Assert.All(ports, p => Assert.True(p < range[0] || p > range[1], $"{p} is in the ephemeral range {range[0]}-{range[1]}"));
        foreach (var port in ports)
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
        }
    }

    [Fact]
    public void A_port_is_reserved_against_other_processes()
    {
        var port = TestPorts.Free();

        // The reservation is a lock another process's open of the same file fails on (flock is per open file description, so a second open here stands for another process).
        var path = Path.Combine(Path.GetTempPath(), "tern-test-ports", port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Throws<IOException>(() => new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None).Dispose());
    }
}
