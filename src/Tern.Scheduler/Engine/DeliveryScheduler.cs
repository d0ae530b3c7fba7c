using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Tern.Delivery;
using Tern.Observability.Logging;
using Tern.Observability.Metrics;
using Tern.Spool;
using Tern.Spool.Queue;
using Tern.Suppression;

namespace Tern.Scheduler;

/// <summary>
/// The delivery scheduler: decides which message goes out when, to which destination, over how many
/// connections. Rebuilt from the spool's index at start and kept current by the spool's change
/// notifications, in memory:
/// <list type="number">
/// <item>a timing wheel of next-attempt times (one owner loop; O(1) per message whatever the queue size);</item>
/// <item>due messages are prepared: read, suppressed recipients failed at once, the others grouped by
/// destination (the MX host set: MX rollup), the next attempt made durable (so a crash mid-attempt
/// never retries at once);</item>
/// <item>per-destination ready queues drained by runners, at most the destination's connection
/// limit and the global concurrency, with a rate limiter, backoff on session-level failures and a
/// suspension after repeated ones;</item>
/// <item>when every batch of a message is done, the attempt is recorded (retry schedule, expiry,
/// delay notice, suppression list).</item>
/// </list>
/// No global lock on these paths: lock-free queues and Interlocked state.
/// </summary>
public sealed partial class DeliveryScheduler : ISpoolObserver, IAsyncDisposable
{
    private readonly Spool.Spool _spool;
    private readonly IBatchDeliverer _deliverer;
    private readonly SuppressionList? _suppression;
    private readonly SchedulerOptions _options;
    private readonly TimeProvider _clock;
    private readonly ILogger _log;
    private readonly SchedulerMetrics _metrics;
    private readonly ICounter _panics;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<MessageId, byte> _inFlight = new();

    /// <summary>Parked messages taken back, with their destination, until they are prepared (see Unpark).</summary>
    private readonly ConcurrentDictionary<MessageId, Destination> _unparked = new();
    private readonly ConcurrentDictionary<string, Destination> _destinations = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<Destination> _waiting = new();
    private readonly Func<double> _random;
    private int _globalRunning;
    private int _tasks;
    private readonly bool _disposeDeliverer;
    private int _disposed;

    public DeliveryScheduler(
        Spool.Spool spool, IBatchDeliverer deliverer, SchedulerOptions options, ILoggerFactory loggers, IMetrics metrics,
        SuppressionList? suppression = null, TimeProvider? clock = null, Func<double>? random = null, bool disposeDeliverer = false)
    {
        _disposeDeliverer = disposeDeliverer;
        _spool = spool;
        _deliverer = deliverer;
        _options = options;
        _suppression = suppression;
        _clock = clock ?? TimeProvider.System;
        _random = random ?? Random.Shared.NextDouble;
        _log = loggers.CreateLogger(LogComponents.Delivery);
        _metrics = new SchedulerMetrics(metrics);
        _panics = Panics.For(metrics, LogComponents.Delivery);
        var series = new DestinationSeries(metrics, options.MetricsDestinations);
        metrics.OnCollect(() => series.Refresh(_destinations.Values, _clock.GetTimestamp()));
        _due = new BatchDrain<MessageId>(options.PrepareConcurrency, options.PrepareBatch, Admit, PrepareAsync, Spawn);
        _finished = new BatchDrain<MessageAttempt>(options.RecordConcurrency, options.RecordBatch, _ => true, FinishAsync, Spawn);
        _schedule = new MessageSchedule<MessageId>(Math.Max(1, (long)options.Resolution.TotalMilliseconds), _clock.GetUtcNow().ToUnixTimeMilliseconds());
    }

    /// <summary>Messages in the timing wheel (queued, not held, not being delivered).</summary>
    public int Scheduled => Volatile.Read(ref _scheduledCount);

    /// <summary>Messages whose attempt is under way (prepared and not yet recorded).</summary>
    public int InFlight => _inFlight.Count;

    /// <summary>Destinations seen (kept while they have work or were used lately).</summary>
    public int Destinations => _destinations.Count;

    /// <summary>
    /// Messages due now and not yet handed to a destination: waiting to be prepared, or parked by a
    /// destination whose queue is full (counted at call time over the destinations, not the queue).
    /// While the queue is paused, due messages stay in the timing wheel and are not counted here.
    /// </summary>
    public int Due
    {
        get
        {
            var due = _due.Count;
            foreach (var d in _destinations.Values)
            {
                due += d.Parked.Count;
            }

            return due;
        }
    }

    /// <summary>
    /// Subscribes to the spool's changes, rebuilds the schedule from its index, and starts the loops.
    /// Call once.
    /// </summary>
    public void Start()
    {
        // Notifications first, then the scan: whatever the scan misses or reads stale, a notification
        // posted after it corrects (the owner applies them in log order after the scan's entries).
        _spool.Observe(this);
        _spool.ForEachQueued((id, held, next) =>
        {
            if (!held)
            {
                _changes.Enqueue(new Change(id, next));
            }
        });
        _ownerLoop = Task.Run(OwnerLoopAsync);
        _prepareLoop = Task.Run(() => _due.RunAsync(_stop.Token));
        _finishLoop = Task.Run(() => _finished.RunAsync(_stop.Token));
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _spool.StopObserving();
        await _stop.CancelAsync().ConfigureAwait(false);
        _ownerWake.Set();
        _due.Wake();
        _finished.Wake();
        await (_ownerLoop ?? Task.CompletedTask).ConfigureAwait(false);
        await (_prepareLoop ?? Task.CompletedTask).ConfigureAwait(false);
        await (_finishLoop ?? Task.CompletedTask).ConfigureAwait(false);

        // Attempts under way end at their next step (cancelled, not recorded: due again at the next start).
        await TasksDoneAsync().ConfigureAwait(false);

        // Attempts that finished before the stop and still wait to be recorded (the runners are gone,
        // so nothing more arrives) are recorded now: not recorded, their messages would be sent again
        // after the next start. The spool is still open (the host closes it after the scheduler).
        var finished = _finished.TakeAll();
        for (var i = 0; i < finished.Count; i += _options.RecordBatch)
        {
            try
            {
                await FinishAsync(finished.GetRange(i, Math.Min(_options.RecordBatch, finished.Count - i))).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                _panics.Inc();
                Bug(_log, e);
            }
        }

        await TasksDoneAsync().ConfigureAwait(false);

        if (_tick is not null)
        {
            await _tick.DisposeAsync().ConfigureAwait(false);
        }

        if (_disposeDeliverer && _deliverer is IAsyncDisposable owned)
        {
            await owned.DisposeAsync().ConfigureAwait(false);
        }

        _stop.Dispose();
    }

    private async Task TasksDoneAsync()
    {
        while (Volatile.Read(ref _tasks) > 0)
        {
            await Task.Delay(10, CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> as a tracked task (so that disposal waits for it) with a panic boundary, started on
    /// the calling thread (see <see cref="InlineStart"/>).
    /// </summary>
    private void Spawn(Func<Task> work)
    {
        Interlocked.Increment(ref _tasks);
        InlineStart.Run(() => TrackedAsync(work));
    }

    private async Task TrackedAsync(Func<Task> work)
    {
        try
        {
            await work().ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // Stopping.
        }
        catch (Exception e)
        {
            _panics.Inc();
            Bug(_log, e);
        }
        finally
        {
            Interlocked.Decrement(ref _tasks);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "delivery scheduler: unexpected failure (counted in tern_panic_total)")]
    private static partial void Bug(ILogger log, Exception e);
}
