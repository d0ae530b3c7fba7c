using Tern.Spool;
using Tern.Spool.Queue;

namespace Tern.Scheduler;

/// <summary>
/// One delivery attempt of one message, spread over the destinations of its recipients: collects the
/// outcome of every batch and hands the whole to the spool when the last batch is done (the attempt
/// count and the next attempt belong to the message). The body is read once, by the first batch that
/// needs it, and let go with the attempt.
/// </summary>
internal sealed class MessageAttempt(QueueEntry entry, DateTimeOffset nextAttempt, int batches)
{
    private readonly List<AttemptOutcome> _outcomes = [];
    private readonly object _bodyLock = new();
    private Task<byte[]?>? _body;
    private int _pending = batches;

    public QueueEntry Entry { get; } = entry;

    /// <summary>
    /// The message id as text, made once per attempt: the batch and every recipient's delivery log line
    /// name it (a racing second formatting makes an equal string, so no lock).
    /// </summary>
    public string IdText => _idText ??= Entry.Id.ToString();

    private string? _idText;

    /// <summary>The next attempt, made durable before this one started.</summary>
    public DateTimeOffset NextAttempt { get; } = nextAttempt;

    /// <summary>
    /// Set when the message was held, failed, dropped or retired by someone else, or the queue paused,
    /// before all its batches went: the rest are not sent and no attempt is recorded.
    /// </summary>
    public bool Aborted => Volatile.Read(ref _aborted) != 0;

    private int _aborted;

    public void Abort() => Volatile.Write(ref _aborted, 1);

    /// <summary>The number of this attempt (1 = the first).</summary>
    public int Number => Entry.Attempts + 1;

    public IReadOnlyList<AttemptOutcome> Outcomes => _outcomes;

    /// <summary>Per recipient: its result is a reply of the remote server (not a local decision); each batch writes its own indices.</summary>
    public bool[] FromServer { get; } = new bool[entry.Recipients.Count];

    /// <summary>The message's body (null: the message is gone); the envelope is <see cref="Entry"/>'s.</summary>
    public Task<byte[]?> BodyAsync(Spool.Spool spool, CancellationToken cancel)
    {
        lock (_bodyLock)
        {
            return _body ??= spool.ReadBodyAsync(Entry.Id, cancel);
        }
    }

    /// <summary>Adds one batch's outcomes; true when it was the last batch (the caller then records the attempt).</summary>
    public bool Complete(IEnumerable<AttemptOutcome> outcomes)
    {
        lock (_outcomes)
        {
            _outcomes.AddRange(outcomes);
        }

        if (Interlocked.Decrement(ref _pending) != 0)
        {
            return false;
        }

        lock (_bodyLock)
        {
            _body = null;
        }

        return true;
    }
}
