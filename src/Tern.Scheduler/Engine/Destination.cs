using System.Collections.Concurrent;
using Tern.Delivery;

namespace Tern.Scheduler;

/// <summary>
/// One destination's ready queue and state: the batches waiting for it, the deliveries running, the
/// connection limit in force (lowered by failures, raised by successes: Postfix's concurrency
/// feedback), the rate limiter, and a suspension after repeated session-level failures. Every field
/// is changed with Interlocked operations: no lock between workers.
/// </summary>
internal sealed class Destination
{
    private int _running;
    private int _limit;
    private int _failures;
    private long _suspendedUntil;
    private int _waiting;

    public Destination(DeliveryDestination where, DestinationLimits limits, long frequency)
    {
        Where = where;
        Limits = limits;
        _limit = Math.Max(1, limits.MaxConnections);
        Rate = limits.MessagesPerSecond > 0 ? new Gcra(limits.MessagesPerSecond, limits.Burst, frequency) : null;
        Connection = new ConnectionLimits(limits.MaxRecipientsPerTransaction, limits.MaxMessagesPerConnection, limits.IdleReuse);
    }

    public DeliveryDestination Where { get; }

    public DestinationLimits Limits { get; }

    public ConnectionLimits Connection { get; }

    public Gcra? Rate { get; }

    public ConcurrentQueue<DestinationWork> Ready { get; } = new();

    /// <summary>Messages turned away while the queue was full: prepared again once it has drained by half.</summary>
    public ConcurrentQueue<Tern.Spool.MessageId> Parked { get; } = new();

    /// <summary>Batches queued (an estimate; ConcurrentQueue.Count is not free).</summary>
    public int Queued;

    /// <summary>Parked messages taken back and not yet prepared: they count as queued when deciding to take back more.</summary>
    public int Unparking;

    /// <summary>
    /// Runners started and not yet at their first batch: each will take one of the queued batches, so
    /// only batches beyond them need a runner more (else one batch queued while the first runner was
    /// still on its way to the pool started runners up to the connection limit, all but one idle).
    /// </summary>
    private int _starting;

    /// <summary>Whether queued batches outnumber the runners on their way to them.</summary>
    public bool NeedsRunner => Volatile.Read(ref Queued) > Volatile.Read(ref _starting);

    /// <summary>A runner is on its way (call before it starts).</summary>
    public void RunnerStarting() => Interlocked.Increment(ref _starting);

    /// <summary>The runner is at its first batch (called before it takes one: a runner too many finds nothing and ends, one too few would leave a batch waiting).</summary>
    public void RunnerArrived() => Interlocked.Decrement(ref _starting);

    /// <summary>Last activity (timestamp units), for pruning idle destinations.</summary>
    public long LastUsed;

    /// <summary>The reply that made it fail last (shown in the deferral of suspended batches).</summary>
    public string LastFailure { get; private set; } = string.Empty;

    /// <summary>Recipients attempted through this destination, by outcome (for its metric series).</summary>
    public long DeliveredCount;

    public long DeferredCount;

    public long FailedCount;

    /// <summary>Recipients attempted in all: the volume the top destinations are ranked by.</summary>
    public long Attempted => Volatile.Read(ref DeliveredCount) + Volatile.Read(ref DeferredCount) + Volatile.Read(ref FailedCount);

    /// <summary>Counts the outcomes of one batch.</summary>
    public void Record(List<Tern.Spool.AttemptOutcome> outcomes)
    {
        foreach (var o in outcomes)
        {
            switch (o.Status)
            {
                case Tern.Spool.Queue.RecipientStatus.Delivered:
                    Interlocked.Increment(ref DeliveredCount);
                    break;
                case Tern.Spool.Queue.RecipientStatus.Failed:
                    Interlocked.Increment(ref FailedCount);
                    break;
                default:
                    Interlocked.Increment(ref DeferredCount);
                    break;
            }
        }
    }

    public int Running => Volatile.Read(ref _running);

    public int Limit => Volatile.Read(ref _limit);

    public long SuspendedUntil => Volatile.Read(ref _suspendedUntil);

    /// <summary>Takes a delivery slot of this destination if its limit allows.</summary>
    public bool TryStartRunner()
    {
        while (true)
        {
            var running = Volatile.Read(ref _running);
            if (running >= Volatile.Read(ref _limit))
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _running, running + 1, running) == running)
            {
                return true;
            }
        }
    }

    public void RunnerStopped() => Interlocked.Decrement(ref _running);

    /// <summary>Marks the destination as waiting for a global slot; false when it already is.</summary>
    public bool TryMarkWaiting() => Interlocked.Exchange(ref _waiting, 1) == 0;

    public void ClearWaiting() => Volatile.Write(ref _waiting, 0);

    /// <summary>A batch went through (or got replies about its recipients): the limit grows back by one.</summary>
    public void Succeeded()
    {
        Volatile.Write(ref _failures, 0);
        var limit = Volatile.Read(ref _limit);
        if (limit < Limits.MaxConnections)
        {
            Interlocked.CompareExchange(ref _limit, limit + 1, limit);
        }
    }

    /// <summary>
    /// A session-level failure (no connection, 421, timeout, TLS): the limit halves, and after
    /// <see cref="DestinationLimits.SuspendAfter"/> in a row the destination is suspended until
    /// <paramref name="now"/> + <see cref="DestinationLimits.SuspendFor"/>. Returns true when this
    /// failure suspended it.
    /// </summary>
    public bool Failed(string reply, long now, long suspendFor)
    {
        LastFailure = reply;
        var limit = Volatile.Read(ref _limit);
        Interlocked.CompareExchange(ref _limit, Math.Max(1, limit / 2), limit);
        if (Interlocked.Increment(ref _failures) >= Math.Max(1, Limits.SuspendAfter))
        {
            Volatile.Write(ref _failures, 0);
            Volatile.Write(ref _suspendedUntil, now + suspendFor);
            return true;
        }

        return false;
    }
}

/// <summary>One message's recipients for one destination in one attempt.</summary>
internal sealed record DestinationWork(MessageAttempt Attempt, int[] Recipients, string Domain);
