namespace Tern.MtaSts;

/// <summary>
/// What <see cref="MtaStsPolicies"/> knows about one domain: a policy (possibly expired) with its fetch
/// times, and/or the last failed fetch (the backoff). Immutable but for <see cref="LastUsed"/> and the
/// remembered record text; a change replaces the entry.
/// </summary>
internal sealed class CacheEntry
{
    private long _lastUsedTicks;

    public CacheEntry(string domain, MtaStsPolicy? policy, DateTimeOffset fetched, DateTimeOffset refreshAt, DateTimeOffset? failed, string? error, DateTimeOffset lastUsed, long sequence)
    {
        Domain = domain;
        TxtName = "_mta-sts." + domain;
        Policy = policy;
        Fetched = fetched;
        RefreshAt = refreshAt;
        Failed = failed;
        Error = error;
        _lastUsedTicks = lastUsed.UtcTicks;
        Sequence = sequence;
    }

    public string Domain { get; }

    /// <summary>"_mta-sts.DOMAIN", kept so that a lookup of a cached domain builds no string.</summary>
    public string TxtName { get; }

    /// <summary>The last policy fetched, null for a backoff-only entry (the first fetch failed).</summary>
    public MtaStsPolicy? Policy { get; }

    /// <summary>When <see cref="Policy"/> was (last) fetched; its max_age counts from here (RFC 8461 section 3.2).</summary>
    public DateTimeOffset Fetched { get; }

    /// <summary>When a lookup starts a refresh in the background (12 h after the fetch, with jitter).</summary>
    public DateTimeOffset RefreshAt { get; }

    /// <summary>The last failed fetch since <see cref="Fetched"/>, if any.</summary>
    public DateTimeOffset? Failed { get; }

    public string? Error { get; }

    /// <summary>Orders fetch results: a fetch started earlier never overwrites what a later one stored.</summary>
    public long Sequence { get; }

    /// <summary>The TXT record text last seen naming <see cref="Policy"/>'s id: an equal record is not parsed again.</summary>
    public string? RecordText { get; set; }

    public DateTimeOffset Expires => Policy is null ? Fetched : Fetched + Policy.MaxAge;

    /// <summary>The last lookup of the domain (entries unused for <see cref="MtaStsPolicies.UnusedLifetime"/> go).</summary>
    public DateTimeOffset LastUsed => new(Interlocked.Read(ref _lastUsedTicks), TimeSpan.Zero);

    public void Touch(DateTimeOffset now) => Tern.Platform.AtomicMax.Raise(ref _lastUsedTicks, now.UtcTicks);

    /// <summary>A policy that may still be applied (RFC 8461 section 5.1: never an expired one).</summary>
    public bool Usable(DateTimeOffset now) => Policy is not null && now < Expires;

    /// <summary>Within <see cref="MtaStsPolicies.FailureBackoff"/> of a failed fetch: no new fetch yet.</summary>
    public bool InBackoff(DateTimeOffset now) => Failed is { } failed && now < failed + MtaStsPolicies.FailureBackoff;

    public MtaStsCacheEntry ToPublic() => new(
        Domain,
        Policy,
        Policy is null ? null : Fetched,
        Policy is null ? null : Expires,
        Policy is null ? null : RefreshAt,
        LastUsed,
        Failed,
        Error);
}
