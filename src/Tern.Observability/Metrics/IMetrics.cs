namespace Tern.Observability.Metrics;

/// <summary>
/// The metrics surface libraries depend on. The host implements it (with prometheus-net); libraries
/// never reference a metrics package. Names follow Prometheus conventions: prefix <c>tern_</c>, base
/// units, <c>_total</c> for counters. Create instruments once, at construction time; resolve labelled
/// children once per known label value, so that the hot path is a single <c>Inc()</c> call.
/// </summary>
public interface IMetrics
{
    ICounterFamily Counter(string name, string help, params string[] labelNames);

    IGaugeFamily Gauge(string name, string help, params string[] labelNames);

    /// <param name="buckets">Upper bounds in the metric's base unit, ascending.</param>
    IHistogramFamily Histogram(string name, string help, double[] buckets, params string[] labelNames);

    /// <summary>Registers a callback run before each scrape, to refresh gauges computed on demand.</summary>
    void OnCollect(Action refresh);
}

public interface ICounter
{
    void Inc(double amount = 1);
}

public interface IGauge
{
    void Set(double value);

    void Inc(double amount = 1);

    void Dec(double amount = 1);
}

public interface IHistogram
{
    void Observe(double value);
}

/// <summary>A counter with labels; <see cref="Labels"/> resolves (and creates at 0) one child.</summary>
public interface ICounterFamily : ICounter
{
    ICounter Labels(params string[] values);

    /// <summary>Removes one child (its series leaves the exposition): for label values that come and go, such as the top destinations.</summary>
    void RemoveLabels(params string[] values);
}

public interface IGaugeFamily : IGauge
{
    IGauge Labels(params string[] values);

    /// <summary>Removes one child (its series leaves the exposition).</summary>
    void RemoveLabels(params string[] values);
}

public interface IHistogramFamily : IHistogram
{
    IHistogram Labels(params string[] values);
}
