using System.Threading.Tasks.Sources;

namespace Tern.Spool;

/// <summary>
/// A writer's wait for the commit that covers its record, completed by the commit loop. Pooled with
/// the writer (FASTER's WaitForCommitAsync allocates a task and a cancellation registration per
/// call), so waiting for durability allocates nothing. Completes once: true when durable, false when
/// the log failed or was replaced before its commit.
/// </summary>
internal sealed class CommitWaiter : IValueTaskSource<bool>
{
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private int _completed;

    /// <summary>The log address the commit must reach (the record's address + 1).</summary>
    public long Until { get; private set; }

    /// <summary>The log instance the record went into.</summary>
    public int Generation { get; private set; }

    /// <summary>The message whose record it waits for (refused when the commit fails: see Spool.FailWaiters); null for a change.</summary>
    public MessageId? Id { get; private set; }

    public ValueTask<bool> Task => new(this, _core.Version);

    public void Start(long until, int generation, MessageId? id)
    {
        _core.Reset();
        _completed = 0;
        Until = until;
        Generation = generation;
        Id = id;
    }

    /// <summary>The wait; a cancelled token completes it with false (the record may still become durable).</summary>
    public ValueTask<bool> WaitAsync(CancellationToken cancel) => cancel.CanBeCanceled ? WaitCancellableAsync(cancel) : Task;

    private async ValueTask<bool> WaitCancellableAsync(CancellationToken cancel)
    {
        using (cancel.Register(static w => ((CommitWaiter)w!).TryComplete(false), this))
        {
            return await Task;
        }
    }

    /// <summary>Completes the wait unless it already was; false when someone else completed it first.</summary>
    public bool TryComplete(bool durable)
    {
        if (!TryClaim())
        {
            return false;
        }

        Complete(durable, inline: false);
        return true;
    }

    /// <summary>Claims the completion (false: someone else did first); the claimer then calls <see cref="Complete"/>.</summary>
    public bool TryClaim() => Interlocked.Exchange(ref _completed, 1) == 0;

    /// <summary>
    /// Completes a claimed wait. Inline, the writer's continuation runs on this thread before this
    /// returns; otherwise it is queued to the thread pool.
    /// </summary>
    public void Complete(bool durable, bool inline)
    {
        _core.RunContinuationsAsynchronously = !inline;
        _core.SetResult(durable);
    }

    public bool GetResult(short token) => _core.GetResult(token);

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
