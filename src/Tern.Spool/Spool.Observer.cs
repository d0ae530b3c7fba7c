using Microsoft.Extensions.Logging;
using Tern.Spool.Queue;

namespace Tern.Spool;

/// <summary>
/// Change notifications: the applier tells one observer about each change of the index, in log
/// order, right after applying it. An observer that starts after <see cref="Open"/> gets the
/// complete picture from <see cref="Observe"/>, then <see cref="ForEachQueued"/>: every change the
/// scan may miss (or read half-way) is applied after Observe returned and is therefore notified,
/// and the scan's visits and the notifications are ordered so that applying them in the order they
/// arrive gives the index's state.
/// </summary>
public sealed partial class Spool
{
    private readonly Lock _scanSerial = new();
    private ISpoolObserver? _observer;

    /// <summary>Set while <see cref="ForEachQueued"/> runs: orders its visits with the notifications.</summary>
    private ScanOrder? _scan;

    /// <summary>
    /// The messages notified since a scan began. A notification and a visit of the same message are
    /// each made under <see cref="Gate"/>: a message notified is not visited any more (the scan may
    /// hold an older value), and one visited is notified after its visit.
    /// </summary>
    private sealed class ScanOrder
    {
        public Lock Gate { get; } = new();

        public HashSet<MessageId> Notified { get; } = [];
    }

    /// <summary>The global pause in force (no delivery starts while set).</summary>
    public bool Paused => _rules.Paused;

    /// <summary>
    /// Sets the one observer of index changes (replacing the previous one). Notifications for every
    /// change applied after this returns go to <paramref name="observer"/>. To build a complete
    /// picture, call this first and <see cref="ForEachQueued"/> next, and apply the scan's visits and
    /// the notifications in the order they arrive.
    /// </summary>
    public void Observe(ISpoolObserver observer)
    {
        ArgumentNullException.ThrowIfNull(observer);

        // A full fence: with the one in Notify, a change is either seen by a scan that starts after
        // this returns or notified to this observer (never neither).
        Interlocked.Exchange(ref _observer, observer);
    }

    /// <summary>Stops notifications (changes applied after this returns are not reported).</summary>
    public void StopObserving() => Interlocked.Exchange(ref _observer, null);

    /// <summary>
    /// Calls <paramref name="visit"/> (id, held, next attempt in Unix ms) for every queued message: a
    /// scan of the index reading fixed offsets, nothing decoded, in no particular order. It is ordered
    /// with the observer's notifications, so the two can be applied in the order they come (from
    /// different threads, into one queue): a message notified during the scan is not visited after
    /// its notification, and a message visited is notified only after its visit returns. For that,
    /// each visit runs under a lock that the applier takes to notify: <paramref name="visit"/> must be
    /// quick and must not wait for the spool. An exception from it ends the scan and is rethrown.
    /// </summary>
    public void ForEachQueued(Action<MessageId, bool, long> visit)
    {
        ArgumentNullException.ThrowIfNull(visit);
        lock (_scanSerial)
        {
            var scan = new ScanOrder();
            Interlocked.Exchange(ref _scan, scan);
            Exception? failed = null;
            var oldest = ulong.MaxValue;
            try
            {
                _index.ForEach((id, value) =>
                {
                    if (failed is not null || value.Length < QueueEntryFormat.NextAttemptOffset + 8 || QueueEntryFormat.State(value) != MessageState.Queued)
                    {
                        return;
                    }

                    // A full pass: the oldest queued message comes with it (see OldestQueued).
                    oldest = Math.Min(oldest, id.High);

                    var held = QueueEntryFormat.Held(value);
                    var next = QueueEntryFormat.NextAttemptMillis(value);
                    lock (scan.Gate)
                    {
                        if (scan.Notified.Contains(id))
                        {
                            return;
                        }

                        try
                        {
                            visit(id, held, next);
                        }
                        catch (Exception e)
                        {
                            // Not thrown through the index scan (which would take some exceptions for torn reads).
                            failed = e;
                        }
                    }
                });
            }
            finally
            {
                Interlocked.Exchange(ref _scan, null);
            }

            if (failed is null)
            {
                SetOldest(oldest);
            }

            if (failed is not null)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failed);
            }
        }
    }

    /// <summary>Tells the observer about the entry <paramref name="value"/> the index now holds for <paramref name="id"/>.</summary>
    private void Notify(MessageId id, ReadOnlySpan<byte> value)
    {
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _observer) is { } observer)
        {
            Notify(observer, id, QueueEntryFormat.State(value), QueueEntryFormat.Held(value), QueueEntryFormat.NextAttemptMillis(value));
        }
    }

    /// <summary>Tells the observer that an entry left the index (abandoned, or expired from the history).</summary>
    private void NotifyRemoved(MessageId id)
    {
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _observer) is { } observer)
        {
            Notify(observer, id, MessageState.Retired, false, 0);
        }
    }

    private void Notify(ISpoolObserver observer, MessageId id, MessageState state, bool held, long next)
    {
        try
        {
            if (Volatile.Read(ref _scan) is { } scan)
            {
                lock (scan.Gate)
                {
                    scan.Notified.Add(id);
                    observer.EntryChanged(id, state, held, next);
                }
            }
            else
            {
                observer.EntryChanged(id, state, held, next);
            }
        }
        catch (Exception e)
        {
            ObserverFailed(_log2, id.ToString(), e);
        }
    }

    private void NotifyRules(bool paused)
    {
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _observer) is not { } observer)
        {
            return;
        }

        try
        {
            observer.RulesChanged(paused);
        }
        catch (Exception e)
        {
            ObserverFailed(_log2, "rules", e);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "spool observer failed {id}")]
    private static partial void ObserverFailed(ILogger log, string id, Exception e);
}
