using Microsoft.Extensions.Logging;
using Tern.Spool;
using Tern.Spool.Queue;
using Tern.Suppression;

namespace Tern.Scheduler;

/// <summary>
/// The end of an attempt: recipients still deferred after the last retry fail (expiry), the
/// suppression list learns from the remote servers' permanent refusals and from deliveries, and the
/// whole attempt is recorded in one change (which queues the failure, delay and success notices).
/// Attempts that finish close together are recorded together, in one commit.
/// </summary>
public sealed partial class DeliveryScheduler
{
    /// <summary>Attempts whose last batch is done, waiting to be recorded.</summary>
    private readonly BatchDrain<MessageAttempt> _finished;

    private Task? _finishLoop;

    private async Task FinishAsync(List<MessageAttempt> attempts)
    {
        // Where each message stands afterwards, for the schedule: the recorded entry's next attempt, or
        // (not recorded) the durable one written before the attempt. The owner loop may have handed a
        // message out again while it was under way and dropped it then (in flight), so it is put back
        // here, after the in-flight mark is gone; a message that retired is not.
        var reschedule = new long?[attempts.Count];

        // Held, failed or dropped by the operator, or the queue paused, before any batch went: no
        // attempt is counted, and the message is due at once when it may go again. (When some
        // batches went, their outcomes are recorded as an attempt; the others stay open.)
        var aborted = new List<(MessageAttempt a, int i)>();
        var attempted = new List<(MessageAttempt a, int i)>(attempts.Count);
        for (var i = 0; i < attempts.Count; i++)
        {
            reschedule[i] = attempts[i].NextAttempt.ToUnixTimeMilliseconds();
            (attempts[i] is { Aborted: true, Outcomes.Count: 0 } ? aborted : attempted).Add((attempts[i], i));
        }

        try
        {
            if (aborted.Count > 0)
            {
                var now = _clock.GetUtcNow();
                if (await RecordOrLogAsync(aborted.Select(x => x.a), () => _spool.ScheduleAsync([.. aborted.Select(x => x.a.Entry.Id)], now, CancellationToken.None)).ConfigureAwait(false))
                {
                    foreach (var (_, i) in aborted)
                    {
                        reschedule[i] = now.ToUnixTimeMilliseconds();
                    }
                }
            }

            if (attempted.Count == 0)
            {
                return;
            }

            var records = attempted.Select(x => RecordOf(x.a)).ToList();
            RecordedAttempt[]? recorded = null;
            await RecordOrLogAsync(attempted.Select(x => x.a), async () => recorded = await _spool.RecordAttemptsAsync(records, CancellationToken.None).ConfigureAwait(false)).ConfigureAwait(false);
            for (var j = 0; recorded is not null && j < recorded.Length; j++)
            {
                var (attempt, i) = attempted[j];
                if (recorded[j].NoticeError is { } e)
                {
                    // Recorded, but a notice could not be stored: the durable next attempt stands.
                    AttemptNotRecorded(_log, attempt.Entry.Id.ToString(), e);
                    continue;
                }

                reschedule[i] = recorded[j].After is { State: MessageState.Queued, Held: false } after ? after.NextAttempt.ToUnixTimeMilliseconds() : null;
            }
        }
        finally
        {
            for (var i = 0; i < attempts.Count; i++)
            {
                var id = attempts[i].Entry.Id;
                _inFlight.TryRemove(id, out _);
                if (reschedule[i] is { } due && !_stop.IsCancellationRequested)
                {
                    Repost(id, due);
                }
            }
        }
    }

    /// <summary>
    /// Runs a spool write for some attempts; false when the spool could not write (each is logged as
    /// not recorded: its durable next attempt stands, so it is tried again then).
    /// </summary>
    private async Task<bool> RecordOrLogAsync(IEnumerable<MessageAttempt> attempts, Func<Task> write)
    {
        try
        {
            await write().ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is IOException or SpoolException or FASTER.core.FasterException)
        {
            foreach (var attempt in attempts)
            {
                AttemptNotRecorded(_log, attempt.Entry.Id.ToString(), e);
            }

            return false;
        }
    }

    /// <summary>What to record of one attempt: expiry after the last retry, the next attempt, the notices wanted.</summary>
    private AttemptRecord RecordOf(MessageAttempt attempt)
    {
        var entry = attempt.Entry;
        var now = _clock.GetUtcNow();
        var last = _options.Retry.IsLast(attempt.Number, entry.MaxRetries);
        var outcomes = new List<AttemptOutcome>(attempt.Outcomes.Count);
        var deferred = false;
        foreach (var o in attempt.Outcomes)
        {
            var outcome = o;
            if (o.Status == RecipientStatus.Deferred && last)
            {
                // The last retry failed too: the recipient expires with the last reply it got (RFC 5321 4.5.4.1).
                // Tern's decision, not the server's: the suppression list does not learn from it.
                outcome = o with { Status = RecipientStatus.Failed };
                _metrics.Expired.Inc();
                Expired(_log, entry.Id.ToString(), entry.Recipients[o.Recipient].Address, attempt.Number, o.Reply);
            }
            else
            {
                Learn(attempt, entry, outcome);
            }

            deferred |= outcome.Status == RecipientStatus.Deferred;
            outcomes.Add(outcome);
        }

        // The wait counts from the end of the attempt (mail-behaviour.md: 7.5 min x 2^(n-1) after the
        // n-th failed attempt); the time written before it stays the floor, so a crash between the two
        // never brings the message back sooner.
        var next = now + _options.Retry.Delay(attempt.Number, _random());
        next = next < attempt.NextAttempt ? attempt.NextAttempt : next;
        var notices = new AttemptNotices(
            Delay: deferred && _options.Retry.SendsDelayNotice(attempt.Number),
            WillRetryUntil: _options.Retry.RetryUntil(now, attempt.Number, entry.MaxRetries));
        return new AttemptRecord(entry.Id, outcomes, next, notices);
    }

    /// <summary>What the suppression list learns from one outcome: only the remote servers' own replies count.</summary>
    private void Learn(MessageAttempt attempt, QueueEntry entry, AttemptOutcome outcome)
    {
        if (_suppression is null)
        {
            return;
        }

        var address = entry.Recipients[outcome.Recipient].Address;
        try
        {
            if (outcome.Status == RecipientStatus.Delivered)
            {
                _suppression.RecordDelivered(address);
            }
            else if (outcome.Status == RecipientStatus.Failed && attempt.FromServer[outcome.Recipient] && outcome.Reply.StartsWith('5')
                && _suppression.RecordPermanentFailure(address, outcome.Reply) is { } added)
            {
                RecipientSuppressed(_log, address, added.Source.ToString().ToLowerInvariant(), added.Reason);
            }
        }
        catch (SuppressionStoreException e)
        {
            // The list could not be written (disk full): the delivery result itself is still recorded.
            SuppressionNotRecorded(_log, address, e.Message);
        }
    }

    /// <summary>One line per recipient and attempt: what became of it, through which transport and host, with the full reply.</summary>
    [LoggerMessage(Level = LogLevel.Information, Message = "delivery {id} {rcpt} {transport} {host} {result} {reply}")]
    private static partial void Delivered(ILogger log, string id, string rcpt, string transport, string host, string result, string reply);

    [LoggerMessage(Level = LogLevel.Information, Message = "expired {id} {rcpt} {attempts} {reply}")]
    private static partial void Expired(ILogger log, string id, string rcpt, int attempts, string reply);

    private static string Result(RecipientStatus status) => status switch
    {
        RecipientStatus.Delivered => "delivered",
        RecipientStatus.Failed => "failed",
        _ => "deferred",
    };

    [LoggerMessage(Level = LogLevel.Error, Message = "delivery attempt not recorded, the message will be tried again at its next attempt {id}")]
    private static partial void AttemptNotRecorded(ILogger log, string id, Exception e);

    [LoggerMessage(Level = LogLevel.Warning, Message = "suppression list not updated for {rcpt}: {error}")]
    private static partial void SuppressionNotRecorded(ILogger log, string rcpt, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "recipient suppressed {rcpt} {source}: {reason}")]
    private static partial void RecipientSuppressed(ILogger log, string rcpt, string source, string reason);
}
