namespace Tern.MtaSts;

/// <summary>One domain in the policy cache, for listings (<see cref="MtaStsPolicies.Entries"/>, <see cref="MtaStsPolicies.ReadCache"/>).</summary>
/// <param name="Domain">The policy domain (normalized).</param>
/// <param name="Policy">The cached policy, possibly expired; null when only a failed first fetch is remembered.</param>
/// <param name="Fetched">When the policy was last fetched.</param>
/// <param name="Expires">Fetched + max_age: the policy is not applied after this.</param>
/// <param name="RefreshDue">From this time on a lookup refreshes the policy in the background.</param>
/// <param name="LastUsed">The last lookup of the domain.</param>
/// <param name="Failed">The last failed fetch (since the policy was fetched), if any.</param>
/// <param name="Error">Why it failed.</param>
public sealed record MtaStsCacheEntry(
    string Domain,
    MtaStsPolicy? Policy,
    DateTimeOffset? Fetched,
    DateTimeOffset? Expires,
    DateTimeOffset? RefreshDue,
    DateTimeOffset LastUsed,
    DateTimeOffset? Failed,
    string? Error);
