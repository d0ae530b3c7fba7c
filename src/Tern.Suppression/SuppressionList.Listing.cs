namespace Tern.Suppression;

/// <summary>
/// Listing: pages of suppressed addresses in address order, from a sorted snapshot that a change
/// invalidates and the next listing rebuilds.
/// </summary>
public sealed partial class SuppressionList
{
    /// <summary>One page of suppressed addresses in address order (ASCII case ignored).</summary>
    /// <param name="contains">Only addresses containing this text (case ignored); null: all.</param>
    /// <param name="limit">At most this many (1 to <see cref="MaxPageSize"/>).</param>
    /// <param name="after">Only addresses after this one (the previous page's last).</param>
    public IReadOnlyList<SuppressionEntry> List(string? contains = null, int limit = 100, string? after = null) => Page(contains, limit, after).Entries;

    /// <summary>As <see cref="List"/>, with the total that match <paramref name="contains"/> and the cursor of the next page.</summary>
    public SuppressionPage Page(string? contains = null, int limit = 100, string? after = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(limit, MaxPageSize);
        if (contains is { Length: 0 })
        {
            contains = null;
        }

        var sorted = Sorted();
        var start = 0;
        if (after is not null)
        {
            // The first entry ordered after the cursor (which need not be on the list any more).
            var lo = 0;
            var hi = sorted.Length;
            while (lo < hi)
            {
                var mid = (lo + hi) >>> 1;
                if (AddressComparer.Instance.Compare(sorted[mid].Address, after) <= 0)
                {
                    lo = mid + 1;
                }
                else
                {
                    hi = mid;
                }
            }

            start = lo;
        }

        var entries = new List<SuppressionEntry>(Math.Min(limit, sorted.Length - start));
        var total = 0;
        var more = false;
        for (var i = 0; i < sorted.Length; i++)
        {
            if (contains is not null && !sorted[i].Address.Contains(contains, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            total++;
            if (i < start)
            {
                continue;
            }

            if (entries.Count < limit)
            {
                entries.Add(sorted[i]);
            }
            else
            {
                more = true;
            }
        }

        return new SuppressionPage(entries, total, more ? entries[^1].Address : null);
    }

    /// <summary>The entries in address order; rebuilt after a change, without blocking writers.</summary>
    private SuppressionEntry[] Sorted()
    {
        var version = Volatile.Read(ref _version);
        if (Volatile.Read(ref _sorted) is { } cached && cached.Version == version)
        {
            return cached.Entries;
        }

        var entries = _entries.Values.ToArray();
        Array.Sort(entries, static (a, b) => AddressComparer.Instance.Compare(a.Address, b.Address));
        Volatile.Write(ref _sorted, new SortedSnapshot(version, entries));
        return entries;
    }

    private sealed record SortedSnapshot(long Version, SuppressionEntry[] Entries);
}
