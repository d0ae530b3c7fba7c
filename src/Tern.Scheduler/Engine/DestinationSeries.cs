using Tern.Observability.Metrics;

namespace Tern.Scheduler;

/// <summary>
/// Per-destination series (<c>tern_destination_*{destination}</c>) for the busiest destinations only:
/// at each scrape the destinations are ranked by recipients attempted (then by batches queued), the
/// first <see cref="SchedulerOptions.MetricsDestinations"/> get series, and the series of any other
/// (dropped from the top, or forgotten by the scheduler when idle) are removed. So the number of
/// series stays bounded however many domains mail goes to. The work is done at scrape time from
/// counters the destinations keep anyway: delivery itself pays one Interlocked increment per recipient.
/// </summary>
internal sealed class DestinationSeries
{
    private static readonly string[] Results = ["delivered", "deferred", "failed"];

    private readonly int _top;
    private readonly IGaugeFamily _queued;
    private readonly IGaugeFamily _running;
    private readonly IGaugeFamily _limit;
    private readonly IGaugeFamily _suspended;
    private readonly ICounterFamily _recipients;
    private readonly Dictionary<Destination, Published> _published = [];
    private readonly Lock _lock = new();

    public DestinationSeries(IMetrics metrics, int top)
    {
        _top = top;
        _queued = metrics.Gauge("tern_destination_queued_batches", "Batches waiting in the destination's ready queue (top destinations by volume only).", "destination");
        _running = metrics.Gauge("tern_destination_deliveries_running", "Deliveries to the destination in flight (top destinations only).", "destination");
        _limit = metrics.Gauge("tern_destination_connection_limit", "The destination's connection limit in force (halved by session failures, raised by successes; top destinations only).", "destination");
        _suspended = metrics.Gauge("tern_destination_suspended", "1 while the destination is suspended after repeated session-level failures (top destinations only).", "destination");
        _recipients = metrics.Counter("tern_destination_recipients_total", "Recipients attempted through the destination, by result, since the scheduler began keeping its state (top destinations only).", "destination", "result");
    }

    /// <summary>Publishes the top destinations' values and removes the series of the others.</summary>
    public void Refresh(ICollection<Destination> destinations, long now)
    {
        lock (_lock)
        {
            var top = Top(destinations);
            foreach (var d in top)
            {
                if (!_published.TryGetValue(d, out var p))
                {
                    p = new Published(this, d);
                    _published[d] = p;
                }

                p.Update(d, now);
            }

            if (_published.Count > top.Count)
            {
                var keep = new HashSet<Destination>(top);
                var keys = new HashSet<string>(top.Select(d => d.Where.Key), StringComparer.Ordinal);
                foreach (var gone in _published.Keys.Where(d => !keep.Contains(d)).ToList())
                {
                    // A destination forgotten and seen again is a new object with the old key: its series stay.
                    if (!keys.Contains(gone.Where.Key))
                    {
                        Remove(gone.Where.Key);
                    }

                    _published.Remove(gone);
                }
            }
        }
    }

    private List<Destination> Top(ICollection<Destination> destinations)
    {
        if (_top <= 0)
        {
            return [];
        }

        var ranked = new List<(long Attempted, int Queued, Destination D)>(destinations.Count);
        foreach (var d in destinations)
        {
            ranked.Add((d.Attempted, Volatile.Read(ref d.Queued), d));
        }

        ranked.Sort(static (a, b) => a.Attempted != b.Attempted ? b.Attempted.CompareTo(a.Attempted) : b.Queued.CompareTo(a.Queued));
        var top = new List<Destination>(Math.Min(_top, ranked.Count));
        for (var i = 0; i < ranked.Count && top.Count < _top; i++)
        {
            // Two destination objects with one key (one forgotten, then seen again) never share series.
            if (!top.Exists(t => t.Where.Key == ranked[i].D.Where.Key))
            {
                top.Add(ranked[i].D);
            }
        }

        return top;
    }

    private void Remove(string key)
    {
        _queued.RemoveLabels(key);
        _running.RemoveLabels(key);
        _limit.RemoveLabels(key);
        _suspended.RemoveLabels(key);
        foreach (var r in Results)
        {
            _recipients.RemoveLabels(key, r);
        }
    }

    /// <summary>
    /// One destination's series, and the counts already published: a destination that comes back into
    /// the top publishes its whole count, so increase() over the gap still sees what went meanwhile.
    /// </summary>
    private sealed class Published
    {
        private readonly IGauge _queued;
        private readonly IGauge _running;
        private readonly IGauge _limit;
        private readonly IGauge _suspended;
        private readonly ICounter[] _recipients;
        private readonly long[] _counted;

        public Published(DestinationSeries series, Destination d)
        {
            var key = d.Where.Key;
            _queued = series._queued.Labels(key);
            _running = series._running.Labels(key);
            _limit = series._limit.Labels(key);
            _suspended = series._suspended.Labels(key);
            _recipients = [.. Results.Select(r => series._recipients.Labels(key, r))];
            _counted = new long[Results.Length];
        }

        public void Update(Destination d, long now)
        {
            _queued.Set(Math.Max(0, Volatile.Read(ref d.Queued)));
            _running.Set(d.Running);
            _limit.Set(d.Limit);
            _suspended.Set(d.SuspendedUntil > now ? 1 : 0);
            var counts = Counts(d);
            for (var i = 0; i < counts.Length; i++)
            {
                if (counts[i] > _counted[i])
                {
                    _recipients[i].Inc(counts[i] - _counted[i]);
                    _counted[i] = counts[i];
                }
            }
        }

        private static long[] Counts(Destination d) => [Volatile.Read(ref d.DeliveredCount), Volatile.Read(ref d.DeferredCount), Volatile.Read(ref d.FailedCount)];
    }
}
