using System.Buffers;
using FASTER.core;
using Microsoft.Extensions.Logging;
using Tern.Spool.Queue;

namespace Tern.Spool;

/// <summary>
/// The applier: one task that reads the log's committed records in order and applies them to the
/// queue index, so the index is exactly the fold of the durable log up to <see cref="_applied"/>.
/// It is the index's only writer, which makes checkpoints consistent without locks: between two
/// records it writes its position into the index and checkpoints, and recovery replays the log
/// from that position.
/// </summary>
public sealed partial class Spool
{
    /// <summary>Wakes the applier: after each commit, and for a checkpoint, a replaced log, or the stop.</summary>
    private readonly AsyncSignal _applyRequested = new();
    private TaskCompletionSource _appliedSignal = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _applied;
    private long _queued;

    /// <summary>Queued messages that are held (by the operator or a hold rule): kept with <see cref="_queued"/>, in the checkpoint too.</summary>
    private long _held;

    /// <summary>
    /// Arrival (Unix ms) of the oldest queued message as far as known, 0 when unknown: set when a
    /// message arrives in an empty queue, and by every full pass over the index (the survey, the
    /// scheduler's start scan). When the oldest retires it stays until the next pass (an overestimate).
    /// </summary>
    private long _oldestMs;
    private long _checkpointedAt;
    private long _lastCheckpointTicks;
    private long _lastSurveyTicks = Environment.TickCount64;
    private long _checkpoints;
    private byte[] _value = new byte[4096];

    /// <summary>The applier's buffer for entries patched in place (NextAttempt records).</summary>
    private readonly byte[] _patch = new byte[4096];
    private volatile HoldRuleSet _rules = HoldRuleSet.Empty;
    private Task _applier = Task.CompletedTask;
    private volatile bool _stopping;

    /// <summary>Log address of the last Rules record applied (-1: none since this process started reading).</summary>
    private long _rulesAddress = -1;
    private volatile bool _applierStopped;
    private volatile bool _checkpointDue;
    private long _compactBelow;
    private TaskCompletionSource? _checkpointWaiter;

    /// <summary>Where the replay at open started (the recovered checkpoint's position, or the log's begin).</summary>
    internal long ReplayedFrom { get; private set; }

    internal long LogBeginAddress => _current.Log.BeginAddress;

    internal long TailAddress => _current.Log.TailAddress;

    /// <summary>Asks the applier for a checkpoint (with its upkeep) now and waits for it.</summary>
    internal Task CheckpointNowAsync()
    {
        var fresh = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var waiter = Interlocked.CompareExchange(ref _checkpointWaiter, fresh, null) ?? fresh;
        _checkpointDue = true;
        Wake();
        return waiter.Task;
    }

    /// <summary>Waits until every record before <paramref name="address"/> (exclusive end) is in the index.</summary>
    internal async ValueTask WaitAppliedAsync(long address, CancellationToken cancel = default)
    {
        while (Volatile.Read(ref _applied) < address)
        {
            var signal = Volatile.Read(ref _appliedSignal).Task;
            if (Volatile.Read(ref _applied) >= address)
            {
                return;
            }

            if (_applierStopped)
            {
                throw new SpoolException("the spool is stopped");
            }

            await signal.WaitAsync(cancel).ConfigureAwait(false);
        }
    }

    /// <summary>Waits until the index reflects everything committed so far (tests and tools).</summary>
    public ValueTask CaughtUpAsync(CancellationToken cancel = default) => WaitAppliedAsync(_current.Log.CommittedUntilAddress, cancel);

    private void Wake() => _applyRequested.Set();

    private async Task ApplyLoopAsync()
    {
        while (!_stopping)
        {
            var instance = _current;
            if (instance.Disposed)
            {
                // Retired after a failed commit and not replaced yet (see Retire): nothing to read
                // from it; the reopen wakes this.
                await _applyRequested.WaitAsync().ConfigureAwait(false);
                continue;
            }

            try
            {
                using var iterator = instance.Log.Scan(Volatile.Read(ref _applied), long.MaxValue);
                while (!_stopping && instance == _current && !instance.Disposed)
                {
                    ApplyAvailable(iterator);
                    if (_checkpointDue || Volatile.Read(ref _applied) - _checkpointedAt >= Options.CheckpointBytes)
                    {
                        _checkpointDue = false;
                        var waiter = Interlocked.Exchange(ref _checkpointWaiter, null);
                        try
                        {
                            await CheckpointAsync(instance, force: waiter is not null).ConfigureAwait(false);
                        }
                        finally
                        {
                            waiter?.TrySetResult();
                        }
                    }

                    // Woken after a commit, or because a checkpoint is due, the log was replaced, or the
                    // spool is stopping (each checked at the top of the loop).
                    await _applyRequested.WaitAsync().ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is IOException or FasterException or ObjectDisposedException or SpoolException)
            {
                // The log failed under the iterator (it is being replaced): start again on the new one.
                ApplyFailed(_log2, e);
                await Task.Delay(100).ConfigureAwait(false);
            }
        }

        ApplyAvailableOnStop();

        // Whoever still waits for the index is woken (WaitAppliedAsync then sees the applier stopped).
        _applierStopped = true;
        Interlocked.Exchange(ref _appliedSignal, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    /// <summary>At shutdown, records committed by the last commit are applied before the final checkpoint.</summary>
    private void ApplyAvailableOnStop()
    {
        if (_current.Disposed)
        {
            // A retired log (failed, not replaced): its commits failed, there is nothing more to apply.
            return;
        }

        try
        {
            using var iterator = _current.Log.Scan(Volatile.Read(ref _applied), long.MaxValue);
            ApplyAvailable(iterator);
        }
        catch (Exception e) when (e is IOException or FasterException or ObjectDisposedException)
        {
            ApplyFailed(_log2, e);
        }
    }

    private unsafe void ApplyAvailable(FasterLogScanIterator iterator)
    {
        var any = false;
        while (iterator.UnsafeGetNext(out var entry, out var length, out var address, out var next))
        {
            try
            {
                Apply(new ReadOnlySpan<byte>(entry, length), address);
            }
            catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException or OverflowException)
            {
                // A record this version cannot read is skipped (and reported), never half-applied.
                Skipped(_log2, address, e.Message);
            }
            finally
            {
                iterator.UnsafeRelease();
            }

            Volatile.Write(ref _applied, next);
            any = true;
        }

        if (any || iterator.NextAddress > Volatile.Read(ref _applied))
        {
            Volatile.Write(ref _applied, Math.Max(Volatile.Read(ref _applied), iterator.NextAddress));
            var signal = Interlocked.Exchange(ref _appliedSignal, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
            signal.SetResult();
        }
    }

    private void Apply(ReadOnlySpan<byte> record, long address)
    {
        if (!RecordFormat.TryReadHeader(record, out var kind, out var flags, out var id))
        {
            throw new FormatException("unknown record version");
        }

        switch (kind)
        {
            case RecordKind.Message when (flags & RecordFlags.Copy) != 0:
                ApplyCopy(id, record, address);
                break;
            case RecordKind.Message when _refused.ContainsKey(id):
                // Refused with 4xx (its commit failed), yet recovered by the reopened log: the client
                // sends it again, so this copy is never queued (its Abandoned record follows).
                _inFlight.TryRemove(id, out _);
                break;
            case RecordKind.Message:
                var w = new RecordWriter(_value);
                var held = (flags & RecordFlags.Held) != 0;
                QueueEntryFormat.FromMessageRecord(record, address, held, held ? "hold rule"u8 : [], ref w);
                if (!held && _rules.Rules.Count > 0 && RuleMatches(id, w.Written))
                {
                    // The writer checked the rules in force when it committed; a rule whose record came
                    // into the log before this message but was not applied yet then was missed. The
                    // applier sees rules and messages in log order, so it holds the message here.
                    w = new RecordWriter(w.Buffer);
                    QueueEntryFormat.FromMessageRecord(record, address, held: true, "hold rule"u8, ref w);
                }

                _value = w.Buffer;
                _index.Upsert(id, w.Written);
                _inFlight.TryRemove(id, out _);
                if (Interlocked.Increment(ref _queued) == 1)
                {
                    // Alone in the queue: the oldest one.
                    Volatile.Write(ref _oldestMs, id.Time.ToUnixTimeMilliseconds());
                }

                if (QueueEntryFormat.Held(w.Written))
                {
                    Interlocked.Increment(ref _held);
                }

                Notify(id, w.Written);
                break;
            case RecordKind.Abandoned:
                _inFlight.TryRemove(id, out _);
                _refused.TryRemove(id, out _);
                if (_index.Read(id, out var n) is { } abandoned)
                {
                    if (QueueEntryFormat.State(abandoned.AsSpan(0, n)) == MessageState.Queued)
                    {
                        Interlocked.Decrement(ref _queued);
                        if (QueueEntryFormat.Held(abandoned.AsSpan(0, n)))
                        {
                            Interlocked.Decrement(ref _held);
                        }
                    }

                    ArrayPool<byte>.Shared.Return(abandoned);
                    _index.Delete(id);
                    NotifyRemoved(id);
                }

                break;
            case RecordKind.State:
                ApplyState(id, record[RecordFormat.HeaderSize..]);
                break;
            case RecordKind.NextAttempt:
                ApplyNextAttempt(id, record[RecordFormat.HeaderSize..]);
                break;
            case RecordKind.Rules:
                var payload = record[RecordFormat.HeaderSize..];
                _rules = HoldRuleSet.Read(payload);
                _index.Upsert(QueueIndex.RulesKey, payload);
                _rulesAddress = address;
                NotifyRules(_rules.Paused);
                break;
            default:
                break;
        }
    }

    /// <summary>A snapshot replaces the entry, except where the body is: that belongs to message and copy records.</summary>
    private void ApplyState(MessageId id, ReadOnlySpan<byte> snapshot)
    {
        if (_index.Read(id, out var n) is not { } current)
        {
            return;
        }

        try
        {
            var old = current.AsSpan(0, n);
            if (snapshot.Length < QueueEntryFormat.FinishedOffset + 8 || !QueueEntryFormat.IsKnownVersion(snapshot[0]))
            {
                throw new FormatException("state record: unknown entry version");
            }

            if (_value.Length < snapshot.Length)
            {
                _value = new byte[Math.Max(snapshot.Length, _value.Length * 2)];
            }

            var value = _value.AsSpan(0, snapshot.Length);
            snapshot.CopyTo(value);
            QueueEntryFormat.SetAddresses(value, QueueEntryFormat.Address(old), QueueEntryFormat.FirstAddress(old));
            if (QueueEntryFormat.State(old) == MessageState.Queued && QueueEntryFormat.State(value) != MessageState.Queued)
            {
                Interlocked.Decrement(ref _queued);
            }

            var wasHeld = QueueEntryFormat.State(old) == MessageState.Queued && QueueEntryFormat.Held(old);
            var isHeld = QueueEntryFormat.State(value) == MessageState.Queued && QueueEntryFormat.Held(value);
            if (wasHeld != isHeld)
            {
                Interlocked.Add(ref _held, isHeld ? 1 : -1);
            }

            _index.Upsert(id, value);
            Notify(id, value);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(current);
        }
    }

    /// <summary>
    /// A NextAttempt record patches the next attempt of a queued entry (a retired one keeps its own):
    /// the rest of the entry is as the last snapshot left it.
    /// </summary>
    private void ApplyNextAttempt(MessageId id, ReadOnlySpan<byte> payload)
    {
        if (payload.Length < 8)
        {
            throw new FormatException("next attempt record truncated");
        }

        // Read into the applier's own buffer: one NextAttempt per delivery attempt allocates nothing.
        if (!_index.TryRead(id, _patch, out var n, out var rented))
        {
            return;
        }

        try
        {
            var value = rented is null ? _patch.AsSpan(0, n) : rented.AsSpan(0, n);
            if (value.Length < QueueEntryFormat.FinishedOffset + 8 || QueueEntryFormat.State(value) != MessageState.Queued)
            {
                return;
            }

            QueueEntryFormat.SetNextAttempt(value, System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(payload));
            _index.Upsert(id, value);
            Notify(id, value);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    private void ApplyCopy(MessageId id, ReadOnlySpan<byte> record, long address)
    {
        if (_index.Read(id, out var n) is not { } current)
        {
            // Only when the index is rebuilt from a log truncated past the original message record
            // (a copy is applied right after it is written, while the entry exists, and replay from a
            // checkpoint starts after the copies the checkpoint contains): the copy is the message now,
            // its earlier state changes are gone with the old records.
            var w = new RecordWriter(_value);
            QueueEntryFormat.FromMessageRecord(record, address, held: false, [], ref w);
            _value = w.Buffer;
            _index.Upsert(id, w.Written);
            Interlocked.Increment(ref _queued);
            Notify(id, w.Written);
            return;
        }

        try
        {
            var value = current.AsSpan(0, n);
            if (QueueEntryFormat.State(value) != MessageState.Queued)
            {
                return;
            }

            var reader = new RecordReader(record, RecordFormat.HeaderSize);
            reader.Take(20);
            var chunks = reader.U32();
            var first = chunks > 0 ? reader.I64() : address;
            QueueEntryFormat.SetAddresses(value, address, first);
            _index.Upsert(id, value);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(current);
        }
    }

    /// <summary>
    /// Checkpoints the index at the applied position, then does the periodic upkeep: removes retired
    /// summaries past retention, truncates the log below both the checkpoint and the oldest live
    /// body, and asks the compactor to move live bodies that pin old segments.
    /// </summary>
    private async Task CheckpointAsync(LogInstance instance, bool force = false)
    {
        var position = Volatile.Read(ref _applied);
        if (position == _checkpointedAt && !force)
        {
            return;
        }

        var full = _checkpoints % 8 == 0;
        if (!RoomForCheckpoint(ref full))
        {
            return;
        }

        try
        {
            Span<byte> meta = stackalloc byte[24];
            System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(meta, position);
            System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(meta[8..], Interlocked.Read(ref _queued));
            System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(meta[16..], Interlocked.Read(ref _held));
            _index.Upsert(QueueIndex.PositionKey, meta);
            if (_index.LogBytes > Math.Max(64L << 20, 4 * Interlocked.Read(ref _queued) * 512))
            {
                _index.Compact();
            }

            // The hash table is written with every eighth checkpoint (and the first): it is most of a
            // checkpoint's bytes, and a burst of them on the log's disk delays the commits behind it.
            _checkpoints++;
            await _index.CheckpointAsync(full).ConfigureAwait(false);
            _fullCheckpointTaken |= full;

            // FASTER writes each checkpoint into new directories and never fsyncs them: after a power
            // loss the newest checkpoint could be missing. The log is truncated on its strength, so it
            // is made durable first.
            _index.SyncCheckpointDirectories();
            _checkpointedAt = position;
            _lastCheckpointTicks = Environment.TickCount64;
            Metrics.Checkpoints.Inc();

            // The survey reads the whole index (twice), so it runs every few checkpoints, not each one:
            // truncation and retention are not urgent.
            var surveyEvery = Math.Max(Options.CheckpointInterval.TotalMilliseconds * 5, 5 * 60_000);
            if (!force && Environment.TickCount64 - _lastSurveyTicks < surveyEvery)
            {
                return;
            }

            _lastSurveyTicks = Environment.TickCount64;
            var (minFirst, expired) = Survey();
            foreach (var id in expired)
            {
                _index.Delete(id);
                NotifyRemoved(id);
            }

            var log = instance.Log;
            var until = Math.Min(position, minFirst);
            foreach (var pinned in _inFlight.Values)
            {
                until = Math.Min(until, pinned);
            }

            if (until > log.BeginAddress)
            {
                // The index is a view of the log: the hold rules must stay in the log too, or an index
                // rebuilt from it would lose them. So a Rules record about to be cut off is written again
                // first (skipped while an operator holds the rules: a new record is coming anyway).
                if (_rulesAddress >= 0 && _rulesAddress < until && RulesLock.Wait(0))
                {
                    try
                    {
                        PostRules(_rules, instance);
                    }
                    finally
                    {
                        RulesLock.Release();
                    }
                }

                // Takes effect (and old segment files are deleted) with the next commit: ask for one.
                log.TruncateUntil(until);
                _commitRequested.Set();
            }

            var segment = 1L << Options.SegmentSizeBits;
            if (log.TailAddress - log.BeginAddress > Options.CompactAbove && minFirst < log.BeginAddress + segment)
            {
                Volatile.Write(ref _compactBelow, log.BeginAddress + ((log.TailAddress - log.BeginAddress) / 4));
                _compactRequested.Release();
            }
        }
        catch (Exception e) when (e is IOException or FasterException or SpoolException)
        {
            CheckpointFailed(_log2, e);
        }
    }

    private bool _checkpointPostponed;
    private bool _fullCheckpointTaken;

    /// <summary>
    /// Whether the disk has room for a checkpoint: the index's in-memory log (the fold-over) with a
    /// margin, and for a full one the hash table too (else <paramref name="full"/> is turned off). A
    /// FASTER checkpoint whose writes fail on a full disk never completed (seen: the applier, and
    /// with it the close, waited for ever); so on a full disk it is postponed, and the log simply stays longer (a restart
    /// replays it from the last checkpoint). Logged once per transition.
    /// </summary>
    private bool RoomForCheckpoint(ref bool full)
    {
        var needed = CheckpointRoom(Options, full: false);
        var free = _reserve.ReadNow();

        // Without room for the hash table, a checkpoint of the index's log alone still moves recovery
        // forward (only on top of a full one taken by this process: incremental ones build on it). A
        // full one must also leave the free-space reserve whole: its new hash table exists next to
        // the old one until it completes, and that dip would refuse mail, then accept it again.
        if (full && _fullCheckpointTaken && free < needed + (_index.Buckets * 64) + _reserve.MinFree)
        {
            full = false;
        }
        else if (full)
        {
            needed += _index.Buckets * 64;
        }

        var room = free >= needed;
        if (room == !_checkpointPostponed)
        {
            return room;
        }

        _checkpointPostponed = !room;
        if (room)
        {
            CheckpointResumed(_log2, Options.Directory, free);
        }
        else
        {
            CheckpointPostponed(_log2, Options.Directory, free, needed);
        }

        return room;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "spool checkpoints postponed: not enough free space (the log is kept until they resume) {directory} {free} {needed}")]
    private static partial void CheckpointPostponed(ILogger log, string directory, long free, long needed);

    [LoggerMessage(Level = LogLevel.Information, Message = "spool checkpoints resumed {directory} {free}")]
    private static partial void CheckpointResumed(ILogger log, string directory, long free);

    /// <summary>One pass over the index: the oldest live body address, and the retired entries past retention.</summary>
    private (long MinFirst, List<MessageId> Expired) Survey()
    {
        var minFirst = long.MaxValue;
        var oldest = ulong.MaxValue;
        var expired = new List<MessageId>();
        var cutoff = (_clock.GetUtcNow() - Options.Retention).ToUnixTimeMilliseconds();
        _index.ForEach((id, value) =>
        {
            if (QueueEntryFormat.State(value) == MessageState.Queued)
            {
                minFirst = Math.Min(minFirst, QueueEntryFormat.FirstAddress(value));
                oldest = Math.Min(oldest, id.High);
            }
            else if (QueueEntryFormat.FinishedMillis(value) < cutoff)
            {
                expired.Add(id);
            }
        });
        SetOldest(oldest);
        return (minFirst, expired);
    }

    /// <summary>
    /// The oldest queued message's id (its high half: arrival time) found by a full pass over the
    /// index; <see cref="ulong.MaxValue"/> (none) changes nothing: <see cref="OldestQueued"/> is null
    /// for an empty queue anyway, and a message arriving meanwhile has set its own time.
    /// </summary>
    private void SetOldest(ulong oldestHigh)
    {
        if (oldestHigh != ulong.MaxValue)
        {
            Volatile.Write(ref _oldestMs, new MessageId(oldestHigh, 0).Time.ToUnixTimeMilliseconds());
        }
    }

    /// <summary>
    /// Reads the position, queued and held counts the recovered index checkpoint covers (held: -1 when
    /// the checkpoint predates that count).
    /// </summary>
    private (long Position, long Queued, long Held) ReadPosition()
    {
        if (_index.Read(QueueIndex.PositionKey, out var n) is not { } meta)
        {
            return (0, 0, 0);
        }

        try
        {
            return n < 16
                ? throw new FormatException("index position record truncated")
                : (System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(meta),
                    System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(meta.AsSpan(8)),
                    n >= 24 ? System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(meta.AsSpan(16)) : -1);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(meta);
        }
    }

    private bool RuleMatches(MessageId id, ReadOnlySpan<byte> entry)
    {
        var e = QueueEntryFormat.Read(id, entry);
        foreach (var rule in _rules.Rules)
        {
            if (HoldRuleSet.Matches(rule, e))
            {
                return true;
            }
        }

        return false;
    }

    private void ReadRules()
    {
        if (_index.Read(QueueIndex.RulesKey, out var n) is { } rules)
        {
            try
            {
                _rules = HoldRuleSet.Read(rules.AsSpan(0, n));
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(rules);
            }
        }
    }

    /// <summary>Asks the applier for a checkpoint when the interval passed (checked by the commit loop's timer).</summary>
    private async Task CheckpointTimerAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(Math.Max(1, Options.CheckpointInterval.TotalSeconds / 4)), _clock);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                if (Environment.TickCount64 - _lastCheckpointTicks >= Options.CheckpointInterval.TotalMilliseconds && Volatile.Read(ref _applied) != _checkpointedAt)
                {
                    _checkpointDue = true;
                    Wake();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "spool index: applying the log failed; retrying")]
    private static partial void ApplyFailed(ILogger log, Exception e);

    [LoggerMessage(Level = LogLevel.Error, Message = "spool index: record skipped {address} {reason}")]
    private static partial void Skipped(ILogger log, long address, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "spool index: checkpoint failed")]
    private static partial void CheckpointFailed(ILogger log, Exception e);
}
