using System.Collections.Concurrent;
using System.Net;

namespace Tern.Smtp.Server;

/// <summary>
/// Counts failed AUTH attempts per client address in a sliding window, so that password guessing
/// is slowed down and then refused (421) across connections, not just within one.
/// </summary>
internal sealed class AuthFailureTracker(TimeSpan window, TimeProvider clock)
{
    private const int PruneThreshold = 10_000;
    private const int MaxEntries = 100_000;
    private static readonly TimeSpan PruneInterval = TimeSpan.FromSeconds(10);
    private readonly ConcurrentDictionary<IPAddress, Entry> _entries = new();
    private long _lastPruneTicks;

    /// <summary>Failures recorded for the address within the window.</summary>
    public int Failures(IPAddress address)
    {
        address = ClientAddress.LimitKey(address);
        var now = clock.GetUtcNow();
        return _entries.TryGetValue(address, out var e) && now - e.First < window ? e.Count : 0;
    }

    /// <summary>Records a failure; returns the address's count within the window, this one included.</summary>
    public int Record(IPAddress address)
    {
        address = ClientAddress.LimitKey(address);
        var now = clock.GetUtcNow();
        Prune(now);
        var entry = _entries.AddOrUpdate(
            address,
            static (_, n) => new Entry(n.Time, 1),
            static (_, old, n) => n.Time - old.First >= n.Window ? new Entry(n.Time, 1) : old with { Count = old.Count + 1 },
            (Time: now, Window: window));
        return entry.Count;
    }

    /// <summary>Drops expired entries, at most every few seconds (so a flood costs O(n) rarely, not per failure).</summary>
    private void Prune(DateTimeOffset now)
    {
        var last = Interlocked.Read(ref _lastPruneTicks);
        if (_entries.Count <= PruneThreshold || now.UtcTicks - last < PruneInterval.Ticks ||
            Interlocked.CompareExchange(ref _lastPruneTicks, now.UtcTicks, last) != last)
        {
            return;
        }

        foreach (var (key, value) in _entries)
        {
            if (now - value.First >= window)
            {
                _entries.TryRemove(key, out _);
            }
        }

        if (_entries.Count > MaxEntries)
        {
            // A flood from more networks than can be tracked: start over rather than grow without bound.
            _entries.Clear();
        }
    }

    private sealed record Entry(DateTimeOffset First, int Count);
}
