using Microsoft.Extensions.Logging;
using Tern.Delivery;
using Tern.Smtp.Client;
using Tern.Smtp.Protocol;
using Tern.Spool;
using Tern.Spool.Queue;

namespace Tern.Scheduler;

/// <summary>
/// The runners: each drains one destination's ready queue, one batch at a time through the
/// deliverer (which reuses that destination's connections). A destination has at most its
/// connection limit of runners, all destinations together at most the global concurrency; a
/// destination that finds no global slot waits in line and gets the next one freed, and a runner
/// hands its slot over after its fair share when others wait. So a slow or broken destination holds
/// only its own slots and never stops the others.
/// </summary>
public sealed partial class DeliveryScheduler
{
    private static readonly TimeSpan PruneEvery = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan PruneAfter = TimeSpan.FromMinutes(10);
    private long _lastPrune;
    private long _runnersStarted;

    /// <summary>Runners started so far (tests: one queued batch starts one runner).</summary>
    internal long RunnersStarted => Interlocked.Read(ref _runnersStarted);

    /// <summary>Batches waiting in the ready queue of the destination <paramref name="key"/> (tests).</summary>
    internal int Queued(string key) => _destinations.TryGetValue(key, out var d) ? Volatile.Read(ref d.Queued) : 0;

    private void StartRunners(Destination d)
    {
        while (d.NeedsRunner && !_stop.IsCancellationRequested && d.TryStartRunner())
        {
            if (!TryTakeGlobalSlot())
            {
                d.RunnerStopped();
                if (d.TryMarkWaiting())
                {
                    _waiting.Enqueue(d);
                }

                // A slot freed between the two steps would otherwise go unnoticed.
                HandOverSlots();
                return;
            }

            d.RunnerStarting();
            Interlocked.Increment(ref _runnersStarted);
            Spawn(() => RunAsync(d));
        }
    }

    private bool TryTakeGlobalSlot()
    {
        while (true)
        {
            var running = Volatile.Read(ref _globalRunning);
            if (running >= _options.Concurrency)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _globalRunning, running + 1, running) == running)
            {
                _metrics.Running.Set(running + 1);
                return true;
            }
        }
    }

    /// <summary>Starts runners for destinations waiting for a global slot while slots are free.</summary>
    private void HandOverSlots()
    {
        while (Volatile.Read(ref _globalRunning) < _options.Concurrency && _waiting.TryDequeue(out var d))
        {
            d.ClearWaiting();
            StartRunners(d);
        }
    }

    /// <summary>
    /// Every tick: destinations with work and no runner (after a rate wait or a race) get one;
    /// parked messages come back. Every <see cref="PruneEvery"/>, destinations idle for
    /// <see cref="PruneAfter"/> (nothing queued, parked or running, not suspended) are forgotten, so
    /// that mail to many domains does not grow the table without bound.
    /// </summary>
    private void KickIdleDestinations()
    {
        HandOverSlots();
        var now = _clock.GetTimestamp();
        var prune = now - _lastPrune >= (long)(PruneEvery.TotalSeconds * _clock.TimestampFrequency);
        if (prune)
        {
            _lastPrune = now;
        }

        var idleSince = now - (long)(PruneAfter.TotalSeconds * _clock.TimestampFrequency);
        foreach (var d in _destinations.Values)
        {
            if (!d.Ready.IsEmpty && d.Running == 0)
            {
                StartRunners(d);
            }

            Unpark(d);
            if (prune && d.Running == 0 && d.Ready.IsEmpty && d.Parked.IsEmpty && d.LastUsed < idleSince && d.SuspendedUntil < now)
            {
                _destinations.TryRemove(new KeyValuePair<string, Destination>(d.Where.Key, d));
            }
        }

        if (prune)
        {
            _metrics.Destinations.Set(_destinations.Count);
        }
    }

    /// <summary>
    /// Takes parked messages back once the destination's queue has drained by half. They join the queue
    /// whatever its length then (<see cref="TakeUnparked"/>): before, messages that became due meanwhile
    /// filled it first and most of them were turned away again, 1.9 times per message on average in a
    /// backlog to one destination (bench/README.md), each time after reading its entry.
    /// </summary>
    private void Unpark(Destination d)
    {
        var half = _options.MaxQueuedPerDestination / 2;
        if (d.Parked.IsEmpty || Volatile.Read(ref d.Queued) + Volatile.Read(ref d.Unparking) > half)
        {
            return;
        }

        for (var n = half; n > 0 && d.Parked.TryDequeue(out var id); n--)
        {
            if (_unparked.TryAdd(id, d))
            {
                Interlocked.Increment(ref d.Unparking);
            }

            _due.Post(id);
        }
    }

    /// <summary>Whether <paramref name="id"/> was taken back from a parked list (and is no longer counted as such).</summary>
    private bool TakeUnparked(MessageId id)
    {
        if (!_unparked.TryRemove(id, out var d))
        {
            return false;
        }

        Interlocked.Decrement(ref d.Unparking);
        return true;
    }

    private async Task RunAsync(Destination d)
    {
        d.RunnerArrived();
        try
        {
            var done = 0;
            ReadyBatch? ahead = null;
            while (true)
            {
                ReadyBatch current;
                if (ahead is { } taken)
                {
                    // Its envelope may be on a connection waiting for it. What happened while the batch before it
                    // was out still applies: the stop, a hold or withdrawal, the pause, a suspension.
                    ahead = null;
                    if (await StillGoesAsync(d, taken).ConfigureAwait(false) is not { } going)
                    {
                        if (_stop.IsCancellationRequested)
                        {
                            break;
                        }

                        continue;
                    }

                    current = going;
                }
                else
                {
                    if (_stop.IsCancellationRequested || !TryTake(d, out var work))
                    {
                        break;
                    }

                    if (d.SuspendedUntil > _clock.GetTimestamp())
                    {
                        await DeferSuspendedAsync(d, work).ConfigureAwait(false);
                        continue;
                    }

                    if (d.Rate is { } rate && rate.Reserve(_clock.GetTimestamp()) is var wait and > 0)
                    {
                        await Task.Delay(TimeSpan.FromSeconds((double)wait / _clock.TimestampFrequency), _clock, _stop.Token).ConfigureAwait(false);
                    }

                    current = await ReadBatchAsync(d, work).ConfigureAwait(false);
                }

                // The next batch of the destination, prepared now, so that its envelope can go with this one's end of
                // data (RFC 2920 section 3.1; the deliverer decides whether it may). Not under a rate limit (it would
                // be sent before its turn), nor when this runner is about to hand its slot over.
                var last = done + 1 >= _options.FairShare && !_waiting.IsEmpty;
                if (current.Batch is not null && d.Limits.PipelineNext && d.Rate is null && !last && !_stop.IsCancellationRequested
                    && d.SuspendedUntil <= _clock.GetTimestamp() && TakeFollowing(d, current.Work, out var following))
                {
                    ahead = await ReadBatchAsync(d, following).ConfigureAwait(false);
                }

                await DeliverAsync(d, current, ahead?.Batch).ConfigureAwait(false);
                if (++done >= _options.FairShare && !_waiting.IsEmpty && ahead is null)
                {
                    break;
                }
            }
        }
        finally
        {
            d.RunnerStopped();
            _metrics.Running.Set(Interlocked.Decrement(ref _globalRunning));
            HandOverSlots();
            Unpark(d);
            if (!d.Ready.IsEmpty)
            {
                StartRunners(d);
            }
        }
    }

    /// <summary>
    /// The next batch of the destination, to go ahead with <paramref name="current"/>'s end of data: only when no other
    /// runner is on its way for it (taking it would otherwise leave a connection idle), and when it looks like it takes
    /// the same way (same recipient domain and attempt count; the deliverer checks the rest).
    /// </summary>
    private bool TakeFollowing(Destination d, DestinationWork current, out DestinationWork work)
    {
        work = null!;
        return d.NeedsRunner
            && d.Ready.TryPeek(out var peeked)
            && peeked.Domain == current.Domain
            && peeked.Attempt.Entry.Attempts == current.Attempt.Entry.Attempts
            && TryTake(d, out work);
    }

    /// <summary>
    /// A batch prepared ahead, when it is its turn: itself when it still goes; else (null) it is settled here (held,
    /// withdrawn or paused: not attempted; destination suspended: deferred) or left to the next start (stopping), and a
    /// connection kept for it is closed.
    /// </summary>
    private async ValueTask<ReadyBatch?> StillGoesAsync(Destination d, ReadyBatch taken)
    {
        if (taken.Batch is not { } batch)
        {
            return taken;
        }

        var suspended = d.SuspendedUntil > _clock.GetTimestamp();
        var withdrawn = IsWithdrawn(taken.Work.Attempt);
        if (!suspended && !withdrawn && !_stop.IsCancellationRequested)
        {
            return taken;
        }

        await _deliverer.DiscardAsync(batch).ConfigureAwait(false);
        if (_stop.IsCancellationRequested)
        {
            return null;
        }

        if (withdrawn)
        {
            taken.Work.Attempt.Abort();
            await CompleteAsync(taken.Work, []).ConfigureAwait(false);
        }
        else
        {
            await DeferSuspendedAsync(d, taken.Work).ConfigureAwait(false);
        }

        return null;
    }

    /// <summary>A batch of a suspended destination: deferred without an attempt, and its attempt completed.</summary>
    private Task DeferSuspendedAsync(Destination d, DestinationWork work)
    {
        var deferred = Suspended(d, work);
        d.Record(deferred);
        return CompleteAsync(work, deferred);
    }

    /// <summary>Hold, the pause and operator changes apply to batches already waiting in a ready queue too.</summary>
    private bool IsWithdrawn(MessageAttempt attempt) =>
        _paused || attempt.Aborted || (_inFlight.TryGetValue(attempt.Entry.Id, out var mark) && mark == Withdrawn);

    private bool TryTake(Destination d, out DestinationWork work)
    {
        if (!d.Ready.TryDequeue(out work!))
        {
            return false;
        }

        Interlocked.Decrement(ref d.Queued);
        d.LastUsed = _clock.GetTimestamp();
        return true;
    }

    /// <summary>A batch to send (<see cref="Batch"/>), or decided without sending (<see cref="Outcomes"/>, none when null).</summary>
    private readonly record struct ReadyBatch(DestinationWork Work, DeliveryBatch? Batch, List<AttemptOutcome>? Outcomes);

    /// <summary>Reads the batch's message from the spool and builds what the deliverer sends; or decides it without sending.</summary>
    private async ValueTask<ReadyBatch> ReadBatchAsync(Destination d, DestinationWork work)
    {
        var attempt = work.Attempt;
        var entry = attempt.Entry;
        if (IsWithdrawn(attempt))
        {
            attempt.Abort();
            return new ReadyBatch(work, null, null);
        }

        try
        {
            var body = await attempt.BodyAsync(_spool, _stop.Token).ConfigureAwait(false);

            // Dropped meanwhile: nothing to send; the record finds it gone.
            return new ReadyBatch(work, body is null ? null : BatchFor(d, work, body), null);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e) when (e is IOException or SpoolException or FASTER.core.FasterException)
        {
            // The body could not be read (spool I/O error): deferred, tried again at the next attempt.
            BodyUnreadable(_log, entry.Id.ToString(), e.Message);
            return new ReadyBatch(work, null, Deferred(work, "451 4.3.0 the message could not be read from the spool"));
        }
        catch (Exception e)
        {
            return new ReadyBatch(work, null, Panic(work, e));
        }
    }

    private static DeliveryBatch BatchFor(Destination d, DestinationWork work, byte[] body)
    {
        var entry = work.Attempt.Entry;
        return new DeliveryBatch
        {
            MessageId = work.Attempt.IdText,
            RecipientDomain = work.Domain,
            Message = MessageFor(entry, work.Recipients, body),
            Account = entry.Envelope.AuthenticatedUser,
            Attempts = entry.Attempts,
            TransportOverride = entry.Transport,
            Limits = d.Connection,
        };
    }

    /// <summary>Delivers a prepared batch (its envelope may take <paramref name="next"/>'s along) and completes its attempt.</summary>
    private async Task DeliverAsync(Destination d, ReadyBatch prepared, DeliveryBatch? next)
    {
        var outcomes = prepared.Outcomes;
        if (prepared.Batch is { } batch)
        {
            try
            {
                var result = await _deliverer.DeliverAsync(next is null ? batch : batch with { Next = next }, _stop.Token).ConfigureAwait(false);
                Feedback(d, result);
                outcomes = OutcomesOf(prepared.Work, result);
                d.Record(outcomes);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception e)
            {
                outcomes = Panic(prepared.Work, e);
            }
        }

        await CompleteAsync(prepared.Work, outcomes ?? []).ConfigureAwait(false);
    }

    /// <summary>
    /// A bug in this batch (also a cancellation that is not the stop): its recipients are deferred on the
    /// retry schedule (never lost, never hot-looped).
    /// </summary>
    private List<AttemptOutcome> Panic(DestinationWork work, Exception e)
    {
        _panics.Inc();
        Bug(_log, e);
        return Deferred(work, "451 4.3.0 internal error in delivery (see the log)");
    }

    private static List<AttemptOutcome> Deferred(DestinationWork work, string reply) =>
        [.. work.Recipients.Select(i => new AttemptOutcome(i, RecipientStatus.Deferred, reply))];

    /// <summary>
    /// Adds a batch's outcomes to its attempt; the last batch's runner hands the attempt over to be
    /// recorded (with others that finished meanwhile) and goes on with its next batch instead of
    /// waiting for the commit.
    /// </summary>
    private Task CompleteAsync(DestinationWork work, List<AttemptOutcome> outcomes)
    {
        if (work.Attempt.Complete(outcomes))
        {
            _finished.Post(work.Attempt);
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// Concurrency feedback: a batch that failed at the session level (no connection, 421, timeout,
    /// TLS) on every host lowers the destination's limit and may suspend it; anything else the
    /// servers answered raises it again.
    /// </summary>
    private void Feedback(Destination d, BatchResult result)
    {
        var sessionFailure = result.Recipients.Count > 0 && result.Recipients.All(r =>
            r.Outcome == SmtpOutcome.TemporaryFailure
            && (r.Kind is SmtpFailureKind.ConnectionLost or SmtpFailureKind.Timeout or SmtpFailureKind.Tls || r.Reply.Code == 421));
        if (!sessionFailure)
        {
            d.Succeeded();
            return;
        }

        var suspendFor = (long)(d.Limits.SuspendFor.TotalSeconds * _clock.TimestampFrequency);
        if (d.Failed(result.Recipients[0].Reply.ToString(), _clock.GetTimestamp(), suspendFor))
        {
            _metrics.Suspensions.Inc();
            DestinationSuspended(_log, d.Where.Key, d.Limits.SuspendFor.TotalSeconds, d.LastFailure);
        }
    }

    /// <summary>The batch of a suspended destination is deferred without a connection, with the reason it was suspended.</summary>
    private List<AttemptOutcome> Suspended(Destination d, DestinationWork work)
    {
        var until = _clock.GetUtcNow() + TimeSpan.FromSeconds((double)(d.SuspendedUntil - _clock.GetTimestamp()) / _clock.TimestampFrequency);
        var last = d.LastFailure.Split('\n')[0].TrimEnd('\r');
        var reply = $"451 4.4.1 delivery to {d.Where.Key} temporarily suspended until {until.UtcDateTime:HH:mm:ss}Z after repeated failures: {last}";
        foreach (var i in work.Recipients)
        {
            Delivered(_log, work.Attempt.IdText, work.Attempt.Entry.Recipients[i].Address, d.Where.Transport, string.Empty, "deferred", reply);
        }

        return [.. work.Recipients.Select(i => new AttemptOutcome(i, RecipientStatus.Deferred, reply))];
    }

    private List<AttemptOutcome> OutcomesOf(DestinationWork work, BatchResult result)
    {
        var outcomes = new List<AttemptOutcome>(work.Recipients.Length);
        var relayedWithoutDsn = result.Session is { } s && !s.DsnOffered;
        for (var j = 0; j < work.Recipients.Length; j++)
        {
            var r = result.Recipients[j];
            var status = r.Outcome switch
            {
                SmtpOutcome.Delivered => RecipientStatus.Delivered,
                SmtpOutcome.PermanentFailure => RecipientStatus.Failed,
                _ => RecipientStatus.Deferred,
            };
            outcomes.Add(new AttemptOutcome(work.Recipients[j], status, r.Reply.ToString())
            {
                RemoteMta = result.Host,
                RemoteAddress = result.Remote?.Address,
                Relayed = status == RecipientStatus.Delivered && relayedWithoutDsn,
            });
            work.Attempt.FromServer[work.Recipients[j]] = r.Kind == SmtpFailureKind.Reply;
            Delivered(_log, work.Attempt.IdText, r.Recipient.Address, result.Transport, result.Host ?? string.Empty, Result(status), outcomes[^1].Reply);
        }

        return outcomes;
    }

    /// <summary>The SMTP client's view of the message for the recipients at <paramref name="indices"/>.</summary>
    internal static SmtpMessage MessageFor(QueueEntry entry, IReadOnlyList<int> indices, byte[] body)
    {
        var env = entry.Envelope;
        var recipients = new SmtpRecipient[indices.Count];
        for (var i = 0; i < recipients.Length; i++)
        {
            var r = entry.Recipients[indices[i]];
            recipients[i] = new SmtpRecipient(r.Address, (DsnNotify)r.Notify, r.OriginalRecipient);
        }

        return new SmtpMessage
        {
            Sender = env.Sender,
            Recipients = recipients,
            Content = body,
            EightBit = env.EightBit,
            BodyType = (BodyType)env.BodyType,
            SmtpUtf8 = env.SmtpUtf8,
            RequireTls = entry.RequiresTls,
            Ret = (DsnReturn)env.Ret,
            EnvelopeId = env.EnvelopeId,
        };
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "delivery deferred, the message could not be read from the spool {id}: {error}")]
    private static partial void BodyUnreadable(ILogger log, string id, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "destination suspended {destination} for {seconds} s after repeated failures: {reply}")]
    private static partial void DestinationSuspended(ILogger log, string destination, double seconds, string reply);
}
