using System.Collections.Concurrent;
using System.Net;
using Tern.Dns;

namespace Tern.MtaSts.Tests.Support;

/// <summary>
/// An <see cref="IDnsResolver"/> whose TXT answers the test changes over time (a record appears,
/// changes id, disappears, the lookup fails): the cache tests need DNS that changes between two
/// lookups a simulated day apart, which a real server's TTL cache would only blur. The fetch itself
/// still goes over a real socket and TLS to <see cref="PolicyServer"/>: every "mta-sts.*" name
/// resolves to 127.0.0.1. Fetch tests proper use knot (<see cref="MtaStsDns"/>).
/// </summary>
public sealed class ScriptedDns : IDnsResolver
{
    private readonly ConcurrentDictionary<string, DnsAnswer<string>> _txt = new(StringComparer.Ordinal);
    private int _txtLookups;

    public int TxtLookups => Volatile.Read(ref _txtLookups);

    /// <summary>The TXT records of _mta-sts.DOMAIN.</summary>
    public void Txt(string domain, params string[] records) => Set(domain, DnsStatus.Ok, records);

    /// <summary>_mta-sts.DOMAIN answers with this status and no records.</summary>
    public void TxtStatus(string domain, DnsStatus status) => Set(domain, status, []);

    private void Set(string domain, DnsStatus status, string[] records)
    {
        var name = "_mta-sts." + domain;
        _txt[name] = new DnsAnswer<string>
        {
            Status = status,
            Name = name,
            CanonicalName = name,
            Records = records,
            Ttl = TimeSpan.FromMinutes(1),
            Error = status is DnsStatus.TemporaryFailure or DnsStatus.PermanentFailure ? "SERVFAIL (scripted)" : null,
        };
    }

    public ValueTask<DnsAnswer<string>> LookupTxtAsync(string name, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _txtLookups);
        return ValueTask.FromResult(_txt.TryGetValue(name, out var answer)
            ? answer
            : new DnsAnswer<string> { Status = DnsStatus.NxDomain, Name = name, CanonicalName = name });
    }

    public ValueTask<DnsAnswer<IPAddress>> LookupAAsync(string name, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(name.StartsWith("mta-sts.", StringComparison.Ordinal)
            ? new DnsAnswer<IPAddress> { Status = DnsStatus.Ok, Name = name, CanonicalName = name, Records = [IPAddress.Loopback], Ttl = TimeSpan.FromMinutes(1) }
            : new DnsAnswer<IPAddress> { Status = DnsStatus.NxDomain, Name = name, CanonicalName = name });

    public ValueTask<DnsAnswer<IPAddress>> LookupAaaaAsync(string name, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(new DnsAnswer<IPAddress> { Status = DnsStatus.NoData, Name = name, CanonicalName = name });

    public ValueTask<DnsAnswer<MxRecord>> LookupMxAsync(string name, CancellationToken cancellationToken = default) =>
        throw new InvalidOperationException("MTA-STS does not look up MX records");

    public ValueTask<DnsAnswer<string>> LookupCnameAsync(string name, CancellationToken cancellationToken = default) =>
        throw new InvalidOperationException("MTA-STS does not look up CNAME records");

    public ValueTask<DnsAnswer<DnsTlsaRecord>> LookupTlsaAsync(string name, CancellationToken cancellationToken = default) =>
        throw new InvalidOperationException("MTA-STS does not look up TLSA records");

    public ValueTask<DnsAnswer<string>> LookupPtrAsync(IPAddress address, CancellationToken cancellationToken = default) =>
        throw new InvalidOperationException("MTA-STS does not look up PTR records");
}
