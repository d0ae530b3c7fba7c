using Tern.Spool.Queue;

namespace Tern.Spool;

/// <summary>The result of one delivery attempt for one recipient of a queued message.</summary>
/// <param name="Recipient">Index of the recipient in <see cref="QueueEntry.Recipients"/>.</param>
/// <param name="Status">Delivered, Deferred (temporary failure) or Failed (permanent).</param>
/// <param name="Reply">The remote server's full reply (every line, CRLF-separated) or the local reason.</param>
public sealed record AttemptOutcome(int Recipient, RecipientStatus Status, string Reply);

/// <summary>What delivery needs from the spool: the messages that are due, and recording attempts.</summary>
public sealed partial class Spool
{
    /// <summary>
    /// Queued messages whose next attempt is due at <paramref name="now"/>, oldest first, at most
    /// <paramref name="limit"/>: none while the queue is paused, never held ones. A scan of the index.
    /// </summary>
    public IReadOnlyList<QueueEntry> Due(DateTimeOffset now, int limit)
    {
        if (Rules.Paused)
        {
            return [];
        }

        var ids = new List<MessageId>();
        var nowMs = now.ToUnixTimeMilliseconds();
        _index.ForEach((id, value) =>
        {
            // Only due entries are read whole: the scan runs every poll over the whole queue.
            if (QueueEntryFormat.IsDue(value, nowMs))
            {
                ids.Add(id);
            }
        });

        // Each due entry is read again through the index (a copy): the scan's bytes may be rewritten in place meanwhile.
        var due = new List<QueueEntry>(ids.Count);
        foreach (var id in ids)
        {
            if (ReadEntry(id) is { State: MessageState.Queued, Held: false } e && e.NextAttempt <= now)
            {
                due.Add(e);
            }
        }

        return [.. due.OrderBy(e => e.NextAttempt).ThenBy(e => e.Id.High).ThenBy(e => e.Id.Low).Take(limit)];
    }

    /// <summary>The queue entry of a message (queued or retired), or null.</summary>
    public QueueEntry? Entry(MessageId id) => ReadEntry(id);

    /// <summary>
    /// Records one attempt: each outcome's recipient takes its status and reply, the attempt count
    /// rises, the next attempt is set, and the message retires once no recipient is pending or
    /// deferred. Recipients that failed get a failure notice (DSN) when they asked for one. Returns
    /// the new entry, or null when the message is no longer queued (dropped or failed meanwhile).
    /// Throws <see cref="IOException"/> when the log could not make the change durable.
    /// </summary>
    public async Task<QueueEntry?> RecordAttemptAsync(MessageId id, IReadOnlyList<AttemptOutcome> outcomes, DateTimeOffset nextAttempt, CancellationToken cancel = default)
    {
        var now = _clock.GetUtcNow();
        QueueEntry? before = null;
        QueueEntry? after = null;
        await ChangeAsync([id], e =>
        {
            var recipients = e.Recipients.ToArray();
            foreach (var o in outcomes)
            {
                if ((uint)o.Recipient < (uint)recipients.Length && recipients[o.Recipient].Status is RecipientStatus.Pending or RecipientStatus.Deferred)
                {
                    recipients[o.Recipient] = recipients[o.Recipient] with { Status = o.Status, LastAttempt = now, LastReply = o.Reply };
                }
            }

            var open = recipients.Any(r => r.Status is RecipientStatus.Pending or RecipientStatus.Deferred);
            before = e;
            after = e with
            {
                Attempts = e.Attempts + 1,
                NextAttempt = nextAttempt,
                Recipients = recipients,
                State = open ? MessageState.Queued : MessageState.Retired,
                Finished = open ? null : now,
            };
            return after;
        }, cancel).ConfigureAwait(false);

        if (before is null || after is null)
        {
            return null;
        }

        var failed = FailureNotices.NewlyFailed(before, after);
        if (FailureNotices.Wanted(after, failed))
        {
            var body = (await ReadAsync(id, cancel).ConfigureAwait(false))?.Body ?? [];
            if (!await FailureNotices.QueueAsync(this, after, failed, body, cancel).ConfigureAwait(false))
            {
                throw new IOException($"message {id}: the attempt is recorded, but its failure notice could not be stored (spool failing)");
            }
        }

        return after;
    }
}
