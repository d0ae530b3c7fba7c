using Prometheus;
using Tern.Observability.Metrics;
using ICounter = Tern.Observability.Metrics.ICounter;
using IGauge = Tern.Observability.Metrics.IGauge;
using IHistogram = Tern.Observability.Metrics.IHistogram;

namespace Tern.Metrics;

/// <summary>
/// <see cref="IMetrics"/> on prometheus-net, over a registry of our own (not prometheus-net's static
/// default) so that the host owns its lifetime and tests can run several hosts in one process.
/// </summary>
public sealed class PrometheusMetrics : IMetrics
{
    public PrometheusMetrics()
    {
        Registry = Prometheus.Metrics.NewCustomRegistry();
        Factory = Prometheus.Metrics.WithCustomRegistry(Registry);
    }

    public CollectorRegistry Registry { get; }

    private MetricFactory Factory { get; }

    public ICounterFamily Counter(string name, string help, params string[] labelNames) =>
        new CounterFamily(Factory.CreateCounter(name, help, labelNames));

    public IGaugeFamily Gauge(string name, string help, params string[] labelNames) =>
        new GaugeFamily(Factory.CreateGauge(name, help, labelNames));

    public IHistogramFamily Histogram(string name, string help, double[] buckets, params string[] labelNames) =>
        new HistogramFamily(Factory.CreateHistogram(name, help, new HistogramConfiguration { Buckets = buckets, LabelNames = labelNames }));

    public void OnCollect(Action refresh) => Registry.AddBeforeCollectCallback(refresh);

    /// <summary>Writes the text exposition format (what /metrics serves).</summary>
    public Task WriteAsync(Stream destination, CancellationToken cancel) => Registry.CollectAndExportAsTextAsync(destination, cancel);

    private sealed class CounterFamily(Counter counter) : ICounterFamily
    {
        public void Inc(double amount = 1) => counter.Inc(amount);

        public ICounter Labels(params string[] values) => new Child(counter.WithLabels(values));

        public void RemoveLabels(params string[] values) => counter.RemoveLabelled(values);

        private sealed class Child(Counter.Child child) : ICounter
        {
            public void Inc(double amount = 1) => child.Inc(amount);
        }
    }

    private sealed class GaugeFamily(Gauge gauge) : IGaugeFamily
    {
        public void Set(double value) => gauge.Set(value);

        public void Inc(double amount = 1) => gauge.Inc(amount);

        public void Dec(double amount = 1) => gauge.Dec(amount);

        public IGauge Labels(params string[] values) => new Child(gauge.WithLabels(values));

        public void RemoveLabels(params string[] values) => gauge.RemoveLabelled(values);

        private sealed class Child(Gauge.Child child) : IGauge
        {
            public void Set(double value) => child.Set(value);

            public void Inc(double amount = 1) => child.Inc(amount);

            public void Dec(double amount = 1) => child.Dec(amount);
        }
    }

    private sealed class HistogramFamily(Histogram histogram) : IHistogramFamily
    {
        public void Observe(double value) => histogram.Observe(value);

        public IHistogram Labels(params string[] values) => new Child(histogram.WithLabels(values));

        private sealed class Child(Histogram.Child child) : IHistogram
        {
            public void Observe(double value) => child.Observe(value);
        }
    }
}
