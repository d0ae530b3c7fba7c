using System.Collections.Concurrent;
using System.Diagnostics;
using Tern.Observability.Metrics;

namespace Tern.Benchmarks.SpoolLoad;

/// <summary>
/// Metrics that keep what the spool reports (commits, records per commit, checkpoints with their
/// times), so a run can say how commits were grouped and when checkpoints happened. Allocation-free
/// on the hot path: counts and sums are interlocked longs.
/// </summary>
internal sealed class ProbeMetrics : IMetrics
{
    private readonly ConcurrentDictionary<string, Instrument> _instruments = new(StringComparer.Ordinal);

    public ICounterFamily Counter(string name, string help, params string[] labelNames) => Get(name);

    public IGaugeFamily Gauge(string name, string help, params string[] labelNames) => Get(name);

    public IHistogramFamily Histogram(string name, string help, double[] buckets, params string[] labelNames) => Get(name);

    public void OnCollect(Action refresh)
    {
    }

    public Instrument Get(string name) =>
        _instruments.GetOrAdd(name, n => new Instrument(timeline: n.Contains("checkpoints", StringComparison.Ordinal)));

    /// <summary>Counter, gauge and histogram in one: a count of calls, a sum, the last value set.</summary>
    internal sealed class Instrument(bool timeline) : ICounterFamily, IGaugeFamily, IHistogramFamily
    {
        private long _count;
        private long _sumMicros;

        public long Count => Interlocked.Read(ref _count);

        /// <summary>Sum of the amounts (counters) or observed values (histograms).</summary>
        public double Sum => Interlocked.Read(ref _sumMicros) / 1e6;

        /// <summary>Stopwatch timestamps of each increment, kept for rare events only (checkpoints).</summary>
        public ConcurrentQueue<long>? Times { get; } = timeline ? new ConcurrentQueue<long>() : null;

        public void Inc(double amount = 1)
        {
            Interlocked.Increment(ref _count);
            Interlocked.Add(ref _sumMicros, (long)(amount * 1e6));
            Times?.Enqueue(Stopwatch.GetTimestamp());
        }

        public void Dec(double amount = 1) => Inc(-amount);

        public void Set(double value) => Interlocked.Exchange(ref _sumMicros, (long)(value * 1e6));

        public void Observe(double value) => Inc(value);

        public ICounter Labels(params string[] values) => this;

        IGauge IGaugeFamily.Labels(params string[] values) => this;

        IHistogram IHistogramFamily.Labels(params string[] values) => this;

        public void RemoveLabels(params string[] values)
        {
        }
    }
}
