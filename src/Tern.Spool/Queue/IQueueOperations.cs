namespace Tern.Spool.Queue;

/// <summary>
/// Queue operations: one code path for the command line (over the control socket) and, later, the
/// HTTP admin API. Every change is appended to the log and durable before the call returns; the
/// returned count is the number of messages changed. Reads see every message answered 250 and every
/// change made before they were called (see <see cref="CaughtUpAsync"/>).
/// </summary>
public interface IQueueOperations
{
    /// <summary>
    /// Waits until the index holds everything durable when called. A message is answered 250 once its
    /// record is durable, and the index takes it in a moment later; a listing made after this sees it.
    /// </summary>
    ValueTask CaughtUpAsync(CancellationToken cancel = default);

    /// <summary>Queued messages matching the filter, one page, as indexed now (see <see cref="CaughtUpAsync"/>).</summary>
    QueuePage List(QueueFilter filter);

    /// <summary>Retired messages (delivered, failed, dropped) still within the retention period.</summary>
    QueuePage History(QueueFilter filter);

    /// <summary>One message (queued or retired) with its header section; null when unknown.</summary>
    Task<QueueMessageDetail?> ShowAsync(MessageId id, CancellationToken cancel = default);

    /// <summary>
    /// One message (queued or retired) as stored; null when unknown. A retired message keeps its
    /// body only until the log is truncated past it (then <see cref="QueueMessageContent.Message"/> is null).
    /// </summary>
    /// <exception cref="IOException">The spool could not read the body.</exception>
    Task<QueueMessageContent?> ReadMessageAsync(MessageId id, CancellationToken cancel = default);

    Task<int> HoldAsync(QueueFilter selection, CancellationToken cancel = default);

    Task<int> ReleaseAsync(QueueFilter selection, CancellationToken cancel = default);

    /// <summary>Moves the next attempt: to now when <paramref name="shift"/> is null, else by that amount from its current time.</summary>
    Task<int> RetryAsync(QueueFilter selection, TimeSpan? shift = null, CancellationToken cancel = default);

    /// <summary>Sets the transport (overriding routes); empty clears it.</summary>
    Task<int> SetTransportAsync(QueueFilter selection, string transport, CancellationToken cancel = default);

    Task<int> SetRequireTlsAsync(QueueFilter selection, RequireTlsPolicy policy, CancellationToken cancel = default);

    /// <summary>
    /// Sets how many retries the messages get before their open recipients fail (0 to 100; 0: the
    /// global default again). Refuses other values with <see cref="QueueOperationException"/>.
    /// </summary>
    Task<int> SetMaxRetriesAsync(QueueFilter selection, int maxRetries, CancellationToken cancel = default);

    /// <summary>Fails the remaining recipients with the given reason; the sender gets a failure notice (DSN).</summary>
    Task<int> FailAsync(QueueFilter selection, string reason, CancellationToken cancel = default);

    /// <summary>Removes messages without any notice.</summary>
    Task<int> DropAsync(QueueFilter selection, CancellationToken cancel = default);

    IReadOnlyList<HoldRule> HoldRules { get; }

    /// <summary>Adds a hold rule (its id is assigned) and holds the queued messages it matches.</summary>
    Task<(HoldRule Rule, int Held)> AddHoldRuleAsync(HoldRule rule, CancellationToken cancel = default);

    /// <summary>Removes a hold rule (messages it held stay held until released). False when unknown.</summary>
    Task<bool> RemoveHoldRuleAsync(long id, CancellationToken cancel = default);

    /// <summary>A global pause: no delivery starts while set. Survives restarts.</summary>
    bool Paused { get; }

    Task SetPausedAsync(bool paused, CancellationToken cancel = default);
}

/// <summary>An operation was refused (bad selection or argument); the message says why.</summary>
public sealed class QueueOperationException(string message) : Exception(message);
