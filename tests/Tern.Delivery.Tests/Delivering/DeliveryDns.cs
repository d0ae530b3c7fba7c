using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Tern.Dns;
using Tern.Tests.Support;

namespace Tern.Delivery.Tests.Delivering;

/// <summary>
/// knot on 127.0.0.1, authoritative for example.test, started once for <see cref="DelivererTests"/>:
/// MX hosts on several loopback addresses (Linux routes all of 127/8 to lo), so that one SMTP port
/// (<see cref="SmtpPort"/>, the deliverer's DirectPort) reaches a different scripted server per address.
/// </summary>
public sealed class DeliveryDns : IAsyncLifetime
{
    /// <summary>
    /// h2..h4: one address each; grey: two addresses (greylisting memory); one/two/three: MX lists in
    /// preference order; nullmx: RFC 7505; implicit: no MX, an A record; mixed: an MX whose host has
    /// no address after one that has. Names not listed (nothere.example.test) do not exist.
    /// </summary>
    public const string Zone = """
        $ORIGIN example.test.
        $TTL 60
        @         SOA ns hostmaster 1 3600 600 86400 60
        @         NS ns
        ns        A 127.0.0.1
        h2        A 127.0.0.2
        h3        A 127.0.0.3
        h4        A 127.0.0.4
        grey      A 127.0.0.5
        grey      A 127.0.0.6
        noaddr    TXT "no address records here"
        one       MX 10 h2
        two       MX 10 h2
        two       MX 20 h3
        three     MX 30 h4
        three     MX 10 h2
        three     MX 20 h3
        greylist  MX 10 grey
        nullmx    MX 0 .
        implicit  A 127.0.0.7
        mixed     MX 10 h2
        mixed     MX 20 noaddr
        """;

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "tern-deliverer-" + Guid.NewGuid().ToString("N"));
    private LoopbackDaemon? _knot;

    /// <summary>The port every scripted SMTP server listens on, whatever its 127.0.0.x address.</summary>
    public int SmtpPort { get; private set; }

    public IPEndPoint Knot => _knot!.EndPoint;

    /// <summary>A resolver asking knot only, with short timeouts.</summary>
    public DnsResolver Resolver() => new(new DnsOptions { Servers = [Knot], Timeout = TimeSpan.FromMilliseconds(500), Attempts = 2 }, NullLoggerFactory.Instance);

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        _knot = await KnotServer.StartAsync(_dir, new Dictionary<string, string> { ["example.test"] = Zone }, "two.example.test");
        SmtpPort = FreeOnAll();
    }

    public Task DisposeAsync()
    {
        _knot?.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }

        return Task.CompletedTask;
    }

    /// <summary>A TCP port free on every 127.0.0.x the tests use (x from <paramref name="first"/> to <paramref name="last"/>).</summary>
    internal static int FreeOnAll(int first = 2, int last = 9)
    {
        for (var i = 0; i < 20; i++)
        {
            var port = TestPorts.Free();
            var free = true;
            for (var x = first; x <= last && free; x++)
            {
                using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    s.Bind(new IPEndPoint(IPAddress.Parse($"127.0.0.{x}"), port));
                }
                catch (SocketException)
                {
                    free = false;
                }
            }

            if (free)
            {
                return port;
            }
        }

        throw new InvalidOperationException($"no port free on 127.0.0.{first}-{last}");
    }
}
