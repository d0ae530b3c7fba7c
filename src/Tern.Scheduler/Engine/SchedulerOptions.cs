namespace Tern.Scheduler;

/// <summary>Settings of the <see cref="DeliveryScheduler"/>: built by the host from <c>[delivery]</c> and <c>[[destinations]]</c>.</summary>
public sealed record SchedulerOptions
{
    /// <summary>Deliveries in flight over all destinations.</summary>
    public int Concurrency { get; init; } = 100;

    public RetryPolicy Retry { get; init; } = new();

    public DestinationPolicy Destinations { get; init; } = new();

    /// <summary>Granularity of next-attempt times (one timing-wheel tick); due messages never wait for it.</summary>
    public TimeSpan Resolution { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Batches waiting in one destination's queue; further messages for it stay in the spool (only their
    /// ids are kept in memory) until the queue has drained by half, so that a slow destination holds
    /// little memory and never the slots other destinations need. Checked as each batch of due messages is
    /// prepared, so the batches being prepared may add up to <see cref="PrepareBatch"/> x
    /// <see cref="PrepareConcurrency"/> more. A waiting batch holds its parsed queue entry, ~2 KB: with 5000,
    /// a backlog to one destination raised peak RSS by ~10 MiB against 1000 (bench/README.md), and 1000 is
    /// still ~70 ms of work at 15,000 deliveries/s.
    /// </summary>
    public int MaxQueuedPerDestination { get; init; } = 1000;

    /// <summary>Batches of due messages being prepared at once (index read, DNS for the destination, durable next attempt).</summary>
    public int PrepareConcurrency { get; init; } = 8;

    /// <summary>Due messages prepared together: their next attempts share one commit.</summary>
    public int PrepareBatch { get; init; } = 64;

    /// <summary>Batches of finished attempts being recorded at once.</summary>
    public int RecordConcurrency { get; init; } = 2;

    /// <summary>Finished attempts recorded together: their changes share one commit.</summary>
    public int RecordBatch { get; init; } = 256;

    /// <summary>A runner gives its slot to a waiting destination after this many batches.</summary>
    public int FairShare { get; init; } = 16;

    /// <summary>
    /// Destinations with their own metric series (<c>tern_destination_*{destination}</c>): the busiest
    /// this many by recipients attempted; the others, and destinations forgotten when idle, have none,
    /// so the number of series stays bounded. 0 turns them off.
    /// </summary>
    public int MetricsDestinations { get; init; } = 20;
}
