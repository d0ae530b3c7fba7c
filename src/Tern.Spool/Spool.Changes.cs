using System.Buffers;
using FASTER.core;
using Tern.Spool.Queue;

namespace Tern.Spool;

/// <summary>
/// Changes to queued messages. A change reads the entry, computes the new one, appends it as a State
/// record and returns once that record is durable and applied to the index. Changes to one message
/// are serialised by a lock stripe (so none is lost to another's stale read); a change of many
/// messages takes their stripes in ascending order and shares one commit. Scheduling (the next attempt alone,
/// as a NextAttempt record) takes the stripes of its messages, in the same order.
/// </summary>
public sealed partial class Spool
{
    private const int StripeCount = 64;

    private readonly SemaphoreSlim[] _stripes = [.. Enumerable.Range(0, StripeCount).Select(_ => new SemaphoreSlim(1, 1))];

    internal TimeProvider Clock => _clock;

    /// <summary>Serialises changes of the hold rules (each rewrites the whole set).</summary>
    internal SemaphoreSlim RulesLock { get; } = new(1, 1);

    /// <summary>Reads and decodes one entry (queued or retired); null when unknown.</summary>
    internal QueueEntry? ReadEntry(MessageId id) => Decode(id, _index.Read(id, out var n), n);

    /// <summary>As <see cref="ReadEntry"/>, without holding a thread while an entry that is only on disk is read.</summary>
    internal async ValueTask<QueueEntry?> ReadEntryAsync(MessageId id)
    {
        var (value, n) = await _index.ReadAsync(id).ConfigureAwait(false);
        return Decode(id, value, n);
    }

    /// <summary>Decodes an entry read from the index (null: absent) and returns its buffer to the pool.</summary>
    private static QueueEntry? Decode(MessageId id, byte[]? value, int length)
    {
        if (value is null)
        {
            return null;
        }

        try
        {
            return QueueEntryFormat.Read(id, value.AsSpan(0, length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(value);
        }
    }

    /// <summary>
    /// Applies <paramref name="change"/> to each queued message in <paramref name="ids"/> (null from the
    /// change: leave it as it is). Returns how many changed; throws <see cref="IOException"/> when the
    /// log could not make the change durable.
    /// </summary>
    internal Task<int> ChangeAsync(IReadOnlyList<MessageId> ids, Func<QueueEntry, QueueEntry?> change, CancellationToken cancel) =>
        ChangeEachAsync([.. ids.Distinct()], (_, entry) => change(entry), cancel);

    /// <summary>
    /// As <see cref="ChangeAsync"/>, with the index of the message in <paramref name="ids"/> (each id
    /// at most once: a second change of one message would read the entry before the first).
    /// </summary>
    private async Task<int> ChangeEachAsync(MessageId[] ids, Func<int, QueueEntry, QueueEntry?> change, CancellationToken cancel)
    {
        if (ids.Length == 0)
        {
            return 0;
        }

        var taken = 0UL;
        try
        {
            taken = await TakeStripesAsync(ids, cancel).ConfigureAwait(false);
            var changed = 0;
            var last = -1L;
            var instance = _current;
            for (var i = 0; i < ids.Length; i++)
            {
                if (ReadEntry(ids[i]) is not { State: MessageState.Queued } entry || change(i, entry) is not { } updated)
                {
                    continue;
                }

                last = AppendState(ids[i], updated, instance.Generation);
                changed++;
            }

            if (last >= 0)
            {
                await SettleAsync(instance, last, cancel).ConfigureAwait(false);
            }

            return changed;
        }
        finally
        {
            ReleaseStripes(taken);
        }
    }

    /// <summary>
    /// Takes the lock stripes of <paramref name="ids"/>, in ascending order (so that two takers never
    /// deadlock); returns them as a mask, for <see cref="ReleaseStripes"/>. A cancelled wait releases
    /// what it took and throws.
    /// </summary>
    private async ValueTask<ulong> TakeStripesAsync(IReadOnlyList<MessageId> ids, CancellationToken cancel)
    {
        var wanted = 0UL;
        for (var i = 0; i < ids.Count; i++)
        {
            wanted |= 1UL << Stripe(ids[i]);
        }

        var taken = 0UL;
        try
        {
            for (var left = wanted; left != 0; left &= left - 1)
            {
                var stripe = System.Numerics.BitOperations.TrailingZeroCount(left);
                await _stripes[stripe].WaitAsync(cancel).ConfigureAwait(false);
                taken |= 1UL << stripe;
            }

            return taken;
        }
        catch
        {
            ReleaseStripes(taken);
            throw;
        }
    }

    private void ReleaseStripes(ulong taken)
    {
        for (var left = taken; left != 0; left &= left - 1)
        {
            _stripes[System.Numerics.BitOperations.TrailingZeroCount(left)].Release();
        }
    }

    /// <summary>
    /// Sets the next attempt of each message in <paramref name="ids"/> that is still queued (held or
    /// not) to <paramref name="next"/>: one small NextAttempt record per message, all in one commit.
    /// Returns how many were set (an id given twice counts twice), once their records are durable
    /// and applied to the index (so a crash after it returns never loses them); throws
    /// <see cref="IOException"/> when the log could not make them durable (some may still take effect).
    /// <para>
    /// Races: it holds the lock stripes of the messages (like every change) from the read of their
    /// state until its records are applied, so it is ordered with every other change of the same
    /// message and the later one wins. A change after it (an attempt recorded, hold, retry...) reads
    /// the entry with this next attempt, so its snapshot keeps it unless the change sets the next
    /// attempt itself; a change before it is applied before this reads the state. When the caller's
    /// token cancels the wait, the records may still be applied, later.
    /// </para>
    /// </summary>
    public Task<int> ScheduleAsync(IReadOnlyList<MessageId> ids, DateTimeOffset next, CancellationToken cancel = default) =>
        ScheduleAsync(ids, null, next, cancel);

    /// <summary>As <see cref="ScheduleAsync(IReadOnlyList{MessageId}, DateTimeOffset, CancellationToken)"/>, each message with its own time (<paramref name="next"/>[i] for <paramref name="ids"/>[i]).</summary>
    public Task<int> ScheduleAsync(IReadOnlyList<MessageId> ids, IReadOnlyList<DateTimeOffset> next, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(next);
        if (next.Count != ids.Count)
        {
            throw new ArgumentException($"{ids.Count} messages but {next.Count} times", nameof(next));
        }

        return ScheduleAsync(ids, next, default, cancel);
    }

    private async Task<int> ScheduleAsync(IReadOnlyList<MessageId> ids, IReadOnlyList<DateTimeOffset>? each, DateTimeOffset next, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (ids.Count == 0)
        {
            return 0;
        }

        var taken = 0UL;
        try
        {
            taken = await TakeStripesAsync(ids, cancel).ConfigureAwait(false);
            var instance = _current;
            var (last, count) = AppendNextAttempts(ids, each, next.ToUnixTimeMilliseconds(), instance.Generation);
            if (last >= 0)
            {
                await SettleAsync(instance, last, cancel).ConfigureAwait(false);
            }

            return count;
        }
        finally
        {
            ReleaseStripes(taken);
        }
    }

    /// <summary>Appends a NextAttempt record for each queued message; returns the last record's address (-1: none) and how many.</summary>
    private (long Last, int Count) AppendNextAttempts(IReadOnlyList<MessageId> ids, IReadOnlyList<DateTimeOffset>? each, long nextMs, int generation)
    {
        Span<byte> record = stackalloc byte[RecordFormat.NextAttemptSize];
        var last = -1L;
        var count = 0;
        for (var i = 0; i < ids.Count; i++)
        {
            var id = ids[i];
            if (_index.ReadState(id) != MessageState.Queued)
            {
                continue;
            }

            RecordFormat.WriteHeader(record, RecordKind.NextAttempt, RecordFlags.None, id);
            System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(record[RecordFormat.HeaderSize..], each is null ? nextMs : each[i].ToUnixTimeMilliseconds());
            last = Append(record, generation);
            count++;
        }

        return (last, count);
    }

    /// <summary>Appends a State record (the whole entry); returns its address.</summary>
    private long AppendState(MessageId id, QueueEntry entry, int generation)
    {
        var w = new RecordWriter(ArrayPool<byte>.Shared.Rent(1024));
        try
        {
            RecordFormat.WriteHeader(w.Reserve(RecordFormat.HeaderSize), RecordKind.State, RecordFlags.None, id);
            QueueEntryFormat.Write(entry, ref w, MaxEntryBytes - RecordFormat.HeaderSize);
            return Append(w.Written, generation);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(w.Buffer);
        }
    }

    /// <summary>Appends the hold rules and pause flag as a whole; returns once durable and in force.</summary>
    internal async Task SetRulesAsync(HoldRuleSet rules, CancellationToken cancel)
    {
        var instance = _current;
        var address = AppendRules(rules, instance);
        await SettleAsync(instance, address, cancel).ConfigureAwait(false);
    }

    /// <summary>
    /// Appends a Rules record without waiting for it: the rules in force again when the log is about to
    /// be truncated past their record (tests also use it to race a rule against an acceptance).
    /// </summary>
    internal void PostRules(HoldRuleSet rules, LogInstance? instance = null)
    {
        AppendRules(rules, instance ?? _current);
        _commitRequested.Set();
    }

    private long AppendRules(HoldRuleSet rules, LogInstance instance)
    {
        var w = new RecordWriter(ArrayPool<byte>.Shared.Rent(1024));
        try
        {
            RecordFormat.WriteHeader(w.Reserve(RecordFormat.HeaderSize), RecordKind.Rules, RecordFlags.None, default);
            rules.Write(ref w);
            return Append(w.Written, instance.Generation);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(w.Buffer);
        }
    }

    /// <summary>Commits whatever was appended and waits until it is applied (tests append raw records).</summary>
    internal Task CommitNowAsync(CancellationToken cancel = default)
    {
        var instance = _current;
        var tail = instance.Log.TailAddress;
        return tail <= instance.Log.BeginAddress ? Task.CompletedTask : SettleAsync(instance, tail - 1, cancel);
    }

    /// <summary>
    /// Waits until the record at <paramref name="address"/> is durable and applied to the index. The
    /// commit loop completes the wait exactly when a commit covers the record (FASTER's
    /// WaitForCommitAsync wakes every waiter at every commit, covered or not, and allocates a task,
    /// a linked token source and a registration per wait).
    /// </summary>
    private async Task SettleAsync(LogInstance instance, long address, CancellationToken cancel)
    {
        var waiter = new CommitWaiter();
        waiter.Start(address + 1, instance.Generation, id: null);
        if (AddWaiter(waiter))
        {
            // Appended without the gate held through the registration: the commit covering the record,
            // or the retirement of its log instance, may have come first, and nothing would complete
            // the wait then. A record already committed stays durable whatever fails afterwards.
            if (instance.Log.CommittedUntilAddress > address)
            {
                waiter.TryComplete(true);
            }
            else if (instance.Disposed || instance != _current)
            {
                waiter.TryComplete(false);
            }
            else
            {
                _commitRequested.Set();
            }
        }

        // A wait failed by the spool's close may still be covered by its final commit.
        if (!await waiter.WaitAsync(cancel).ConfigureAwait(false) && instance.Log.CommittedUntilAddress <= address)
        {
            cancel.ThrowIfCancellationRequested();
            throw new IOException("the spool could not make the change durable; it was not made");
        }

        await WaitAppliedAsync(address + 1, cancel).ConfigureAwait(false);
    }

    private static int Stripe(MessageId id) => (int)(id.Low % StripeCount);
}
