using System.Collections.Concurrent;
using Tern.Observability.Metrics;

namespace Tern.Tests.Support;

/// <summary>
/// An <see cref="IMetrics"/> that keeps every series in memory, for tests of the components that
/// record them (the host's prometheus-net implementation is tested on its own). A series is read by
/// its name and label values; <see cref="Collect"/> runs the scrape-time callbacks first, as a scrape does.
/// </summary>
internal sealed class RecordingMetrics : IMetrics
{
    private readonly ConcurrentDictionary<string, Series> _series = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string[]> _labels = new(StringComparer.Ordinal);
    private readonly List<Action> _collect = [];

    public ICounterFamily Counter(string name, string help, params string[] labelNames) => Family(name, labelNames);

    public IGaugeFamily Gauge(string name, string help, params string[] labelNames) => Family(name, labelNames);

    public IHistogramFamily Histogram(string name, string help, double[] buckets, params string[] labelNames) => Family(name, labelNames);

    public void OnCollect(Action refresh)
    {
        lock (_collect)
        {
            _collect.Add(refresh);
        }
    }

    /// <summary>Runs the scrape-time callbacks (what a scrape does before it reads the values).</summary>
    public void Collect()
    {
        Action[] callbacks;
        lock (_collect)
        {
            callbacks = [.. _collect];
        }

        foreach (var c in callbacks)
        {
            c();
        }
    }

    /// <summary>The value of a counter or gauge (a histogram: the sum of its observations); 0 when the series does not exist.</summary>
    public double Value(string name, params string[] labelValues) => _series.TryGetValue(Key(name, labelValues), out var s) ? s.Value : 0;

    /// <summary>How many observations a histogram series has.</summary>
    public long Count(string name, params string[] labelValues) => _series.TryGetValue(Key(name, labelValues), out var s) ? s.Count : 0;

    /// <summary>Whether the series exists (created by Labels and not removed).</summary>
    public bool Has(string name, params string[] labelValues) => _series.ContainsKey(Key(name, labelValues));

    /// <summary>The label values of every series of a family, in creation order of nothing in particular.</summary>
    public IReadOnlyList<string[]> SeriesOf(string name) =>
        [.. _series.Keys.Where(k => k == name || k.StartsWith(name + Separator, StringComparison.Ordinal)).Select(k => k == name ? [] : k[(name.Length + 1)..].Split(Separator))];

    /// <summary>Whether a family was registered (with these label names).</summary>
    public bool Registered(string name, params string[] labelNames) => _labels.TryGetValue(name, out var l) && l.SequenceEqual(labelNames);

    private Instrument Family(string name, string[] labelNames)
    {
        var known = _labels.GetOrAdd(name, labelNames);
        Assert.True(known.SequenceEqual(labelNames), $"{name} registered twice with different labels");
        if (labelNames.Length == 0)
        {
            _series.GetOrAdd(name, _ => new Series());
        }

        return new Instrument(this, name, labelNames.Length);
    }

    /// <summary>Between the name and label values in a series key (a character no label value has).</summary>
    private const char Separator = '\u001f';

    private static string Key(string name, string[] labelValues) => labelValues.Length == 0 ? name : name + Separator + string.Join(Separator, labelValues);

    private sealed class Series : ICounter, IGauge, IHistogram
    {
        private readonly Lock _lock = new();

        public double Value { get; private set; }

        public long Count { get; private set; }

        public void Inc(double amount = 1)
        {
            lock (_lock)
            {
                Value += amount;
                Count++;
            }
        }

        public void Dec(double amount = 1) => Inc(-amount);

        public void Set(double value)
        {
            lock (_lock)
            {
                Value = value;
            }
        }

        public void Observe(double value) => Inc(value);
    }

    private sealed class Instrument(RecordingMetrics owner, string name, int labels) : ICounterFamily, IGaugeFamily, IHistogramFamily
    {
        private Series Unlabelled => owner._series.GetOrAdd(name, _ => new Series());

        public void Inc(double amount = 1) => Unlabelled.Inc(amount);

        public void Dec(double amount = 1) => Unlabelled.Dec(amount);

        public void Set(double value) => Unlabelled.Set(value);

        public void Observe(double value) => Unlabelled.Observe(value);

        public ICounter Labels(params string[] values) => Child(values);

        IGauge IGaugeFamily.Labels(params string[] values) => Child(values);

        IHistogram IHistogramFamily.Labels(params string[] values) => Child(values);

        public void RemoveLabels(params string[] values) => owner._series.TryRemove(Key(name, values), out _);

        private Series Child(string[] values)
        {
            Assert.Equal(labels, values.Length);
            return owner._series.GetOrAdd(Key(name, values), _ => new Series());
        }
    }
}
