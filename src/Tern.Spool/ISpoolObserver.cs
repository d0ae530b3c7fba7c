using Tern.Spool.Queue;

namespace Tern.Spool;

/// <summary>
/// Told about every change of the queue index, in log order (see <see cref="Spool.Observe"/>). The
/// delivery scheduler keeps its schedule with it instead of scanning the queue.
/// </summary>
public interface ISpoolObserver
{
    /// <summary>
    /// A message's entry changed: accepted (Queued), an attempt recorded, held or released, retried,
    /// its next attempt scheduled, failed, dropped or retired (Retired), or removed from the index
    /// (abandoned, or its retired summary expired: Retired, held false, next attempt 0). Called on the
    /// applier thread, in log order, after the index holds the new value. Must be cheap and must not
    /// block or throw (the spool catches and logs an exception, and goes on).
    /// </summary>
    /// <param name="id">The message.</param>
    /// <param name="state">Its state now.</param>
    /// <param name="held">Whether it is held now.</param>
    /// <param name="nextAttemptUnixMs">Its next attempt now (Unix milliseconds).</param>
    void EntryChanged(MessageId id, MessageState state, bool held, long nextAttemptUnixMs);

    /// <summary>
    /// The hold rules or the global pause changed (called once they are in force, on the applier
    /// thread). Also called when they are written again unchanged (before the log is truncated past
    /// their record), so the value may be the one already known.
    /// </summary>
    /// <param name="paused">Whether the queue is paused now.</param>
    void RulesChanged(bool paused);
}
