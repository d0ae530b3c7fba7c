using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Tern.Spool;
using Tern.Spool.Queue;

namespace Tern.Scheduler;

/// <summary>
/// The timing part: one owner loop holds the timing wheel and the handle of every scheduled message.
/// The spool's applier posts each change of an entry (in log order) into a lock-free inbox; the
/// owner applies them (schedule, move or cancel), then hands every message whose time has come to
/// the prepare loop. Messages due at once skip the wheel. While the queue is paused nothing is
/// handed out: due messages wait in the wheel.
/// </summary>
public sealed partial class DeliveryScheduler
{
    /// <summary>A change of one entry: due at NextAttemptMs, or <see cref="Unschedule"/> (held, retired, removed).</summary>
    private readonly record struct Change(MessageId Id, long NextAttemptMs);

    private const long Unschedule = long.MinValue;

    /// <summary>The in-flight mark of a message withdrawn (held, failed, dropped) while its attempt was under way.</summary>
    private const byte Withdrawn = 1;

    private readonly MessageSchedule<MessageId> _schedule;
    private readonly ConcurrentQueue<TaskCompletionSource<Dictionary<MessageId, long>>> _snapshots = new();
    private readonly ConcurrentQueue<Change> _changes = new();
    private readonly AsyncSignal _ownerWake = new();
    private ITimer? _tick;
    private Task? _ownerLoop;
    private int _scheduledCount;
    private volatile bool _paused;

    void ISpoolObserver.EntryChanged(MessageId id, MessageState state, bool held, long nextAttemptUnixMs)
    {
        if (state != MessageState.Queued || held)
        {
            // Held, failed, dropped or retired while under way: its batches still waiting do not go.
            _inFlight.TryUpdate(id, Withdrawn, 0);
        }

        _changes.Enqueue(new Change(id, state == MessageState.Queued && !held ? nextAttemptUnixMs : Unschedule));
        _ownerWake.Set();
    }

    void ISpoolObserver.RulesChanged(bool paused)
    {
        _paused = paused;
        _ownerWake.Set();
    }

    /// <summary>Puts a message back on the schedule from any thread (deferred by a full destination, a failed preparation, the pause).</summary>
    private void Repost(MessageId id, long dueMs)
    {
        _changes.Enqueue(new Change(id, dueMs));
        _ownerWake.Set();
    }

    private async Task OwnerLoopAsync()
    {
        _paused = _spool.Paused;
        _tick = _clock.CreateTimer(static s => ((AsyncSignal)s!).Set(), _ownerWake, _options.Resolution, _options.Resolution);
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                var now = _clock.GetUtcNow().ToUnixTimeMilliseconds();
                ApplyChanges(now);
                while (!_paused && _schedule.TryTakeDue(now, out var due))
                {
                    Dispatch(due);
                }

                while (_snapshots.TryDequeue(out var request))
                {
                    request.TrySetResult(_schedule.Snapshot());
                }

                Volatile.Write(ref _scheduledCount, _schedule.Count);
                _metrics.Scheduled.Set(_schedule.Count);
                KickIdleDestinations();
            }
            catch (Exception e)
            {
                // The loop must never die and leave mail undelivered: a bug is counted, and the loop goes on.
                _panics.Inc();
                Bug(_log, e);
            }

            await _ownerWake.WaitAsync().ConfigureAwait(false);
        }
    }

    private void ApplyChanges(long now)
    {
        while (_changes.TryDequeue(out var change))
        {
            if (change.NextAttemptMs == Unschedule)
            {
                _schedule.Remove(change.Id);
                continue;
            }

            if (change.NextAttemptMs <= now && !_paused)
            {
                // Due now (a new message, a retry by the operator): straight to delivery.
                _schedule.Remove(change.Id);
                Dispatch(change.Id);
                continue;
            }

            _schedule.Set(change.Id, change.NextAttemptMs);
        }
    }

    /// <summary>The schedule as the owner holds it (message, next attempt in Unix ms): for tests and diagnostics.</summary>
    internal Task<Dictionary<MessageId, long>> ScheduleSnapshotAsync()
    {
        var request = new TaskCompletionSource<Dictionary<MessageId, long>>(TaskCreationOptions.RunContinuationsAsynchronously);
        _snapshots.Enqueue(request);
        _ownerWake.Set();
        return request.Task;
    }

    private void Dispatch(MessageId id)
    {
        _due.Post(id);
    }
}
