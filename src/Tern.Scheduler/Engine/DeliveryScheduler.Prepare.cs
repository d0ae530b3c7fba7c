using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Tern.Delivery;
using Tern.Spool;
using Tern.Spool.Queue;
using Tern.Suppression;

namespace Tern.Scheduler;

/// <summary>
/// Preparing a due message for its attempt: the entry is read again (it may have changed since it was
/// scheduled), suppressed recipients fail at once, the others are grouped by destination (recipients
/// of one message to one destination share a transaction: same envelope, attempt count, REQUIRETLS
/// state and transport), the next attempt is made durable, then each group joins its destination's
/// ready queue.
/// </summary>
public sealed partial class DeliveryScheduler
{
    /// <summary>Due messages waiting to be prepared; one not yet under way goes into a batch, marked in flight.</summary>
    private readonly BatchDrain<MessageId> _due;

    private Task? _prepareLoop;

    /// <summary>One message ready for its attempt: the recipients failed at once, and the batches per destination.</summary>
    private sealed record Prepared(QueueEntry Entry, DateTimeOffset Next, List<AttemptOutcome> Suppressed, List<(Destination Destination, string Domain, List<int> Recipients)> Batches);

    /// <summary>
    /// Prepares the messages of one batch, makes all their next attempts durable in one commit, then
    /// hands them to their destinations. Messages that do not go (changed, parked, failing spool) lose
    /// their in-flight mark here; the others keep it until their attempt is recorded.
    /// </summary>
    private async Task PrepareAsync(List<MessageId> ids)
    {
        var ready = new List<Prepared>(ids.Count);
        var started = 0;
        try
        {
            foreach (var id in ids)
            {
                var prepared = await PrepareOneAsync(id).ConfigureAwait(false);
                if (prepared is null)
                {
                    _inFlight.TryRemove(id, out _);
                }
                else
                {
                    ready.Add(prepared);
                }
            }

            if (ready.Count == 0)
            {
                return;
            }

            // Durable before the attempts start (mail-behaviour.md "Queue and retries"): a crash from
            // here on finds each message due at its next retry, not at once.
            try
            {
                await _spool.ScheduleAsync([.. ready.Select(p => p.Entry.Id)], [.. ready.Select(p => p.Next)], _stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or SpoolException or FASTER.core.FasterException)
            {
                // The spool cannot write (disk full): try again in a while, nothing was attempted.
                var later = (_clock.GetUtcNow() + TimeSpan.FromSeconds(10)).ToUnixTimeMilliseconds();
                foreach (var p in ready)
                {
                    NotScheduled(_log, p.Entry.Id.ToString(), e.Message);
                    _inFlight.TryRemove(p.Entry.Id, out _);
                    Repost(p.Entry.Id, later);
                }

                return;
            }

            for (; started < ready.Count; started++)
            {
                StartAttempt(ready[started]);
            }
        }
        catch
        {
            // A bug or a stop while preparing: what was not handed over loses its in-flight mark and stays due.
            var handedOver = ready.Take(started).Select(p => p.Entry.Id).ToHashSet();
            var later = (_clock.GetUtcNow() + TimeSpan.FromMinutes(1)).ToUnixTimeMilliseconds();
            foreach (var id in ids.Where(id => !handedOver.Contains(id)))
            {
                _inFlight.TryRemove(id, out _);
                if (!_stop.IsCancellationRequested)
                {
                    Repost(id, later);
                }
            }

            throw;
        }
    }

    private void StartAttempt(Prepared p)
    {
        var attempt = new MessageAttempt(p.Entry, p.Next, p.Batches.Count + (p.Suppressed.Count > 0 ? 1 : 0));
        if (p.Suppressed.Count > 0 && attempt.Complete(p.Suppressed))
        {
            _finished.Post(attempt);
            return;
        }

        foreach (var (destination, domain, recipients) in p.Batches)
        {
            Interlocked.Increment(ref destination.Queued);
            destination.Ready.Enqueue(new DestinationWork(attempt, [.. recipients], domain));
            StartRunners(destination);
        }
    }

    /// <summary>A due message goes into a batch unless it is under way already (then a take-back is void).</summary>
    private bool Admit(MessageId id)
    {
        if (_inFlight.TryAdd(id, 0))
        {
            return true;
        }

        TakeUnparked(id);
        return false;
    }

    /// <summary>Reads one due message and groups it by destination; null when it does not go now.</summary>
    private async Task<Prepared?> PrepareOneAsync(MessageId id)
    {
        var unparked = TakeUnparked(id);
        var now = _clock.GetUtcNow();
        if (await _spool.EntryAsync(id).ConfigureAwait(false) is not { State: MessageState.Queued, Held: false } entry)
        {
            return null;
        }

        if (_paused || entry.NextAttempt > now + _options.Resolution)
        {
            // Moved later meanwhile (or the queue was paused): back to the wheel at its time.
            Repost(id, entry.NextAttempt.ToUnixTimeMilliseconds());
            return null;
        }

        var suppressed = new List<AttemptOutcome>();
        var groups = new List<(DeliveryDestination Where, string Domain, List<int> Recipients)>();
        for (var i = 0; i < entry.Recipients.Count; i++)
        {
            var r = entry.Recipients[i];
            if (r.Status is not (RecipientStatus.Pending or RecipientStatus.Deferred))
            {
                continue;
            }

            if (_suppression is not null && _suppression.TryGet(r.Address, out var s))
            {
                suppressed.Add(new AttemptOutcome(i, RecipientStatus.Failed, SuppressedReply(r.Address, s)));
                _metrics.Suppressed.Inc();
                Delivered(_log, id.ToString(), r.Address, "suppressed", string.Empty, "failed", suppressed[^1].Reply);
                continue;
            }

            var domain = r.Domain;
            var group = groups.FindIndex(g => g.Domain == domain);
            if (group < 0)
            {
                var where = await _deliverer.DestinationAsync(
                    new RouteRequest(entry.Envelope.AuthenticatedUser, entry.SenderDomain, domain, entry.Attempts, entry.Transport, entry.RequiresTls),
                    _stop.Token).ConfigureAwait(false);
                groups.Add((where, domain, [i]));
            }
            else
            {
                groups[group].Recipients.Add(i);
            }
        }

        // MX rollup within the message: domains that go to the same place travel together.
        var batches = new List<(Destination Destination, string Domain, List<int> Recipients)>();
        foreach (var g in groups)
        {
            var at = batches.FindIndex(b => b.Destination.Where.Key == g.Where.Key);
            if (at >= 0)
            {
                batches[at].Recipients.AddRange(g.Recipients);
                continue;
            }

            var destination = DestinationFor(g.Where, g.Domain);
            if (!unparked && Volatile.Read(ref destination.Queued) >= _options.MaxQueuedPerDestination)
            {
                // A destination with a long queue takes no more for now: the id waits (16 bytes) until it drains.
                destination.Parked.Enqueue(id);
                _metrics.Parked.Inc();
                return null;
            }

            batches.Add((destination, g.Domain, g.Recipients));
        }

        if (batches.Count == 0 && suppressed.Count == 0)
        {
            return null;
        }

        return new Prepared(entry, now + _options.Retry.Delay(entry.Attempts + 1, _random()), suppressed, batches);
    }

    private Destination DestinationFor(DeliveryDestination where, string domain)
    {
        if (_destinations.TryGetValue(where.Key, out var known))
        {
            return known;
        }

        var created = _destinations.GetOrAdd(where.Key, _ => new Destination(where, _options.Destinations.For(domain, where.Hosts), _clock.TimestampFrequency) { LastUsed = _clock.GetTimestamp() });
        _metrics.Destinations.Set(_destinations.Count);
        return created;
    }

    /// <summary>
    /// The reply of a recipient on the suppression list (a local decision, in SMTP form so that the
    /// DSN's Status and Diagnostic-Code carry it): the enhanced code of the reply that put it there.
    /// </summary>
    internal static string SuppressedReply(string address, SuppressionEntry entry)
    {
        var reason = entry.Reason.Split('\n')[0].TrimEnd('\r');
        var enhanced = SuppressionRules.TryParse(reason, out var code) && code is { HasEnhanced: true, Class: 5 } ? $"5.{code.Subject}.{code.Detail}" : "5.7.1";
        return $"550 {enhanced} <{address}> is on the suppression list since {entry.Since.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z ({entry.Source.ToString().ToLowerInvariant()}): {reason}";
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "delivery postponed, the next attempt could not be stored {id}: {error}")]
    private static partial void NotScheduled(ILogger log, string id, string error);
}
