namespace Tern.Spool;

/// <summary>
/// The writers one commit made durable, resumed one after the other by a single thread-pool work
/// item: one pool item (and at most one thread woken) per commit instead of one per writer. Each
/// continuation is short (an SMTP session sends its 250 and starts reading the next command; socket
/// I/O completes asynchronously), and never runs on the commit loop itself, which goes on with the
/// next commit meanwhile. Pooled by the spool: no allocation per commit.
/// </summary>
internal sealed class CommitCompletions(Action<CommitCompletions> done) : IThreadPoolWorkItem
{
    /// <summary>Claimed waiters (see <see cref="CommitWaiter.TryClaim"/>), completed as durable.</summary>
    public List<CommitWaiter> Waiters { get; } = [];

    public void Execute()
    {
        foreach (var w in Waiters)
        {
            w.Complete(durable: true, inline: true);
        }

        Waiters.Clear();
        done(this);
    }
}
