using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Tern.Dns;
using Tern.Observability.Logging;
using Tern.Observability.Metrics;
using Tern.Smtp.Client.Tls;

namespace Tern.MtaSts;

/// <summary>
/// The MTA-STS policies of recipient domains for delivery (RFC 8461 sections 3, 4 and 5.1): looks up
/// the <c>_mta-sts</c> TXT record, fetches the policy when its id is new (<see cref="MtaStsFetcher"/>),
/// and keeps policies in a cache that outlives DNS and HTTPS outages and restarts.
/// </summary>
/// <remarks>
/// <para>Rules, on each <see cref="GetAsync"/>:</para>
/// <list type="bullet">
/// <item>The TXT record is looked up every time (the resolver caches it by its TTL, so a cached
/// domain costs a DNS cache probe and a dictionary probe, no network and no parsing).</item>
/// <item>Same id as the cached, unexpired policy: the cached policy, nothing fetched. Once the
/// policy is older than <see cref="RefreshAge"/> (less for a short max_age) plus up to 1/12 of that
/// as jitter, the lookup also starts a refresh in the background; the caller does not wait for it.</item>
/// <item>New id, no policy, or an expired one: the policy is fetched (concurrent lookups of a
/// domain share one fetch). If that fails, an unexpired cached policy still applies (RFC 8461
/// section 5.1); without one there is no policy, and no new fetch for <see cref="FailureBackoff"/>.</item>
/// <item>TXT lookup failed or record invalid: an unexpired cached policy still applies.</item>
/// <item>TXT record gone (NXDOMAIN, NODATA, no record starting "v=STSv1"): an unexpired cached
/// policy still applies (section 3.1: absence alone does not remove it), except that a mode-none
/// policy is removed at once (section 8.3: how a domain withdraws), and an expired one is
/// removed.</item>
/// <item>Entries not looked up for <see cref="UnusedLifetime"/> are removed (checked at most hourly).</item>
/// </list>
/// <para>Time comes from the injected <see cref="TimeProvider"/> only. The cache is saved to
/// <see cref="MtaStsOptions.CacheDirectory"/> after each change, in the background, coalesced;
/// lookups never wait for the disk. A cache file that cannot be read is logged and ignored.</para>
/// </remarks>
public sealed partial class MtaStsPolicies : IAsyncDisposable
{
    /// <summary>The cache file's name in <see cref="MtaStsOptions.CacheDirectory"/>.</summary>
    public const string CacheFileName = "mta-sts.json";

    /// <summary>A cached policy is refreshed once this old (RFC 8461 section 4.1 leaves the period to the sender).</summary>
    public static readonly TimeSpan RefreshAge = TimeSpan.FromHours(12);

    /// <summary>An entry not looked up for this long is removed.</summary>
    public static readonly TimeSpan UnusedLifetime = TimeSpan.FromDays(180);

    /// <summary>After a failed fetch, the domain's policy is not fetched again for this long.</summary>
    public static readonly TimeSpan FailureBackoff = TimeSpan.FromMinutes(5);

    private static readonly TimeSpan SweepInterval = TimeSpan.FromHours(1);

    private readonly IDnsResolver _dns;
    private readonly MtaStsFetcher _fetcher;
    private readonly TrustStore? _ownTrust;
    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private readonly MtaStsMetrics _metrics;
    private readonly ConcurrentDictionary<string, CacheEntry> _entries = new(StringComparer.Ordinal);

    /// <summary>Serialises changes to <see cref="_entries"/> and <see cref="_inflight"/>; never held across an await or I/O.</summary>
    private readonly Lock _gate = new();
    private readonly Dictionary<(string Domain, string Id), Task<MtaStsLookup>> _inflight = [];
    private readonly CancellationTokenSource _shutdown = new();
    private long _sequence;
    private long _nextSweepTicks;
    private int _disposed;

    /// <param name="dns">Tern's resolver: the TXT record and the policy host's addresses.</param>
    /// <param name="options">Cache directory, CA bundle, port, timeout.</param>
    /// <param name="loggers">Logs go to the delivery component.</param>
    /// <param name="time">The clock of every age and expiry; the system clock when null.</param>
    /// <param name="metrics">tern_mtasts_* instruments; none when null.</param>
    /// <param name="trustStore">Parsed CA bundles shared with the SMTP client (not disposed here); a private one when null.</param>
    public MtaStsPolicies(IDnsResolver dns, MtaStsOptions options, ILoggerFactory loggers, TimeProvider? time = null, IMetrics? metrics = null, TrustStore? trustStore = null)
    {
        ArgumentNullException.ThrowIfNull(dns);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggers);
        options.Validate();
        _dns = dns;
        _time = time ?? TimeProvider.System;
        if (trustStore is null)
        {
            _ownTrust = new TrustStore();
            trustStore = _ownTrust;
        }
        _fetcher = new MtaStsFetcher(dns, options, trustStore, _time);
        _log = loggers.CreateLogger(LogComponents.Delivery);
        if (options.CacheDirectory is { } directory)
        {
            CachePath = Path.Combine(Path.GetFullPath(directory), CacheFileName);
            Load(CachePath);
        }
        _metrics = new MtaStsMetrics(metrics ?? NullMetrics.Instance, CountByMode);
        SweepIfDue(_time.GetUtcNow());
    }

    /// <summary>The cache file, or null when policies are kept in memory only.</summary>
    public string? CachePath { get; }

    /// <summary>How many domains the cache holds (policies and remembered failures).</summary>
    public int Count => _entries.Count;

    /// <summary>
    /// The MTA-STS policy that applies to mail for <paramref name="domain"/> now (see the class remarks
    /// for the rules). Never throws for DNS, network or policy errors: they end up in
    /// <see cref="MtaStsLookup.Error"/>. Throws <see cref="OperationCanceledException"/> when cancelled
    /// or when the instance is being disposed during a fetch.
    /// </summary>
    /// <param name="domain">The recipient domain (any case, trailing dot or U-labels allowed). An
    /// address literal has no policy.</param>
    public async ValueTask<MtaStsLookup> GetAsync(string domain, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(domain);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (DomainName.TryParseAddressLiteral(domain, out _))
            return Done(domain, new MtaStsLookup(null, MtaStsSource.None, null));
        if (!DomainName.TryNormalize(domain, out var name, out var nameError))
            return Done(domain, new MtaStsLookup(null, MtaStsSource.None, nameError));

        var now = _time.GetUtcNow();
        SweepIfDue(now);
        _entries.TryGetValue(name, out var entry);
        entry?.Touch(now);
        var txt = await _dns.LookupTxtAsync(entry?.TxtName ?? "_mta-sts." + name, cancellationToken);
        var lookup = await DecideAsync(name, entry, txt, now, cancellationToken);
        return Done(name, lookup);
    }

    /// <summary>The cached entries, by domain: for listings (the CLI, the admin API).</summary>
    public IReadOnlyList<MtaStsCacheEntry> Entries()
    {
        SweepIfDue(_time.GetUtcNow());
        var list = new List<MtaStsCacheEntry>(_entries.Count);
        foreach (var entry in _entries.Values)
            list.Add(entry.ToPublic());
        list.Sort(static (a, b) => string.CompareOrdinal(a.Domain, b.Domain));
        return list;
    }

    private async ValueTask<MtaStsLookup> DecideAsync(string name, CacheEntry? entry, DnsAnswer<string> txt, DateTimeOffset now, CancellationToken cancellationToken)
    {
        MtaStsRecord.Selection selection;
        string? id = null;
        string? recordText = null;
        string? problem = null;
        switch (txt.Status)
        {
            case DnsStatus.Ok:
                selection = SelectRecord(txt.Records, entry, out id, out recordText, out problem);
                break;
            case DnsStatus.NxDomain or DnsStatus.NoData:
                selection = MtaStsRecord.Selection.Absent;
                break;
            default:
                selection = MtaStsRecord.Selection.Invalid;
                problem = $"TXT lookup of _mta-sts.{name} failed: {txt.Error ?? txt.Status.ToString()}";
                break;
        }

        if (selection == MtaStsRecord.Selection.Absent)
            return OnRecordGone(name, entry, now);
        if (selection == MtaStsRecord.Selection.Invalid)
        {
            // Section 3.1: treated as no record; a cached policy still applies (section 5.1).
            return entry is { Policy: { } kept } && entry.Usable(now)
                ? new MtaStsLookup(kept, MtaStsSource.CachedAfterFailure, problem)
                : new MtaStsLookup(null, MtaStsSource.None, problem);
        }

        if (entry is { Policy: { } cached } && cached.Id == id && entry.Usable(now))
        {
            entry.RecordText = recordText;
            if (now >= entry.RefreshAt && !entry.InBackoff(now))
                _ = JoinOrStartFetch(name, id!); // proactive refresh; this delivery does not wait for it
            return new MtaStsLookup(cached, MtaStsSource.Cached, null);
        }
        if (entry is not null && entry.InBackoff(now))
        {
            return entry.Usable(now)
                ? new MtaStsLookup(entry.Policy, MtaStsSource.CachedAfterFailure, entry.Error)
                : new MtaStsLookup(null, MtaStsSource.Backoff, entry.Error);
        }
        return await JoinOrStartFetch(name, id!).WaitAsync(cancellationToken);
    }

    /// <summary>
    /// <see cref="MtaStsRecord.Select"/>, but a single MTA-STS record equal to the one last seen for the
    /// cached policy is taken as its id without parsing (the common case: no allocation).
    /// </summary>
    private static MtaStsRecord.Selection SelectRecord(IReadOnlyList<string> records, CacheEntry? entry, out string? id, out string? text, out string? error)
    {
        string? sts = null;
        var count = 0;
        for (var i = 0; i < records.Count; i++)
        {
            if (MtaStsRecord.IsStsRecord(records[i]))
            {
                count++;
                sts = records[i];
            }
        }
        if (count == 1 && entry is { Policy: { } policy, RecordText: { } seen } && string.Equals(seen, sts, StringComparison.Ordinal))
        {
            id = policy.Id;
            text = sts;
            error = null;
            return MtaStsRecord.Selection.Found;
        }
        var selection = MtaStsRecord.Select(records, out var record, out error);
        id = record?.Id;
        text = record?.Text;
        return selection;
    }

    /// <summary>No MTA-STS TXT record (NXDOMAIN, NODATA, or none beginning with "v=STSv1").</summary>
    private MtaStsLookup OnRecordGone(string name, CacheEntry? entry, DateTimeOffset now)
    {
        if (entry?.Policy is not { } policy)
            return new MtaStsLookup(null, MtaStsSource.None, null);
        if (!entry.Usable(now))
        {
            Remove(entry, "policy expired and no MTA-STS TXT record");
            return new MtaStsLookup(null, MtaStsSource.None, null);
        }
        if (policy.Mode == MtaStsMode.None)
        {
            // Section 8.3: a domain withdraws by publishing mode none, then removing the record.
            Remove(entry, "mode none and no MTA-STS TXT record");
            return new MtaStsLookup(null, MtaStsSource.None, null);
        }
        return new MtaStsLookup(policy, MtaStsSource.CachedAfterFailure,
            $"no MTA-STS TXT record at _mta-sts.{name}; the cached policy applies until it expires at {entry.Expires:yyyy-MM-ddTHH:mm:ssZ}");
    }

    private MtaStsLookup Done(string domain, MtaStsLookup lookup)
    {
        _metrics.Lookup(lookup.Source);
        Looked(_log, domain, lookup.SourceName, lookup.Policy is { } p ? MtaStsPolicy.ModeName(p.Mode) : "-", lookup.Error);
        return lookup;
    }

    /// <summary>Removes <paramref name="entry"/> unless it was replaced meanwhile.</summary>
    private void Remove(CacheEntry entry, string reason)
    {
        bool removed;
        lock (_gate)
        {
            removed = _entries.TryRemove(KeyValuePair.Create(entry.Domain, entry));
        }
        if (!removed)
            return;
        Removed(_log, entry.Domain, reason);
        RequestPersist();
    }

    /// <summary>Cached policies by mode (indexed by <see cref="MtaStsMode"/>), for the gauge.</summary>
    private int[] CountByMode()
    {
        var counts = new int[3];
        foreach (var entry in _entries.Values)
        {
            if (entry.Policy is { } policy)
                counts[(int)policy.Mode]++;
        }
        return counts;
    }

    /// <summary>
    /// Stops: fetches still running are cancelled (their waiters get <see cref="OperationCanceledException"/>),
    /// then the cache is written a last time (with every entry's last use).
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await _shutdown.CancelAsync();
        Task[] running;
        lock (_gate)
        {
            running = [.. _inflight.Values];
        }
        try
        {
            await Task.WhenAll(running);
        }
        catch (Exception)
        {
            // Cancelled by the shutdown: nothing of theirs is stored.
        }
        await FlushAsync();
        _ownTrust?.Dispose();
        _shutdown.Dispose();
    }
}
