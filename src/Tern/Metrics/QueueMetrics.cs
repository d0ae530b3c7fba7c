using Tern.Observability.Metrics;
using Tern.Scheduler;
using Tern.Suppression;

namespace Tern.Metrics;

/// <summary>
/// The queue's state as gauges, computed at each scrape from counts the components keep anyway (the
/// spool's queued and held counts and oldest arrival, the scheduler's in-flight and due counts, the
/// suppression list's size): a scrape never scans the queue.
/// </summary>
public sealed class QueueMetrics
{
    private readonly Spool.Spool _spool;
    private readonly DeliveryScheduler? _scheduler;
    private readonly SuppressionList _suppression;
    private readonly TimeProvider _clock;
    private readonly IGauge _held;
    private readonly IGauge _waiting;
    private readonly IGauge _delivering;
    private readonly IGauge _oldest;
    private readonly IGauge? _due;
    private readonly IGauge _suppressed;

    /// <param name="scheduler">The delivery scheduler; null when delivery is off (then nothing is delivering and no due count is published).</param>
    public QueueMetrics(IMetrics metrics, Spool.Spool spool, DeliveryScheduler? scheduler, SuppressionList suppression, TimeProvider? clock = null)
    {
        _spool = spool;
        _scheduler = scheduler;
        _suppression = suppression;
        _clock = clock ?? TimeProvider.System;
        var messages = metrics.Gauge(
            "tern_queue_messages",
            "Queued messages by state: held (by the operator or a hold rule), delivering (an attempt under way), waiting (for their next attempt, or due); they add up to tern_spool_messages.",
            "state");
        _held = messages.Labels("held");
        _waiting = messages.Labels("waiting");
        _delivering = messages.Labels("delivering");
        _oldest = metrics.Gauge(
            "tern_queue_oldest_message_age_seconds",
            "Age of the oldest queued message (0 when the queue is empty); refreshed by the spool's periodic survey when the oldest one leaves.");
        if (scheduler is not null)
        {
            _due = metrics.Gauge("tern_queue_due_messages", "Messages due now that wait to be prepared or for a destination with a full queue.");
        }

        _suppressed = metrics.Gauge("tern_suppression_entries", "Addresses on the suppression list.");
        metrics.OnCollect(Refresh);
    }

    private void Refresh()
    {
        var queued = _spool.Count;
        var held = Math.Min(_spool.Held, queued);
        var delivering = Math.Min(_scheduler?.InFlight ?? 0, queued - held);
        _held.Set(held);
        _delivering.Set(delivering);
        _waiting.Set(queued - held - delivering);
        _oldest.Set(_spool.OldestQueued is { } oldest ? Math.Max(0, (_clock.GetUtcNow() - oldest).TotalSeconds) : 0);
        _due?.Set(_scheduler!.Due);
        _suppressed.Set(_suppression.Count);
    }
}
