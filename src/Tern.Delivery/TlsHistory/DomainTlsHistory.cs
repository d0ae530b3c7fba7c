using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging;
using Tern.Smtp.Protocol;

namespace Tern.Delivery;

/// <summary>One page of <see cref="DomainTlsHistory.Page"/>, with the total that matched and the next page's cursor (null on the last).</summary>
public sealed record DomainTlsPage(IReadOnlyList<DomainTlsRecord> Entries, int Total, string? Next);

/// <summary>
/// Per recipient domain, whether its server offered STARTTLS, verified TLS and REQUIRETLS on the
/// last delivery (mail-behaviour.md, "TLS modes and policies"): the host picks REQUIRETLS for a
/// submission when every recipient domain took it last time, and operators list it with
/// <c>tern queue domains</c>. Like mox's RecipientDomainTLS it is a hint from the last session,
/// not a policy: a domain with several MX hosts is described by whichever was used last.
/// </summary>
/// <remarks>
/// <para>
/// <see cref="Observed"/> runs on the delivery path: it only updates memory (lock-free reads and
/// updates) and marks the table changed. The file (<c>DATA/domain-tls.json</c>, mode 0600) is
/// replaced atomically by a timer at most once per <see cref="DomainTlsHistoryOptions.WriteInterval"/>
/// when something changed, and once more on <see cref="Dispose"/>; a crash loses at most that much.
/// </para>
/// <para>
/// Bounded: beyond <see cref="DomainTlsHistoryOptions.MaxDomains"/> the least recently delivered to
/// are forgotten. A file that cannot be read (corrupt, truncated, another version) is logged and
/// the history starts empty; the next write replaces it.
/// </para>
/// </remarks>
public sealed partial class DomainTlsHistory : IDomainTlsObserver, IDisposable
{
    public const string FileName = "domain-tls.json";

    /// <summary>The longest page of <see cref="Page"/>.</summary>
    public const int MaxPageSize = 100_000;

    /// <summary>
    /// A later delivery with the same flags marks the table changed only when it moves the time by at
    /// least this much: a busy domain does not rewrite the file every few seconds for its clock alone.
    /// </summary>
    internal static readonly TimeSpan TimeResolution = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<string, DomainTlsRecord> _domains = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, DomainTlsRecord>.AlternateLookup<ReadOnlySpan<char>> _bySpan;
    private readonly Lock _evicting = new();
    private readonly int _max;
    private readonly ILogger _log;
    private int _count;

    private DomainTlsHistory(string path, DomainTlsHistoryOptions options, ILogger log, TimeProvider clock)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxDomains, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.WriteInterval, TimeSpan.Zero);
        _bySpan = _domains.GetAlternateLookup<ReadOnlySpan<char>>();
        _max = options.MaxDomains;
        _log = log;
        FilePath = path;
        _file = new Platform.LockedFile(path, "domain TLS history", (message, inner) => new IOException(message, inner));
        _clock = clock;
    }

    /// <summary>The file in a data directory.</summary>
    public static string PathIn(string dataDirectory) => Path.Combine(dataDirectory, FileName);

    /// <summary>Domains remembered now.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <inheritdoc/>
    public void Observed(string recipientDomain, bool startTls, bool verified, bool requireTls, DateTimeOffset when)
    {
        if (Normalize(recipientDomain) is not { } domain)
        {
            return;
        }

        // REQUIRETLS is announced only after STARTTLS (RFC 8689 section 3); verification needs TLS.
        var record = new DomainTlsRecord(domain, when, startTls || verified || requireTls, verified, requireTls);
        while (true)
        {
            if (_domains.TryGetValue(domain, out var old))
            {
                // Workers finish out of order: an older session does not overwrite a newer one.
                if (old.LastDelivery > when)
                {
                    return;
                }

                if (_domains.TryUpdate(domain, record, old))
                {
                    if (old.StartTls != record.StartTls || old.Verified != record.Verified || old.RequireTls != record.RequireTls || when - old.LastDelivery >= TimeResolution)
                    {
                        MarkChanged();
                    }

                    return;
                }
            }
            else if (_domains.TryAdd(domain, record))
            {
                MarkChanged();
                if (Interlocked.Increment(ref _count) > _max)
                {
                    Evict();
                }

                return;
            }
        }
    }

    /// <summary>The last observation of a domain (any case; U-labels or A-labels).</summary>
    public bool TryGet(string domain, out DomainTlsRecord record)
    {
        record = null!;
        return Normalize(domain) is { } key && _domains.TryGetValue(key, out record!);
    }

    /// <summary>
    /// As <see cref="TryGet(string, out DomainTlsRecord)"/> for a domain as it came off the wire
    /// (UTF-8): an ASCII domain is looked up without allocating.
    /// </summary>
    public bool TryGet(ReadOnlySpan<byte> utf8Domain, out DomainTlsRecord record)
    {
        record = null!;
        if (utf8Domain.Length is 0 or > 255)
        {
            return false;
        }

        if (Ascii.IsValid(utf8Domain))
        {
            Span<char> chars = stackalloc char[utf8Domain.Length];
            Ascii.ToUtf16(utf8Domain, chars, out var n);
            return _bySpan.TryGetValue(chars[..n], out record!);
        }

        return Idna.ToAscii(utf8Domain) is { } key && _domains.TryGetValue(key, out record!);
    }

    /// <summary>Every domain remembered, in name order.</summary>
    public IReadOnlyList<DomainTlsRecord> All() => Sorted();

    /// <summary>One page of domains in name order.</summary>
    /// <param name="contains">Only domains containing this text (case ignored); null or empty: all.</param>
    /// <param name="limit">At most this many (1 to <see cref="MaxPageSize"/>).</param>
    /// <param name="after">Only domains after this one (the previous page's last).</param>
    public DomainTlsPage Page(string? contains = null, int limit = 100, string? after = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(limit, MaxPageSize);
        var cursor = after is { Length: > 0 } ? after.ToLowerInvariant() : null;
        var entries = new List<DomainTlsRecord>();
        var total = 0;
        var more = false;
        foreach (var r in Sorted())
        {
            if (contains is { Length: > 0 } && !r.Domain.Contains(contains, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            total++;
            if (cursor is not null && string.CompareOrdinal(r.Domain, cursor) <= 0)
            {
                continue;
            }

            if (entries.Count < limit)
            {
                entries.Add(r);
            }
            else
            {
                more = true;
            }
        }

        return new DomainTlsPage(entries, total, more ? entries[^1].Domain : null);
    }

    /// <summary>
    /// The key of a domain: lower case, A-labels (RFC 5890; with SMTPUTF8 the queue may hold
    /// U-labels), no trailing dot. Null for what cannot be a domain.
    /// </summary>
    internal static string? Normalize(string domain)
    {
        var d = domain.AsSpan().Trim().TrimEnd('.');
        if (d.Length is 0 or > 255)
        {
            return null;
        }

        if (Ascii.IsValid(d))
        {
            return d.ToString().ToLowerInvariant();
        }

        return Idna.ToAscii(Encoding.UTF8.GetBytes(d.ToString()));
    }

    private DomainTlsRecord[] Sorted()
    {
        var all = _domains.Values.ToArray();
        Array.Sort(all, (a, b) => string.CompareOrdinal(a.Domain, b.Domain));
        return all;
    }

    /// <summary>
    /// Over the cap: forgets the least recently delivered to, down to nine tenths of the cap, so that
    /// the sort happens once per tenth of the cap of new domains, not on each.
    /// </summary>
    private void Evict()
    {
        lock (_evicting)
        {
            var count = Volatile.Read(ref _count);
            if (count <= _max)
            {
                return;
            }

            var keep = _max - Math.Max(1, _max / 10);
            var oldest = _domains.Values.ToArray();
            Array.Sort(oldest, (a, b) => a.LastDelivery.CompareTo(b.LastDelivery));
            var removed = 0;
            for (var i = 0; i < oldest.Length && Volatile.Read(ref _count) > keep; i++)
            {
                if (_domains.TryRemove(new KeyValuePair<string, DomainTlsRecord>(oldest[i].Domain, oldest[i])))
                {
                    Interlocked.Decrement(ref _count);
                    removed++;
                }
            }

            MarkChanged();
            Evicted(_log, removed, _max);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "domain TLS history full, least recently delivered domains forgotten {count} {max}")]
    private static partial void Evicted(ILogger log, int count, int max);
}
