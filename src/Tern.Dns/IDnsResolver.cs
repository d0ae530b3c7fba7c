using System.Net;

namespace Tern.Dns;

/// <summary>
/// DNS lookups for delivery. Every method answers with a status instead of throwing for DNS errors; only
/// cancellation throws. Lookups other than CNAME follow CNAMEs (bounded); names may carry a trailing dot.
/// </summary>
public interface IDnsResolver
{
    ValueTask<DnsAnswer<MxRecord>> LookupMxAsync(string name, CancellationToken cancellationToken = default);

    ValueTask<DnsAnswer<IPAddress>> LookupAAsync(string name, CancellationToken cancellationToken = default);

    ValueTask<DnsAnswer<IPAddress>> LookupAaaaAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>The CNAME record at <paramref name="name"/> itself (not followed): its target, normalized.</summary>
    ValueTask<DnsAnswer<string>> LookupCnameAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>TXT records, each one's character-strings joined without separator (as SPF, DKIM and MTA-STS read them).</summary>
    ValueTask<DnsAnswer<string>> LookupTxtAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>TLSA records at a name such as "_25._tcp.mx.example.com" (RFC 7672 section 2.2).</summary>
    ValueTask<DnsAnswer<DnsTlsaRecord>> LookupTlsaAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>PTR records of an address (in-addr.arpa / ip6.arpa), normalized host names.</summary>
    ValueTask<DnsAnswer<string>> LookupPtrAsync(IPAddress address, CancellationToken cancellationToken = default);
}
