namespace Tern.Observability.Metrics;

/// <summary>Metrics that go nowhere: for tools and tests that embed a library without a scrape endpoint.</summary>
public sealed class NullMetrics : IMetrics
{
    public static readonly NullMetrics Instance = new();

    private NullMetrics()
    {
    }

    public ICounterFamily Counter(string name, string help, params string[] labelNames) => Instrument.Shared;

    public IGaugeFamily Gauge(string name, string help, params string[] labelNames) => Instrument.Shared;

    public IHistogramFamily Histogram(string name, string help, double[] buckets, params string[] labelNames) => Instrument.Shared;

    public void OnCollect(Action refresh)
    {
    }

    private sealed class Instrument : ICounterFamily, IGaugeFamily, IHistogramFamily
    {
        public static readonly Instrument Shared = new();

        public void Inc(double amount = 1)
        {
        }

        public void Dec(double amount = 1)
        {
        }

        public void Set(double value)
        {
        }

        public void Observe(double value)
        {
        }

        ICounter ICounterFamily.Labels(params string[] values) => this;

        IGauge IGaugeFamily.Labels(params string[] values) => this;

        IHistogram IHistogramFamily.Labels(params string[] values) => this;

        public void RemoveLabels(params string[] values)
        {
        }
    }
}
