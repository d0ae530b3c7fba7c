using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Tern.Delivery;
using Tern.Observability.Logging;
using Tern.Observability.Metrics;
using Tern.Smtp.Client;
using Tern.Smtp.Protocol;
using Tern.Spool;
using Tern.Spool.Queue;

namespace Tern.Hosting;

/// <summary>
/// Takes due messages from the spool and delivers them through the <see cref="Deliverer"/>: one
/// batch per recipient domain, every recipient's result recorded in the queue (with the remote
/// server's full reply), retries on the 7.5 min x 2^(n-1) schedule, expiry after the last retry.
/// <para>
/// A plain loop over the queue index, with a bounded number of messages in flight: the delivery
/// scheduler (per-destination queues and limits, a timing wheel, delay notices) replaces it.
/// </para>
/// </summary>
internal sealed partial class DeliveryService : IAsyncDisposable
{
    /// <summary>mail-behaviour.md "Queue and retries": 7.5 min x 2^(n-1), 8 retries.</summary>
    private static readonly TimeSpan FirstRetry = TimeSpan.FromMinutes(7.5);
    private const int MaxRetries = 8;

    private readonly Spool.Spool _spool;
    private readonly Deliverer _deliverer;
    private readonly TimeSpan _poll;
    private readonly int _concurrency;
    private readonly ILogger _log;
    private readonly TimeProvider _clock;
    private readonly ConcurrentDictionary<MessageId, byte> _inFlight = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _slots;
    private readonly Task _loop;
    private readonly ICounter _panics;
    private int _disposed;

    public DeliveryService(Spool.Spool spool, Deliverer deliverer, int concurrency, TimeSpan poll, ILoggerFactory loggers, IMetrics metrics, TimeProvider? clock = null)
    {
        _panics = Panics.For(metrics, LogComponents.Delivery);
        _spool = spool;
        _deliverer = deliverer;
        _poll = poll;
        _concurrency = concurrency;
        _slots = new SemaphoreSlim(concurrency, concurrency);
        _log = loggers.CreateLogger(LogComponents.Delivery);
        _clock = clock ?? TimeProvider.System;
        _loop = Task.Run(LoopAsync);
    }

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                var due = _spool.Due(_clock.GetUtcNow(), _concurrency * 4);

                // The scan reads the whole index: with a large queue it may take a while, and the loop
                // then rests four times as long so that it never takes more than a fifth of a core.
                var rest = TimeSpan.FromTicks(Math.Max(_poll.Ticks, System.Diagnostics.Stopwatch.GetElapsedTime(started).Ticks * 4));
                foreach (var entry in due)
                {
                    if (!_inFlight.TryAdd(entry.Id, 0))
                    {
                        continue;
                    }

                    await _slots.WaitAsync(_stop.Token).ConfigureAwait(false);
                    _ = Task.Run(() => DeliverAsync(entry));
                }

                await Task.Delay(rest, _clock, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception e)
            {
                // The loop's boundary: a failing spool (disk full), or a listing that read an entry while the
                // applier rewrote it (FormatException), passes; anything else is a bug, counted, and the loop
                // goes on (it must never die silently and leave mail undelivered).
                if (e is not (IOException or SpoolException or FASTER.core.FasterException or FormatException))
                {
                    _panics.Inc();
                }

                LoopFailed(_log, e);
                await Task.Delay(_poll, _clock, CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    private async Task DeliverAsync(QueueEntry entry)
    {
        try
        {
            var stored = await _spool.ReadAsync(entry.Id, _stop.Token).ConfigureAwait(false);
            if (stored is null)
            {
                return;
            }

            var outcomes = new List<AttemptOutcome>();
            var open = entry.Recipients.Select((r, i) => (r, i)).Where(x => x.r.Status is RecipientStatus.Pending or RecipientStatus.Deferred);
            foreach (var group in open.GroupBy(x => x.r.Domain, StringComparer.OrdinalIgnoreCase))
            {
                var indices = group.Select(x => x.i).ToArray();
                var batch = new DeliveryBatch
                {
                    MessageId = entry.Id.ToString(),
                    RecipientDomain = group.Key,
                    Message = Message(entry, indices, stored.Body),
                    Account = entry.Envelope.AuthenticatedUser,
                    Attempts = entry.Attempts,
                    TransportOverride = entry.Transport,
                };
                var result = await _deliverer.DeliverAsync(batch, _stop.Token).ConfigureAwait(false);
                for (var j = 0; j < indices.Length; j++)
                {
                    var r = result.Recipients[j];
                    var status = r.Outcome switch
                    {
                        SmtpOutcome.Delivered => RecipientStatus.Delivered,
                        SmtpOutcome.PermanentFailure => RecipientStatus.Failed,
                        _ => RecipientStatus.Deferred,
                    };
                    var reply = r.Reply.ToString();
                    if (status == RecipientStatus.Deferred && entry.Attempts >= MaxRetries)
                    {
                        // The last retry failed too: the message expires (RFC 5321 4.5.4.1: give up after days, with a notice).
                        status = RecipientStatus.Failed;
                    }

                    outcomes.Add(new AttemptOutcome(indices[j], status, reply));
                    Delivered(_log, entry.Id.ToString(), r.Recipient.Address, result.Transport, result.Host ?? string.Empty, status.ToString().ToLowerInvariant(), reply);
                }
            }

            var next = _clock.GetUtcNow() + RetryDelay(entry.Attempts);
            await _spool.RecordAttemptAsync(entry.Id, outcomes, next, CancellationToken.None).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // Stopping: the attempt is not recorded; the message is due again at the next start.
        }
        catch (Exception e)
        {
            // An attempt's boundary: the message stays due and is tried again at a later poll.
            AttemptNotRecorded(_log, entry.Id.ToString(), e);
            if (e is not (IOException or SpoolException or FASTER.core.FasterException))
            {
                // A bug: the open recipients are deferred on the retry schedule, so that one message
                // does not fail again at every poll.
                _panics.Inc();
                await DeferAfterBugAsync(entry).ConfigureAwait(false);
            }
        }
        finally
        {
            _inFlight.TryRemove(entry.Id, out _);
            _slots.Release();
        }
    }

    private async Task DeferAfterBugAsync(QueueEntry entry)
    {
        try
        {
            var outcomes = entry.Recipients
                .Select((r, i) => (r, i))
                .Where(x => x.r.Status is RecipientStatus.Pending or RecipientStatus.Deferred)
                .Select(x => new AttemptOutcome(x.i, RecipientStatus.Deferred, "451 4.3.0 internal error in delivery (see the log)"))
                .ToList();
            await _spool.RecordAttemptAsync(entry.Id, outcomes, _clock.GetUtcNow() + RetryDelay(entry.Attempts), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SpoolException or FASTER.core.FasterException)
        {
            AttemptNotRecorded(_log, entry.Id.ToString(), e);
        }
    }

    /// <summary>7.5 min x 2^(n-1) after the n-th attempt, with up to 10 % jitter so that a burst does not come back as one.</summary>
    internal static TimeSpan RetryDelay(int attemptsBefore)
    {
        var delay = FirstRetry * Math.Pow(2, Math.Min(attemptsBefore, 16));
        return delay + (delay * (Random.Shared.NextDouble() * 0.1));
    }

    /// <summary>The SMTP client's view of the message for the recipients at <paramref name="indices"/>.</summary>
    internal static SmtpMessage Message(QueueEntry entry, IReadOnlyList<int> indices, byte[] body)
    {
        var env = entry.Envelope;
        return new SmtpMessage
        {
            Sender = env.Sender,
            Recipients = [.. indices.Select(i => new SmtpRecipient(entry.Recipients[i].Address, (DsnNotify)entry.Recipients[i].Notify, entry.Recipients[i].OriginalRecipient))],
            Content = body,
            EightBit = env.EightBit,
            BodyType = (BodyType)env.BodyType,
            SmtpUtf8 = env.SmtpUtf8,
            RequireTls = entry.RequiresTls,
            Ret = (DsnReturn)env.Ret,
            EnvelopeId = env.EnvelopeId,
        };
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);

        // Attempts in flight end at their next step (cancelled); wait for them to let go of the spool.
        for (var i = 0; i < _concurrency; i++)
        {
            await _slots.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        }

        await _deliverer.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "delivery {id} {rcpt} {transport} {host} {result} {reply}")]
    private static partial void Delivered(ILogger log, string id, string rcpt, string transport, string host, string result, string reply);

    [LoggerMessage(Level = LogLevel.Error, Message = "delivery attempt not recorded, the message will be tried again {id}")]
    private static partial void AttemptNotRecorded(ILogger log, string id, Exception e);

    [LoggerMessage(Level = LogLevel.Error, Message = "delivery loop: the queue cannot be read")]
    private static partial void LoopFailed(ILogger log, Exception e);
}
