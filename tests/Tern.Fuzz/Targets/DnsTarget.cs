using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Tern.Dns;
using Tern.Fuzz.Support;

namespace Tern.Fuzz.Targets;

/// <summary>
/// DNS responses as delivery receives them: a UDP server on 127.0.0.1 answers every query with the
/// input (its ID set to the query's, TC cleared so that no TCP retry follows), read by a fresh
/// <see cref="DnsResolver"/> (DnsClient's wire parser, then Tern's CNAME chasing, record selection,
/// TTL and negative caching rules) and, for MX, <see cref="DestinationResolver"/>'s host list and
/// address lookups. The first byte picks the lookup. Bad input may only come back as a
/// <see cref="DnsStatus"/> other than Ok; nothing may throw.
/// </summary>
internal static class DnsTarget
{
    private static readonly Lazy<Responder> Server = new(() => new Responder());

    public static void Run(ReadOnlySpan<byte> input)
    {
        var flags = input.IsEmpty ? 0 : input[0];
        var server = Server.Value;
        server.Response = input.IsEmpty ? [] : input[1..].ToArray();
        var resolver = new DnsResolver(
            new DnsOptions { Servers = [server.EndPoint], Attempts = 1, Timeout = TimeSpan.FromMilliseconds(250), TrustAdBit = (flags & 8) != 0 },
            NullLoggerFactory.Instance);
        switch (flags % 8)
        {
            case 0:
            case 1:
                var destinations = new DestinationResolver(resolver, new DestinationOptions(), NullLoggerFactory.Instance, new Random(1))
                    .ResolveAsync("example.com").AsTask().GetAwaiter().GetResult();
                FuzzInvariantException.Check(Enum.IsDefined(destinations.Status), "unknown destination status");
                break;
            case 2:
                Check(resolver.LookupAAsync("mx.example.com").AsTask().GetAwaiter().GetResult());
                break;
            case 3:
                Check(resolver.LookupAaaaAsync("mx.example.com").AsTask().GetAwaiter().GetResult());
                break;
            case 4:
                Check(resolver.LookupTxtAsync("_mta-sts.example.com").AsTask().GetAwaiter().GetResult());
                break;
            case 5:
                Check(resolver.LookupTlsaAsync("_25._tcp.mx.example.com").AsTask().GetAwaiter().GetResult());
                break;
            case 6:
                Check(resolver.LookupCnameAsync("www.example.com").AsTask().GetAwaiter().GetResult());
                break;
            default:
                Check(resolver.LookupMxAsync("example.com").AsTask().GetAwaiter().GetResult());
                break;
        }
    }

    private static void Check<T>(DnsAnswer<T> answer)
    {
        FuzzInvariantException.Check(Enum.IsDefined(answer.Status), "unknown DNS status");
        FuzzInvariantException.Check(answer.Ttl >= TimeSpan.Zero, "negative TTL");
        FuzzInvariantException.Check(answer.Status != DnsStatus.Ok || answer.Records.Count > 0, "Ok without records");
    }

    /// <summary>The answering server: one socket for the process, the response to give set per run.</summary>
    private sealed class Responder
    {
        private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);

        public Responder()
        {
            _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            EndPoint = (IPEndPoint)_socket.LocalEndPoint!;
            var thread = new Thread(Serve) { IsBackground = true, Name = "fuzz-dns" };
            thread.Start();
        }

        public IPEndPoint EndPoint { get; }

        public volatile byte[] Response = [];

        private void Serve()
        {
            var buffer = new byte[4096];
            EndPoint client = new IPEndPoint(IPAddress.Any, 0);
            while (true)
            {
                var n = _socket.ReceiveFrom(buffer, ref client);
                var response = (byte[])Response.Clone();
                if (n >= 2 && response.Length >= 2)
                {
                    response[0] = buffer[0];
                    response[1] = buffer[1];
                }

                if (response.Length >= 3)
                {
                    response[2] &= 0xFD; // TC: a truncated answer would be retried over TCP, which this server does not serve
                }

                _socket.SendTo(response, client);
            }
        }
    }
}
