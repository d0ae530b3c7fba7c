using System.Security.Cryptography;

namespace Tern.MtaSts;

/// <summary>Fetches shared by concurrent lookups, and how their results change the cache.</summary>
public sealed partial class MtaStsPolicies
{
    /// <summary>
    /// The running fetch of this domain and id, or a new one. The fetch is not cancelled with any
    /// caller (others may wait for it; it is bounded by <see cref="MtaStsOptions.FetchTimeout"/>),
    /// only by <see cref="DisposeAsync"/>.
    /// </summary>
    private Task<MtaStsLookup> JoinOrStartFetch(string name, string id)
    {
        TaskCompletionSource<MtaStsLookup> completion;
        long sequence;
        lock (_gate)
        {
            if (_inflight.TryGetValue((name, id), out var running))
                return running;
            completion = new TaskCompletionSource<MtaStsLookup>(TaskCreationOptions.RunContinuationsAsynchronously);
            sequence = ++_sequence;
            _inflight.Add((name, id), completion.Task);
        }
        _ = FetchAndStoreAsync(name, id, sequence, completion);
        return completion.Task;
    }

    /// <summary>Completes when the fetches running now (background refreshes included) have stored their results.</summary>
    internal Task WhenFetchesDone()
    {
        Task[] running;
        lock (_gate)
        {
            running = [.. _inflight.Values];
        }
        return Task.WhenAll(running);
    }

    private async Task FetchAndStoreAsync(string name, string id, long sequence, TaskCompletionSource<MtaStsLookup> completion)
    {
        try
        {
            var result = await _fetcher.FetchAsync(name, id, _shutdown.Token);
            _metrics.Fetch(result.Status);
            var lookup = Store(name, id, sequence, result);
            // Left in the table until stored, so that a lookup meanwhile joins rather than fetches again.
            Forget(name, id);
            completion.SetResult(lookup);
        }
        catch (OperationCanceledException)
        {
            Forget(name, id);
            completion.SetCanceled(_shutdown.Token);
        }
        catch (Exception e)
        {
            Forget(name, id);
            completion.SetException(e);
        }
    }

    private void Forget(string name, string id)
    {
        lock (_gate)
        {
            _inflight.Remove((name, id));
        }
    }

    /// <summary>Applies a fetch result to the cache and says what the lookups waiting for it get.</summary>
    private MtaStsLookup Store(string name, string id, long sequence, MtaStsFetchResult result)
    {
        var now = _time.GetUtcNow();
        MtaStsLookup lookup;
        lock (_gate)
        {
            _entries.TryGetValue(name, out var current);
            var lastUsed = current is null || current.LastUsed < now ? now : current.LastUsed;
            if (current is not null && current.Sequence > sequence)
            {
                // A fetch started later (for a newer id) stored its result first: keep that one.
                return result.Policy is { } mine
                    ? new MtaStsLookup(mine, MtaStsSource.Fresh, null)
                    : current.Usable(now)
                        ? new MtaStsLookup(current.Policy, MtaStsSource.CachedAfterFailure, result.Error)
                        : new MtaStsLookup(null, MtaStsSource.None, result.Error);
            }
            if (result.Policy is { } policy)
            {
                _entries[name] = new CacheEntry(name, policy, now, RefreshTime(now, policy), null, null, lastUsed, sequence);
                lookup = new MtaStsLookup(policy, MtaStsSource.Fresh, null);
            }
            else if (current is { Policy: { } kept } && current.Usable(now))
            {
                // Section 5.1: a failed fetch does not remove an unexpired policy; the failure starts the backoff.
                _entries[name] = new CacheEntry(name, kept, current.Fetched, current.RefreshAt, now, result.Error, lastUsed, sequence)
                {
                    RecordText = current.RecordText,
                };
                lookup = new MtaStsLookup(kept, MtaStsSource.CachedAfterFailure, result.Error);
            }
            else
            {
                // No usable policy: none applies, and the failure is remembered for the backoff.
                _entries[name] = new CacheEntry(name, null, now, now, now, result.Error, lastUsed, sequence);
                lookup = new MtaStsLookup(null, MtaStsSource.None, result.Error);
            }
        }

        if (result.Policy is { } fetched)
            Fetched(_log, name, fetched.Id, MtaStsPolicy.ModeName(fetched.Mode), fetched.MaxAgeSeconds, string.Join(',', fetched.Mx));
        else
            FetchFailed(_log, name, id, result.StatusName, lookup.Policy is not null, result.Error);
        RequestPersist();
        return lookup;
    }

    /// <summary>
    /// When a lookup refreshes the policy: after <see cref="RefreshAge"/>, or half the max_age when
    /// that is shorter (so that a short-lived policy is renewed before it expires), plus a random
    /// twelfth of that, so that policies fetched together are not all refreshed together.
    /// </summary>
    internal static DateTimeOffset RefreshTime(DateTimeOffset fetched, MtaStsPolicy policy)
    {
        var age = policy.MaxAge / 2 < RefreshAge ? policy.MaxAge / 2 : RefreshAge;
        var spread = (int)(age.TotalSeconds / 12);
        return fetched + age + (spread > 0 ? TimeSpan.FromSeconds(RandomNumberGenerator.GetInt32(spread + 1)) : TimeSpan.Zero);
    }
}
