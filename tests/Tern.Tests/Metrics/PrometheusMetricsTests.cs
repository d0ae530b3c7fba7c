using System.Text;
using Tern.Metrics;
using Tern.Observability.Metrics;

namespace Tern.Tests.Metrics;

public sealed class PrometheusMetricsTests
{
    private static async Task<string> Scrape(PrometheusMetrics metrics)
    {
        using var stream = new MemoryStream();
        await metrics.WriteAsync(stream, CancellationToken.None);
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    [Fact]
    public async Task Panic_counter_exists_at_zero_for_every_component()
    {
        var metrics = new PrometheusMetrics();
        var process = new ProcessMetrics(metrics, "1.2.3");
        var text = await Scrape(metrics);
        foreach (var component in Tern.Observability.Logging.LogComponents.All)
        {
            Assert.Contains($"tern_panic_total{{component=\"{component}\"}} 0", text, StringComparison.Ordinal);
        }

        Assert.Contains("tern_build_info{version=\"1.2.3\"} 1", text, StringComparison.Ordinal);
        process.Panics.Labels("smtp").Inc();
        Assert.Contains("tern_panic_total{component=\"smtp\"} 1", await Scrape(metrics), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Instruments_through_the_abstraction_reach_the_exposition()
    {
        IMetrics metrics = new PrometheusMetrics();
        var commands = metrics.Counter("tern_test_commands_total", "Commands.", "verb");
        var ehlo = commands.Labels("EHLO");
        ehlo.Inc();
        ehlo.Inc(2);
        var gauge = metrics.Gauge("tern_test_queue_messages", "Queued.");
        gauge.Set(10);
        gauge.Dec(3);
        var hist = metrics.Histogram("tern_test_latency_seconds", "Latency.", Buckets.FastLatencySeconds);
        hist.Observe(0.001);
        var collected = 0;
        metrics.OnCollect(() => collected++);

        var text = await Scrape((PrometheusMetrics)metrics);
        Assert.Contains("tern_test_commands_total{verb=\"EHLO\"} 3", text, StringComparison.Ordinal);
        Assert.Contains("tern_test_queue_messages 7", text, StringComparison.Ordinal);
        Assert.Contains("tern_test_latency_seconds_count 1", text, StringComparison.Ordinal);
        Assert.Equal(1, collected);
    }

    [Fact]
    public void Null_metrics_accept_everything()
    {
        var m = NullMetrics.Instance;
        m.Counter("a", "b", "c").Labels("x").Inc();
        m.Gauge("a", "b").Labels().Set(1);
        m.Histogram("a", "b", [1]).Labels().Observe(1);
        Assert.Same(m, NullMetrics.Instance);
    }

    [Fact]
    public void Exponential_buckets()
    {
        Assert.Equal([1, 2, 4, 8], Buckets.Exponential(1, 2, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => Buckets.Exponential(0, 2, 4));
    }
}
