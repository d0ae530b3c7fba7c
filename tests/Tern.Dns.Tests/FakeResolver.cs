using System.Net;

namespace Tern.Dns.Tests;

/// <summary>An <see cref="IDnsResolver"/> answering from tables: for destination logic DNS servers cannot easily produce.</summary>
internal sealed class FakeResolver : IDnsResolver
{
    public Dictionary<string, DnsAnswer<MxRecord>> Mx { get; } = [];

    public Dictionary<string, DnsAnswer<IPAddress>> A { get; } = [];

    public Dictionary<string, DnsAnswer<IPAddress>> Aaaa { get; } = [];

    public static DnsAnswer<T> Answer<T>(string name, DnsStatus status, bool authentic = false, params T[] records) => new()
    {
        Status = status, Name = name, CanonicalName = name, Records = records, Authentic = authentic,
        Error = status == DnsStatus.Ok ? null : $"{name}: {status}",
    };

    public ValueTask<DnsAnswer<MxRecord>> LookupMxAsync(string name, CancellationToken cancellationToken = default) => Find(Mx, name);

    public ValueTask<DnsAnswer<IPAddress>> LookupAAsync(string name, CancellationToken cancellationToken = default) => Find(A, name);

    public ValueTask<DnsAnswer<IPAddress>> LookupAaaaAsync(string name, CancellationToken cancellationToken = default) => Find(Aaaa, name);

    public ValueTask<DnsAnswer<string>> LookupCnameAsync(string name, CancellationToken cancellationToken = default) => throw new NotSupportedException();

    public ValueTask<DnsAnswer<string>> LookupTxtAsync(string name, CancellationToken cancellationToken = default) => throw new NotSupportedException();

    public ValueTask<DnsAnswer<DnsTlsaRecord>> LookupTlsaAsync(string name, CancellationToken cancellationToken = default) => throw new NotSupportedException();

    public ValueTask<DnsAnswer<string>> LookupPtrAsync(IPAddress address, CancellationToken cancellationToken = default) => throw new NotSupportedException();

    private static ValueTask<DnsAnswer<T>> Find<T>(Dictionary<string, DnsAnswer<T>> table, string name) =>
        ValueTask.FromResult(table.TryGetValue(name, out var answer) ? answer : Answer<T>(name, DnsStatus.NxDomain));
}
