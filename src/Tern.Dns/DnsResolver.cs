using System.Net;
using DnsClient;
using DnsClient.Protocol;
using Wire = DnsClient.Protocol;
using Microsoft.Extensions.Logging;
using Tern.Observability.Logging;

namespace Tern.Dns;

/// <summary>
/// The resolver on top of DnsClient: one client for every lookup with DNSSEC-OK set (its AD bit is what DANE
/// needs; DnsClient's own cache is off because its key ignores that flag), our own bounded TTL cache, and
/// concurrent lookups of the same name and type sharing one query. Thread-safe.
/// </summary>
public sealed partial class DnsResolver : IDnsResolver
{
    private readonly DnsOptions _options;
    private readonly LookupClient _client;
    private readonly NameServer[][] _servers;
    private readonly DnsCache _cache;
    private readonly Dictionary<DnsCacheKey, Task> _inflight = [];
    private readonly Lock _inflightLock = new();
    private readonly ILogger _log;

    public DnsResolver(DnsOptions options, ILoggerFactory loggers, TimeProvider? clock = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Attempts, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.Timeout, TimeSpan.Zero);
        _options = options;
        _log = loggers.CreateLogger(LogComponents.Dns);
        Servers = options.Servers is { Count: > 0 } configured ? [.. configured] : ResolvConf.Load();
        TrustsAdBit = options.TrustAdBit || Servers.All(s => IsLoopback(s.Address));
        // Each server is asked on its own (see QueryAsync), so the client's server list is never used.
        _servers = [.. Servers.Select(s => new[] { new NameServer(s) })];
        _client = new LookupClient(new LookupClientOptions([.. Servers])
        {
            AutoResolveNameServers = false,
            UseCache = false,
            RequestDnsSecRecords = true,
            Timeout = options.Timeout,
            Retries = options.Attempts - 1,
            ThrowDnsErrors = false,
            ContinueOnDnsError = false,
            ContinueOnEmptyResponse = false,
            UseRandomNameServer = false,
            UseTcpFallback = true,
            EnableAuditTrail = false,
            CacheFailedResults = false,
            // DNS flag day 2020: 1232 bytes avoids IP fragmentation; larger answers come over TCP.
            ExtendedDnsBufferSize = 1232,
        });
        _cache = new DnsCache(options.CacheMaxEntries, clock ?? TimeProvider.System);
        DnsLog.Configured(_log, string.Join(",", Servers), TrustsAdBit);
    }

    /// <summary>The recursive resolvers asked, in order.</summary>
    public IReadOnlyList<IPEndPoint> Servers { get; }

    /// <summary>Whether answers can be <see cref="DnsAnswer{T}.Authentic"/> at all (loopback servers or <see cref="DnsOptions.TrustAdBit"/>).</summary>
    public bool TrustsAdBit { get; }

    internal int CachedAnswers => _cache.Count;

    public ValueTask<DnsAnswer<MxRecord>> LookupMxAsync(string name, CancellationToken cancellationToken = default) =>
        LookupAsync(name, QueryType.MX, static rr => rr is Wire.MxRecord mx ? new MxRecord(mx.Preference, FromWire(mx.Exchange)) : null, cancellationToken);

    public ValueTask<DnsAnswer<IPAddress>> LookupAAsync(string name, CancellationToken cancellationToken = default) =>
        LookupAsync(name, QueryType.A, static rr => (rr as ARecord)?.Address, cancellationToken);

    public ValueTask<DnsAnswer<IPAddress>> LookupAaaaAsync(string name, CancellationToken cancellationToken = default) =>
        LookupAsync(name, QueryType.AAAA, static rr => (rr as AaaaRecord)?.Address, cancellationToken);

    public ValueTask<DnsAnswer<string>> LookupCnameAsync(string name, CancellationToken cancellationToken = default) =>
        LookupAsync(name, QueryType.CNAME, static rr => rr is CNameRecord c ? FromWire(c.CanonicalName) : null, cancellationToken);

    public ValueTask<DnsAnswer<string>> LookupTxtAsync(string name, CancellationToken cancellationToken = default) =>
        LookupAsync(name, QueryType.TXT, static rr => rr is TxtRecord t ? string.Concat(t.Text) : null, cancellationToken);

    public ValueTask<DnsAnswer<DnsTlsaRecord>> LookupTlsaAsync(string name, CancellationToken cancellationToken = default) =>
        LookupAsync(name, QueryType.TLSA, static rr => rr is Wire.TlsaRecord t
            ? new DnsTlsaRecord((byte)t.CertificateUsage, (byte)t.Selector, (byte)t.MatchingType, [.. t.CertificateAssociationData])
            : null, cancellationToken);

    public ValueTask<DnsAnswer<string>> LookupPtrAsync(IPAddress address, CancellationToken cancellationToken = default) =>
        LookupAsync(ReverseName.For(address), QueryType.PTR, static rr => rr is PtrRecord p ? FromWire(p.PtrDomainName) : null, cancellationToken);

    /// <summary>
    /// A cached answer costs a dictionary probe and no allocation. Otherwise the caller joins the query already
    /// running for the same name and type, or starts one; the query itself is not cancelled with the caller
    /// (others may wait for it, and it is bounded by timeout x attempts x servers).
    /// </summary>
    private ValueTask<DnsAnswer<T>> LookupAsync<T>(string name, QueryType type, Func<DnsResourceRecord, T?> select, CancellationToken cancellationToken)
        where T : class
    {
        if (!DomainName.TryNormalize(name, out var qname, out var error))
        {
            return ValueTask.FromResult(new DnsAnswer<T>
            {
                Status = DnsStatus.PermanentFailure, Name = name, CanonicalName = name, Error = error,
            });
        }
        var key = new DnsCacheKey(qname, type);
        if (_cache.TryGet(key, out var cached))
            return ValueTask.FromResult((DnsAnswer<T>)cached);
        return new ValueTask<DnsAnswer<T>>(JoinOrStart(key, select).WaitAsync(cancellationToken));
    }

    private Task<DnsAnswer<T>> JoinOrStart<T>(DnsCacheKey key, Func<DnsResourceRecord, T?> select)
        where T : class
    {
        TaskCompletionSource<DnsAnswer<T>> completion;
        lock (_inflightLock)
        {
            if (_inflight.TryGetValue(key, out var running))
                return (Task<DnsAnswer<T>>)running;
            // The answer may have landed between the caller's cache probe and this lock.
            if (_cache.TryGet(key, out var cached))
                return Task.FromResult((DnsAnswer<T>)cached);
            completion = new TaskCompletionSource<DnsAnswer<T>>(TaskCreationOptions.RunContinuationsAsynchronously);
            _inflight.Add(key, completion.Task);
        }
        _ = CompleteAsync(key, select, completion);
        return completion.Task;
    }

    private async Task CompleteAsync<T>(DnsCacheKey key, Func<DnsResourceRecord, T?> select, TaskCompletionSource<DnsAnswer<T>> completion)
        where T : class
    {
        try
        {
            var answer = await ResolveAsync(key.Name, key.Type, select);
            DnsLog.Lookup(_log, answer.Name, TypeName(key.Type), answer.Status, answer.Authentic, (int)answer.Ttl.TotalSeconds, answer.Error);
            // Cached before leaving the in-flight table, so a later caller finds one or the other.
            _cache.Set(key, answer, answer.Ttl);
            lock (_inflightLock)
                _inflight.Remove(key);
            completion.SetResult(answer);
        }
        catch (Exception e)
        {
            lock (_inflightLock)
                _inflight.Remove(key);
            completion.SetException(e);
        }
    }

    private static bool IsLoopback(IPAddress address) =>
        IPAddress.IsLoopback(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address);

    /// <summary>A name from the wire in our normal form: lower case, no trailing dot ("" for the root).</summary>
    internal static string FromWire(DnsString name)
    {
        var value = name.Value;
        if (value.EndsWith('.'))
            value = value[..^1];
        return value.ToLowerInvariant();
    }

    private static string TypeName(QueryType type) => type switch
    {
        QueryType.A => "A",
        QueryType.AAAA => "AAAA",
        QueryType.MX => "MX",
        QueryType.CNAME => "CNAME",
        QueryType.TXT => "TXT",
        QueryType.TLSA => "TLSA",
        QueryType.PTR => "PTR",
        _ => ((int)type).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
