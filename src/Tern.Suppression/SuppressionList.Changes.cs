namespace Tern.Suppression;

/// <summary>
/// Changes: failures and deliveries recorded by the delivery workers, and the operator's add and
/// remove. Each is made in memory under <see cref="_write"/>, queued as a journal line, and
/// returns once that line is durable (<see cref="Commit"/>).
/// </summary>
public sealed partial class SuppressionList
{
    /// <summary>
    /// Records a permanent failure of delivery to <paramref name="address"/>. Suppresses it at once
    /// when the reply says so (<see cref="SuppressionRules.SuppressesAtOnce(string)"/>), else counts
    /// the failure and suppresses it at the <see cref="Threshold"/>-th consecutive one. A reply that
    /// is not a 5xx (a 4xx, or text without a reply code) is ignored. Durable when it returns.
    /// </summary>
    /// <param name="address">The recipient.</param>
    /// <param name="reply">The full reply text, first line "550 5.1.1 ...", possibly more lines.</param>
    /// <returns>The entry when the address is now suppressed (also when it already was), else null.</returns>
    /// <exception cref="SuppressionStoreException">The journal cannot be written.</exception>
    public SuppressionEntry? RecordPermanentFailure(string address, string reply)
    {
        ArgumentException.ThrowIfNullOrEmpty(address);
        ArgumentNullException.ThrowIfNull(reply);
        if (!SuppressionRules.TryParse(reply, out var code) || !code.IsPermanent)
        {
            return null;
        }

        if (TryGet(address, out var existing))
        {
            return existing;
        }

        SuppressionEntry? suppressed = null;
        long commit;
        lock (_write)
        {
            ThrowIfDisposed();
            if (_entries.TryGetValue(address, out existing))
            {
                return existing;
            }

            var text = Reason(reply);
            if (SuppressionRules.SuppressesAtOnce(code))
            {
                suppressed = new SuppressionEntry(address, text, Now(), SuppressionSource.Bounce);
            }
            else
            {
                var failures = FailureCount(address) + 1;
                if (failures >= Threshold)
                {
                    // Spelt as when its failures were first counted.
                    var spelling = _counters.TryGetValue(address, out var node) ? node.Value.Address : address;
                    var why = failures == 1 ? text : $"{failures} consecutive permanent failures, the last: {text}";
                    suppressed = new SuppressionEntry(spelling, Cut(why), Now(), SuppressionSource.RepeatedFailures);
                }
                else
                {
                    Append(Journal.CountLine(address, failures));
                    SetCounter(address, failures);
                }
            }

            if (suppressed is not null)
            {
                Append(Journal.AddLine(suppressed));
                Suppress(suppressed);
            }

            commit = _appended;
        }

        Commit(commit);
        if (suppressed is not null)
        {
            Suppressed(_log, suppressed.Address, Journal.SourceName(suppressed.Source), code.ToString());
        }

        return suppressed;
    }

    /// <summary>
    /// Records a delivery to <paramref name="address"/>: its consecutive failures start again from 0.
    /// Costs nothing (no lock, no I/O) for an address without counted failures.
    /// </summary>
    /// <exception cref="SuppressionStoreException">The journal cannot be written.</exception>
    public void RecordDelivered(string address)
    {
        ArgumentException.ThrowIfNullOrEmpty(address);
        if (!_counters.ContainsKey(address))
        {
            return;
        }

        long commit;
        lock (_write)
        {
            ThrowIfDisposed();
            if (!_counters.ContainsKey(address))
            {
                return;
            }

            Append(Journal.CountLine(address, 0));
            RemoveCounter(address);
            commit = _appended;
        }

        Commit(commit);
    }

    /// <summary>Suppresses an address on the operator's word. Durable when it returns.</summary>
    /// <param name="address">The address (see <see cref="CheckAddress"/>).</param>
    /// <param name="reason">Why (given to senders in the failure notice); empty: "suppressed by the operator".</param>
    /// <returns>False when the address is already suppressed (the entry is left as it is).</returns>
    /// <exception cref="ArgumentException">Not an address.</exception>
    /// <exception cref="SuppressionStoreException">The journal cannot be written.</exception>
    public bool Add(string address, string reason)
    {
        if (CheckAddress(address) is { } problem)
        {
            throw new ArgumentException(problem, nameof(address));
        }

        long commit;
        lock (_write)
        {
            ThrowIfDisposed();
            if (_entries.ContainsKey(address))
            {
                return false;
            }

            var entry = new SuppressionEntry(address, string.IsNullOrWhiteSpace(reason) ? "suppressed by the operator" : Reason(reason), Now(), SuppressionSource.Operator);
            Append(Journal.AddLine(entry));
            Suppress(entry);
            commit = _appended;
        }

        Commit(commit);
        return true;
    }

    /// <summary>
    /// Takes an address off the list and forgets its failure count: mail to it is attempted again.
    /// Durable when it returns.
    /// </summary>
    /// <returns>False when the address was not suppressed.</returns>
    /// <exception cref="SuppressionStoreException">The journal cannot be written.</exception>
    public bool Remove(string address)
    {
        ArgumentException.ThrowIfNullOrEmpty(address);
        bool removed;
        long commit;
        lock (_write)
        {
            ThrowIfDisposed();
            removed = _entries.ContainsKey(address);
            if (!removed && !_counters.ContainsKey(address))
            {
                return false;
            }

            Append(Journal.RemoveLine(address));
            Unsuppress(address);
            RemoveCounter(address);
            commit = _appended;
        }

        Commit(commit);
        return removed;
    }

    // ---- in-memory state (under _write; also by the replay) ----

    private void Suppress(SuppressionEntry entry)
    {
        RemoveCounter(entry.Address);
        if (_entries.TryGetValue(entry.Address, out var old))
        {
            _liveBytes -= Journal.Bytes(Journal.AddLine(old));
        }
        else
        {
            Volatile.Write(ref _count, _count + 1);
        }

        _entries[entry.Address] = entry;
        _liveBytes += Journal.Bytes(Journal.AddLine(entry));
        Changed();
    }

    private void Unsuppress(string address)
    {
        if (_entries.TryRemove(address, out var old))
        {
            _liveBytes -= Journal.Bytes(Journal.AddLine(old));
            Volatile.Write(ref _count, _count - 1);
            Changed();
        }
    }

    private void Changed()
    {
        Interlocked.Increment(ref _version);
        Volatile.Write(ref _sorted, null);
    }
}
