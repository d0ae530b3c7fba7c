using System.Net;
using System.Net.Sockets;

namespace Tern.Tests.Support;

/// <summary>
/// A loopback port for a server that a test must configure with a fixed port (a child process's
/// configuration, HttpListener, a daemon's command line), free for TCP and UDP.
/// </summary>
/// <remarks>
/// Asking the kernel for port 0 and closing the probe loses the port between the probe and the
/// server's bind in two ways, both seen in CI ("Address already in use"): the port comes from the
/// ephemeral range, where every outgoing connection of the test processes running side by side (the
/// load tests open thousands) may get it as its local port; and another test process may probe the
/// same port at the same moment. So ports here come from outside the ephemeral range
/// (/proc/sys/net/ipv4/ip_local_port_range), and each is reserved across processes by an exclusive
/// lock on a file named for it, held until the process exits (the kernel drops the lock then, so a
/// killed run leaves nothing to clean up). A process never hands out a port twice.
/// </remarks>
public static class TestPorts
{
    private const int Lowest = 10000;
    private static readonly Lock Gate = new();
    private static readonly List<FileStream> Held = [];
    private static readonly string LockDirectory = Path.Combine(Path.GetTempPath(), "tern-test-ports");
    private static int[]? _candidates;
    private static int _next;

    /// <summary>A port no other test process holds and nothing listens on, reserved for this process.</summary>
    public static int Free()
    {
        lock (Gate)
        {
            if (_candidates is null)
            {
                _candidates = Candidates();
                _next = Random.Shared.Next(_candidates.Length); // processes start at different places
                Directory.CreateDirectory(LockDirectory);
            }

            for (var tried = 0; tried < _candidates.Length; tried++)
            {
                var port = _candidates[_next];
                _next = (_next + 1) % _candidates.Length;
                var reservation = Reserve(port);
                if (reservation is null)
                    continue;
                if (Bindable(port))
                {
                    Held.Add(reservation);
                    return port;
                }

                reservation.Dispose();
            }
        }

        throw new InvalidOperationException("no free port on 127.0.0.1 outside the ephemeral range");
    }

    private static int[] Candidates()
    {
        var (low, high) = (32768, 60999); // Linux's default, if /proc cannot be read
        try
        {
            var fields = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            (low, high) = (int.Parse(fields[0], System.Globalization.CultureInfo.InvariantCulture), int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
        }

        var ports = Enumerable.Range(Lowest, IPEndPoint.MaxPort - Lowest + 1).Where(p => p < low || p > high).ToArray();
        if (ports.Length < 1000)
            throw new InvalidOperationException($"the ephemeral port range {low}-{high} leaves fewer than 1000 ports above {Lowest} for test servers");
        return ports;
    }

    /// <summary>The exclusive lock on the port's file (.NET takes flock(LOCK_EX) for FileShare.None), or null when another process holds it.</summary>
    private static FileStream? Reserve(int port)
    {
        try
        {
            return new FileStream(Path.Combine(LockDirectory, port.ToString(System.Globalization.CultureInfo.InvariantCulture)), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null; // a file left by another user
        }
    }

    private static bool Bindable(int port)
    {
        try
        {
            using var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            tcp.Bind(new IPEndPoint(IPAddress.Loopback, port));
            using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            udp.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
