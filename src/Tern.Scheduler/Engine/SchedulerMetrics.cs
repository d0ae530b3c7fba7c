using Tern.Observability.Metrics;

namespace Tern.Scheduler;

/// <summary>The scheduler's series: low cardinality (no per-destination labels), resolved once.</summary>
internal sealed class SchedulerMetrics(IMetrics metrics)
{
    public IGauge Scheduled { get; } = metrics.Gauge("tern_scheduler_scheduled", "Messages waiting in the timing wheel for their next attempt.");

    public IGauge Running { get; } = metrics.Gauge("tern_scheduler_deliveries_running", "Deliveries (batches) in flight over all destinations.");

    public IGauge Destinations { get; } = metrics.Gauge("tern_scheduler_destinations", "Destinations (MX host sets or smarthosts) the scheduler keeps state for.");

    public ICounter Suspensions { get; } = metrics.Counter("tern_scheduler_destination_suspensions_total", "Destinations suspended after repeated session-level failures.");

    public ICounter Parked { get; } = metrics.Counter("tern_scheduler_parked_total", "Messages turned away by a destination with a full queue (prepared again later).");

    public ICounter Expired { get; } = metrics.Counter("tern_delivery_expired_recipients_total", "Recipients failed because their retries ran out.");

    public ICounter Suppressed { get; } = metrics.Counter("tern_delivery_suppressed_recipients_total", "Recipients failed at once because they are on the suppression list.");
}
