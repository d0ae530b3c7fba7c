using Tern.Observability.Metrics;

namespace Tern.Spool;

/// <summary>The spool's instruments (created once).</summary>
internal sealed class SpoolMetrics
{
    public SpoolMetrics(IMetrics metrics)
    {
        Commits = metrics.Counter("tern_spool_commits_total", "Log commits (each makes every record appended before it durable).");
        CommitFailures = metrics.Counter("tern_spool_commit_failures_total", "Commits that failed (I/O errors); writers got a temporary failure.");
        CommitSeconds = metrics.Histogram("tern_spool_commit_seconds", "Time from a message's commit request to its durability.", Buckets.FastLatencySeconds);
        RecordsPerCommit = metrics.Histogram("tern_spool_records_per_commit", "Records made durable by one commit (group commit).", Buckets.Exponential(1, 2, 14));
        Messages = metrics.Gauge("tern_spool_messages", "Messages in the spool.");
        LogBytes = metrics.Gauge("tern_spool_log_bytes", "Bytes between the log's begin and tail.");
        IndexBytes = metrics.Gauge("tern_spool_index_bytes", "Bytes of the queue index's log (memory and disk).");
        Checkpoints = metrics.Counter("tern_spool_checkpoints_total", "Checkpoints of the queue index.");
        Compacted = metrics.Counter("tern_spool_compacted_messages_total", "Queued messages copied forward so old log segments could be dropped.");
        RawBytes = metrics.Counter("tern_spool_compressed_raw_bytes_total", "Body bytes given to zstd.");
        StoredBytes = metrics.Counter("tern_spool_compressed_stored_bytes_total", "Bytes zstd produced from them (ratio = stored / raw).");
        CompactionRuns = metrics.Counter("tern_spool_compaction_runs_total", "Compaction runs (each copies the queued messages pinning the log's oldest part forward).");
        FreeBytes = metrics.Gauge("tern_spool_free_bytes", "Free bytes on the spool's file system (for an unprivileged writer), read at most once a second.");
        MinFreeBytes = metrics.Gauge("tern_spool_min_free_bytes", "The free-space reserve: below it new messages are refused with 452 4.3.1.");
        var refusals = metrics.Counter("tern_spool_refusals_total", "New messages the spool refused, by reason: min_free (free space below the reserve), size (the declared size does not fit above it), commit_failed (the log could not store it: disk full or I/O error).", "reason");
        RefusedMinFree = refusals.Labels("min_free");
        RefusedSize = refusals.Labels("size");
        RefusedCommit = refusals.Labels("commit_failed");
        Accepted = metrics.Counter("tern_messages_accepted_total", "Messages made durable in the queue from outside (SMTP, the HTTP injection API); notices Tern writes itself are in tern_dsn_queued_total.");

        // The kind label of each Tern.Dsn.DsnKind (Failure, Delay, Success), by its value: resolved once.
        var notices = metrics.Counter("tern_dsn_queued_total", "Delivery status notifications (RFC 3464) queued to the envelope sender, by kind: failure, delay, success (Action: relayed).", "kind");
        _notices = [.. Enum.GetValues<Tern.Dsn.DsnKind>().Select(k => notices.Labels(k.ToString().ToLowerInvariant()))];
    }

    private readonly ICounter[] _notices;

    public ICounterFamily CompactionRuns { get; }

    public IGaugeFamily FreeBytes { get; }

    public IGaugeFamily MinFreeBytes { get; }

    public ICounter RefusedMinFree { get; }

    public ICounter RefusedSize { get; }

    public ICounter RefusedCommit { get; }

    public ICounterFamily Accepted { get; }

    /// <summary>Counts one notice queued.</summary>
    public void Notice(Tern.Dsn.DsnKind kind) => _notices[(int)kind].Inc();

    public ICounterFamily Commits { get; }

    public ICounterFamily CommitFailures { get; }

    public IHistogramFamily CommitSeconds { get; }

    public IHistogramFamily RecordsPerCommit { get; }

    public IGaugeFamily Messages { get; }

    public IGaugeFamily LogBytes { get; }

    public IGaugeFamily IndexBytes { get; }

    public ICounterFamily Checkpoints { get; }

    public ICounterFamily Compacted { get; }

    public ICounterFamily RawBytes { get; }

    public ICounterFamily StoredBytes { get; }

    public void Compressed(int raw, int stored)
    {
        RawBytes.Inc(raw);
        StoredBytes.Inc(stored);
    }
}
