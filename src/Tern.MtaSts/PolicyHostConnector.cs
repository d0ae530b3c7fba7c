using System.Net;
using System.Net.Sockets;
using Tern.Dns;

namespace Tern.MtaSts;

/// <summary>
/// Opens the TCP connection to the policy host for <see cref="MtaStsFetcher"/> (its
/// SocketsHttpHandler.ConnectCallback): the addresses of mta-sts.DOMAIN come from Tern's resolver,
/// never from getaddrinfo, so that the fetch sees the same DNS (servers, cache, failure classes) as
/// delivery. Addresses are tried in <see cref="AddressOrder"/>'s order (families interleaved).
/// </summary>
internal sealed class PolicyHostConnector(IDnsResolver dns, string host, int port)
{
    /// <summary>Why the host had no usable address; set when the connection failed for that reason.</summary>
    public string? DnsError { get; private set; }

    public async ValueTask<Stream> ConnectAsync(CancellationToken cancellationToken)
    {
        var v6 = dns.LookupAaaaAsync(host, cancellationToken).AsTask();
        var v4 = dns.LookupAAsync(host, cancellationToken).AsTask();
        var aaaa = await v6;
        var a = await v4;
        var addresses = new List<IPAddress>(aaaa.Records.Count + a.Records.Count);
        addresses.AddRange(aaaa.Records);
        addresses.AddRange(a.Records);
        if (addresses.Count == 0)
        {
            DnsError = Describe(a, aaaa);
            throw new IOException(DnsError);
        }

        Exception? last = null;
        foreach (var address in AddressOrder.ForAttempt(addresses, 0))
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, port), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                last = new IOException($"connect to {address} port {port}: {e.Message}", e);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
        throw last!;
    }

    /// <summary>"mta-sts.example.com has no address (A: NxDomain, AAAA: NxDomain)", with the resolver's errors when it failed.</summary>
    private string Describe(DnsAnswer<IPAddress> a, DnsAnswer<IPAddress> aaaa)
    {
        static string One(DnsAnswer<IPAddress> answer) => answer.Error is null ? answer.Status.ToString() : $"{answer.Status} {answer.Error}";
        return $"{host} has no address (A: {One(a)}, AAAA: {One(aaaa)})";
    }
}
