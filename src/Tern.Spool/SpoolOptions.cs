namespace Tern.Spool;

/// <summary>Where and how the spool keeps its log. Built by the host from the configuration.</summary>
public sealed record SpoolOptions
{
    /// <summary>The spool's directory (log segments and commit metadata).</summary>
    public required string Directory { get; init; }

    /// <summary>This server's name in the failure notices (DSNs) the spool queues: Reporting-MTA and the From address.</summary>
    public string ReportingMta { get; init; } = "localhost";

    /// <summary>FasterLog page size (bits): the largest record must fit in a page.</summary>
    public int PageSizeBits { get; init; } = 22;

    /// <summary>In-memory part of the log (bits): appends wait when it is full of unflushed pages.</summary>
    public int MemorySizeBits { get; init; } = 24;

    /// <summary>Size of one log segment file (bits).</summary>
    public int SegmentSizeBits { get; init; } = 30;

    /// <summary>Bodies up to this size travel inside their message record; larger ones are split into chunks of this size.</summary>
    public int ChunkSize { get; init; } = 256 * 1024;

    /// <summary>Body bytes of a record beyond this size are zstd-compressed.</summary>
    public int CompressAbove { get; init; } = 32 * 1024;

    /// <summary>How long a commit waits for more records after the first (zero: commit at once).</summary>
    public TimeSpan CommitDelay { get; init; } = TimeSpan.Zero;

    /// <summary>Within <see cref="CommitDelay"/>, the commit starts as soon as this many records wait.</summary>
    public int CommitBatch { get; init; } = 1024;

    /// <summary>
    /// How far past the log's tail the segment file is kept written with zeros, so that a group
    /// commit's synchronous write lands on allocated blocks (see <see cref="LogDevice"/>); zero: off.
    /// Only while the file system has at least 1 GiB free.
    /// </summary>
    public long ZeroAhead { get; init; } = 32L << 20;

    /// <summary>
    /// Hash buckets of a new queue index (64 bytes each, 7 entries per bucket before FASTER chains an overflow
    /// bucket); an existing index keeps the count it was created with (recorded in index.buckets). 2^17 (8 MiB)
    /// holds ~900,000 queued messages before overflow; it is all resident once a few thousand messages have
    /// passed (ids hash evenly), and half the 2^18 used before gave ~7 MiB less peak RSS under load, with no
    /// measurable change in throughput (bench/README.md).
    /// </summary>
    public long IndexBuckets { get; init; } = 1L << 17;

    /// <summary>
    /// Page size of the queue index's log (bits) for a new index; an existing index keeps the one it
    /// was created with (recorded in index.page-bits). One queue entry must fit in a page, which
    /// bounds a message's envelope (at 1 MiB, about 3,900 recipients of ordinary length). Small pages
    /// keep the index's writes short: each is a write of a page, on the disk the log commits to.
    /// </summary>
    public int IndexPageSizeBits { get; init; } = 20;

    /// <summary>In-memory part of the queue index's log (bits); older entries are read from index.log.</summary>
    public int IndexMemorySizeBits { get; init; } = 24;

    public int IndexSegmentSizeBits { get; init; } = 28;

    /// <summary>
    /// Pause between two writes of an index checkpoint (FASTER writes them one at a time from a task
    /// of their own): the checkpoint's burst then leaves room on the disk for the log's commits.
    /// Negative: no throttling (all the checkpoint's writes at once).
    /// </summary>
    public int CheckpointThrottleMilliseconds { get; init; } = 2;

    /// <summary>
    /// The part of the index's in-memory log that is updated in place; the rest is flushed to
    /// index.log as the log grows. A checkpoint flushes the mutable part at once (fold-over).
    /// </summary>
    public double IndexMutableFraction { get; init; } = 0.3;

    /// <summary>Allocates the index's in-memory pages when it opens instead of as the log first fills them.</summary>
    public bool PreallocateIndex { get; init; } = true;

    /// <summary>The index is checkpointed after this many log bytes were applied since the last checkpoint...</summary>
    public long CheckpointBytes { get; init; } = 256L << 20;

    /// <summary>...or this long after the last checkpoint, whichever comes first (when anything changed).</summary>
    public TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Finished messages stay in the index as summaries this long (history, DSN matching).</summary>
    public TimeSpan Retention { get; init; } = TimeSpan.FromDays(7);

    /// <summary>
    /// When the log holds more than this many bytes and the oldest segment is pinned by live
    /// messages, those messages are copied forward so the segment can be dropped.
    /// </summary>
    public long CompactAbove { get; init; } = 4L << 30;

    /// <summary>
    /// Free space the spool's file system must keep (Postfix's queue_minfree): below it new messages
    /// are refused (the server answers 452 4.3.1) while delivery, notices and checkpoints go on
    /// using the rest. A message whose declared size does not fit above it is refused too. A reserve
    /// below what one index checkpoint needs is raised to it (the log is truncated only after a
    /// checkpoint). 0: none — the operator accepts that a full disk fails commits (4xx) and that
    /// checkpoints, and so the freeing of delivered mail, may then wait for space.
    /// </summary>
    public long MinFreeBytes { get; init; }

    /// <summary>A clean stop checkpoints the index, so the next start replays nothing (tests turn it off to replay).</summary>
    internal bool CheckpointOnClose { get; init; } = true;

    /// <summary>zstd level (1 is fastest; mail compresses well even there).</summary>
    public int CompressionLevel { get; init; } = 1;
}

/// <summary>The index entry of a message in the spool.</summary>
public sealed record SpooledMessage(MessageId Id, long Address, DateTimeOffset Received, long BodyLength, int Recipients);

/// <summary>A message read back: envelope and body.</summary>
public sealed record StoredMessage(SpooledMessage Entry, SpoolEnvelope Envelope, byte[] Body);

/// <summary>The spool cannot be opened or read; the message names the directory and the problem.</summary>
public sealed class SpoolException : Exception
{
    public SpoolException()
    {
    }

    public SpoolException(string message)
        : base(message)
    {
    }

    public SpoolException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
