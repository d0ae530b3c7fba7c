using Tern.Spool.Queue;

namespace Tern.Spool;

/// <summary>The result of one delivery attempt for one recipient of a queued message.</summary>
/// <param name="Recipient">Index of the recipient in <see cref="QueueEntry.Recipients"/>.</param>
/// <param name="Status">Delivered, Deferred (temporary failure) or Failed (permanent, or its retries ran out).</param>
/// <param name="Reply">The remote server's full reply (every line, CRLF-separated) or the local reason.</param>
public sealed record AttemptOutcome(int Recipient, RecipientStatus Status, string Reply)
{
    /// <summary>Host name of the MTA that gave <see cref="Reply"/> (Remote-MTA in a DSN), if one answered.</summary>
    public string? RemoteMta { get; init; }

    /// <summary>IP address of that MTA, if known.</summary>
    public System.Net.IPAddress? RemoteAddress { get; init; }

    /// <summary>
    /// Delivered to a next hop that does not support the DSN extension (RFC 3461 5.2.2.1): a
    /// recipient whose NOTIFY includes SUCCESS gets a "relayed" notice.
    /// </summary>
    public bool Relayed { get; init; }
}

/// <summary>Notices the caller wants for one recorded attempt, beyond failures and relays (which are always considered).</summary>
/// <param name="Delay">Send a delay notice (Action: delayed) to recipients still deferred after the attempt that ask for one.</param>
/// <param name="WillRetryUntil">Until when delivery is retried (Will-Retry-Until in the delay notice).</param>
public readonly record struct AttemptNotices(bool Delay, DateTimeOffset? WillRetryUntil);

/// <summary>One attempt to record (see <see cref="Spool.RecordAttemptsAsync"/>).</summary>
/// <param name="Id">The message.</param>
/// <param name="Outcomes">What became of the recipients that went.</param>
/// <param name="NextAttempt">When the message is due again if recipients stay open.</param>
/// <param name="Notices">The notices wanted beyond failures and relays.</param>
public readonly record struct AttemptRecord(MessageId Id, IReadOnlyList<AttemptOutcome> Outcomes, DateTimeOffset NextAttempt, AttemptNotices Notices);

/// <summary>One recorded attempt.</summary>
/// <param name="After">The message's entry afterwards; null when it was no longer queued (nothing recorded).</param>
/// <param name="NoticeError">Why a notice of the attempt could not be stored (the attempt itself is recorded).</param>
public readonly record struct RecordedAttempt(QueueEntry? After, Exception? NoticeError);

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

    /// <summary>As <see cref="Entry"/>; an entry that has left the index's memory is read without holding a thread.</summary>
    public ValueTask<QueueEntry?> EntryAsync(MessageId id) => ReadEntryAsync(id);

    /// <summary>Records one attempt without a delay notice (see the overload with <see cref="AttemptNotices"/>).</summary>
    public Task<QueueEntry?> RecordAttemptAsync(MessageId id, IReadOnlyList<AttemptOutcome> outcomes, DateTimeOffset nextAttempt, CancellationToken cancel = default) =>
        RecordAttemptAsync(id, outcomes, nextAttempt, default, cancel);

    /// <summary>
    /// Records one attempt: each outcome's recipient takes its status and reply, the attempt count
    /// rises, the next attempt is set, and the message retires once no recipient is pending or
    /// deferred. Then at most one notice (DSN, RFC 3464) of each kind is queued to the envelope
    /// sender, never for a message from the null sender, each for the recipients whose NOTIFY asks
    /// for it: a failure notice for recipients newly failed, a delay notice for recipients still
    /// deferred when <paramref name="notices"/> asks for one, and a success notice ("relayed") for
    /// recipients newly delivered to a next hop without DSN support. Returns the new entry, or null
    /// when the message is no longer queued (dropped or failed meanwhile). Throws
    /// <see cref="IOException"/> when the log could not make the change durable, or could not store a
    /// notice (the attempt is recorded then).
    /// </summary>
    public async Task<QueueEntry?> RecordAttemptAsync(MessageId id, IReadOnlyList<AttemptOutcome> outcomes, DateTimeOffset nextAttempt, AttemptNotices notices, CancellationToken cancel = default)
    {
        var recorded = (await RecordAttemptsAsync([new AttemptRecord(id, outcomes, nextAttempt, notices)], cancel).ConfigureAwait(false))[0];
        if (recorded.NoticeError is { } e)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e);
        }

        return recorded.After;
    }

    /// <summary>
    /// Records several attempts (of different messages) as <see cref="RecordAttemptAsync(MessageId, IReadOnlyList{AttemptOutcome}, DateTimeOffset, AttemptNotices, CancellationToken)"/>
    /// records one, all in one commit: a delivery worker's attempts finish a few at a time, and one
    /// commit and one wake-up for all of them costs less than one each. Throws
    /// <see cref="IOException"/> when the log could not make the changes durable (none or some may
    /// take effect); a notice that could not be stored is that attempt's <see cref="RecordedAttempt.NoticeError"/>.
    /// </summary>
    public async Task<RecordedAttempt[]> RecordAttemptsAsync(IReadOnlyList<AttemptRecord> attempts, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(attempts);
        var now = _clock.GetUtcNow();
        var changes = new AttemptChange?[attempts.Count];
        try
        {
            var ids = attempts.Select(a => a.Id).ToArray();
            if (ids.Length > 1 && ids.Distinct().Count() != ids.Length)
            {
                // ChangeEachAsync's precondition (ChangeAsync removes duplicates itself).
                throw new ArgumentException("a message appears more than once", nameof(attempts));
            }

            await ChangeEachAsync(ids, (i, e) =>
            {
                var attempt = attempts[i];
                var recipients = e.Recipients.ToArray();
                var applied = new AttemptOutcome?[recipients.Length];
                foreach (var o in attempt.Outcomes)
                {
                    if ((uint)o.Recipient < (uint)recipients.Length && recipients[o.Recipient].Status is RecipientStatus.Pending or RecipientStatus.Deferred)
                    {
                        recipients[o.Recipient] = recipients[o.Recipient] with { Status = o.Status, LastAttempt = now, LastReply = o.Reply };
                        applied[o.Recipient] = o;
                    }
                }

                var open = recipients.Any(r => r.Status is RecipientStatus.Pending or RecipientStatus.Deferred);
                var after = e with
                {
                    Attempts = e.Attempts + 1,
                    NextAttempt = attempt.NextAttempt,
                    Recipients = recipients,
                    State = open ? MessageState.Queued : MessageState.Retired,
                    Finished = open ? null : now,
                };

                // A notice returns the original's headers (or all of it): its body must stay in the log
                // until it is read, though the message may retire now (truncation spares pinned bodies).
                var pinned = NoticesWanted(e, after, applied, attempt.Notices);
                if (pinned)
                {
                    PinInFlight(e.Id, e.FirstAddress);
                }

                changes[i] = new AttemptChange(e, after, applied, pinned);
                return after;
            }, cancel).ConfigureAwait(false);

            // The notices of different attempts are queued side by side: one after the other, each
            // waiting for its own commit (and, while the log fails, retrying for seconds), they would
            // hold up the whole batch.
            var recorded = new RecordedAttempt[attempts.Count];
            var notices = new List<Task>();
            for (var i = 0; i < recorded.Length; i++)
            {
                if (changes[i] is not { } c)
                {
                    continue;
                }

                recorded[i] = new RecordedAttempt(c.After, null);
                if (c.Pinned)
                {
                    var at = i;
                    notices.Add(QueueNoticesOfAsync(c, attempts[at].Notices, e => recorded[at] = new RecordedAttempt(c.After, e), cancel));
                }
            }

            await Task.WhenAll(notices).ConfigureAwait(false);
            return recorded;
        }
        finally
        {
            foreach (var c in changes)
            {
                if (c is { Pinned: true })
                {
                    UnpinInFlight(c.Before.Id);
                }
            }
        }
    }

    /// <summary>Queues one attempt's notices; a notice that cannot be stored goes to <paramref name="failed"/>.</summary>
    private async Task QueueNoticesOfAsync(AttemptChange c, AttemptNotices notices, Action<Exception> failed, CancellationToken cancel)
    {
        try
        {
            await QueueNoticesAsync(c.Before, c.After, c.Applied, notices, cancel).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SpoolException or FASTER.core.FasterException)
        {
            failed(e);
        }
    }

    /// <summary>One attempt's change of its entry, for the notices that follow it.</summary>
    private sealed record AttemptChange(QueueEntry Before, QueueEntry After, AttemptOutcome?[] Applied, bool Pinned);

    private static bool NoticesWanted(QueueEntry before, QueueEntry after, AttemptOutcome?[] applied, AttemptNotices notices)
    {
        if (after.Envelope.Sender.Length == 0)
        {
            return false;
        }

        for (var i = 0; i < after.Recipients.Count; i++)
        {
            if ((FailureNotices.IsNewlyFailed(before, after, i) && Notices.Wants(after, after.Recipients[i], Tern.Dsn.DsnKind.Failure))
                || (notices.Delay && DelayNotices.Wants(after, i))
                || SuccessNotices.Wants(before, after, i, applied[i]))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Tries to store one notice while the log fails, ReopenDelay apart (about 15 s: a few reopens of
    /// the log; the delivery worker waits meanwhile, and so would a shutdown).
    /// </summary>
    private const int NoticeAttempts = 8;

    /// <summary>Queues the failure, delay and success notices of one attempt (each only when it reports someone).</summary>
    private async Task QueueNoticesAsync(QueueEntry before, QueueEntry after, AttemptOutcome?[] applied, AttemptNotices notices, CancellationToken cancel)
    {
        var failed = new List<Tern.Dsn.DsnRecipient>();
        var delayed = new List<Tern.Dsn.DsnRecipient>();
        var relayed = new List<Tern.Dsn.DsnRecipient>();
        for (var i = 0; i < after.Recipients.Count; i++)
        {
            var r = after.Recipients[i];
            if (FailureNotices.IsNewlyFailed(before, after, i) && Notices.Wants(after, r, Tern.Dsn.DsnKind.Failure))
            {
                failed.Add(FailureNotices.Recipient(r, applied[i]));
            }
            else if (notices.Delay && DelayNotices.Wants(after, i))
            {
                delayed.Add(DelayNotices.Recipient(r, applied[i], notices.WillRetryUntil));
            }
            else if (SuccessNotices.Wants(before, after, i, applied[i]))
            {
                relayed.Add(SuccessNotices.Recipient(r, applied[i]!));
            }
        }

        byte[] body;
        try
        {
            body = (await ReadAsync(after.Id, cancel).ConfigureAwait(false))?.Body ?? [];
        }
        catch (Exception e) when (e is IOException or SpoolException or FASTER.core.FasterException)
        {
            // A notice without the original's headers is still a notice.
            body = [];
        }

        foreach (var (kind, recipients) in new[] { (Tern.Dsn.DsnKind.Failure, failed), (Tern.Dsn.DsnKind.Delay, delayed), (Tern.Dsn.DsnKind.Success, relayed) })
        {
            if (recipients.Count == 0)
            {
                continue;
            }

            // The attempt is recorded already: a notice that cannot be stored now (the log failing on
            // a full disk, reopened every ReopenDelay) is tried again rather than dropped. A notice
            // that failed was not stored (its record is abandoned), so trying again makes no duplicate.
            for (var attempt = 1; !await Notices.QueueAsync(this, after, kind, recipients, body, cancel).ConfigureAwait(false); attempt++)
            {
                if (attempt >= NoticeAttempts)
                {
                    throw new IOException($"message {after.Id}: the attempt is recorded, but its {kind.ToString().ToLowerInvariant()} notice could not be stored after {attempt} tries (spool failing)");
                }

                await Task.Delay(ReopenDelay, _clock, cancel).ConfigureAwait(false);
            }
        }
    }
}
