namespace Tern.MtaSts;

/// <summary>How <see cref="MtaStsPolicies.GetAsync"/> came to its answer (a label of logs and metrics).</summary>
public enum MtaStsSource
{
    /// <summary>No policy: the domain publishes no (usable) MTA-STS TXT record, or the first fetch failed just now.</summary>
    None,

    /// <summary>The policy was fetched just now (first fetch, or the TXT id changed, or the cached one had expired).</summary>
    Fresh,

    /// <summary>The cached policy, whose id the TXT record still names: nothing fetched (RFC 8461 section 5.1).</summary>
    Cached,

    /// <summary>
    /// The cached, unexpired policy, although the TXT lookup failed, the record is gone or invalid, or
    /// the fetch of a new policy failed (RFC 8461 section 5.1: a cached policy outlives such failures).
    /// <see cref="MtaStsLookup.Error"/> says what failed.
    /// </summary>
    CachedAfterFailure,

    /// <summary>
    /// No policy: a fetch for this domain failed less than <see cref="MtaStsPolicies.FailureBackoff"/>
    /// ago and is not tried again yet. <see cref="MtaStsLookup.Error"/> is that failure.
    /// </summary>
    Backoff,
}

/// <summary>
/// The policy that applies to a recipient domain now, or none, and how it was obtained. A
/// <see cref="MtaStsMode.None"/> policy is returned as such; it asks for nothing.
/// </summary>
/// <param name="Policy">The effective policy; null when none applies.</param>
/// <param name="Source">How it was obtained.</param>
/// <param name="Error">What failed, for logs (null when nothing did).</param>
public readonly record struct MtaStsLookup(MtaStsPolicy? Policy, MtaStsSource Source, string? Error)
{
    /// <summary>Whether delivery must follow the policy (RFC 8461 section 5): an enforce-mode policy applies.</summary>
    public bool Enforced => Policy?.Mode == MtaStsMode.Enforce;

    /// <summary>The label of <see cref="Source"/>: none, fresh, cached, cached_after_failure, backoff.</summary>
    public string SourceName => SourceLabels[(int)Source];

    internal static readonly string[] SourceLabels = ["none", "fresh", "cached", "cached_after_failure", "backoff"];
}
