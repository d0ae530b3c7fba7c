namespace Tern.Suppression;

/// <summary>
/// Failure counts of addresses that are not (yet) suppressed, bounded by <see cref="MaxTracked"/>:
/// past that the address that failed longest ago is forgotten.
/// </summary>
public sealed partial class SuppressionList
{
    /// <summary>How many addresses have failures counted without being suppressed.</summary>
    public int TrackedFailures
    {
        get
        {
            lock (_write)
            {
                return _counterOrder.Count;
            }
        }
    }

    /// <summary>The consecutive permanent failures counted for an address that is not suppressed (0 when none).</summary>
    public int FailureCount(string address) => _counters.TryGetValue(address, out var node) ? Volatile.Read(ref node.Value.Count) : 0;

    // ---- in-memory state (under _write; also by the replay) ----

    private void SetCounter(string address, int count)
    {
        if (count <= 0)
        {
            RemoveCounter(address);
            return;
        }

        var bytes = Journal.Bytes(Journal.CountLine(address, count));
        if (_counters.TryGetValue(address, out var node))
        {
            _liveBytes += bytes - node.Value.LineBytes;
            Volatile.Write(ref node.Value.Count, count);
            node.Value.LineBytes = bytes;

            // The most recently failed go last; the first is forgotten first.
            _counterOrder.Remove(node);
            _counterOrder.AddLast(node);
            return;
        }

        node = _counterOrder.AddLast(new Counter(address, count, bytes));
        _counters[address] = node;
        _liveBytes += bytes;
        while (_counterOrder.Count > MaxTracked)
        {
            var oldest = _counterOrder.First!;
            _counterOrder.RemoveFirst();
            _counters.TryRemove(oldest.Value.Address, out _);
            _liveBytes -= oldest.Value.LineBytes;
        }
    }

    private void RemoveCounter(string address)
    {
        if (_counters.TryRemove(address, out var node))
        {
            _counterOrder.Remove(node);
            _liveBytes -= node.Value.LineBytes;
        }
    }

    /// <summary>A not-yet-suppressed address's consecutive permanent failures.</summary>
    private sealed class Counter(string address, int count, int lineBytes)
    {
        public readonly string Address = address;
        public int Count = count;
        public int LineBytes = lineBytes;
    }
}
