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
        var process = new ProcessMetrics(metrics, "1.2.3+abc1234");
        var text = await Scrape(metrics);
        foreach (var component in Tern.Observability.Logging.LogComponents.All)
        {
            Assert.Contains($"tern_panic_total{{component=\"{component}\"}} 0", text, StringComparison.Ordinal);
        }

        Assert.Contains("tern_build_info{version=\"1.2.3\",revision=\"abc1234\"} 1", text, StringComparison.Ordinal);
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
    public async Task Process_metrics_are_read_at_scrape_time()
    {
        var metrics = new PrometheusMetrics();
        _ = new ProcessMetrics(metrics, "1.2.3");
        var text = await Scrape(metrics);
        Assert.Contains("tern_build_info{version=\"1.2.3\",revision=\"unknown\"} 1", text, StringComparison.Ordinal);
        foreach (var name in (string[])["process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes", "process_open_fds", "process_max_fds", "process_start_time_seconds", "dotnet_gc_heap_bytes", "dotnet_gc_allocated_bytes_total", "dotnet_threadpool_work_items_total"])
        {
            var value = System.Text.RegularExpressions.Regex.Match(text, $"(?m)^{name} (\\S+)$");
            Assert.True(value.Success, name + " missing:\n" + text);
            Assert.True(double.Parse(value.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) > 0, name + " is 0");
        }

        Assert.Contains("dotnet_gc_collections_total{generation=\"2\"}", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_removed_child_leaves_the_exposition()
    {
        IMetrics metrics = new PrometheusMetrics();
        var gauge = metrics.Gauge("tern_test_destination_queued", "Queued.", "destination");
        var counter = metrics.Counter("tern_test_destination_total", "Sent.", "destination");
        gauge.Labels("a").Set(3);
        gauge.Labels("b").Set(4);
        counter.Labels("a").Inc();
        gauge.RemoveLabels("a");
        counter.RemoveLabels("a");
        var text = await Scrape((PrometheusMetrics)metrics);
        Assert.DoesNotContain("destination=\"a\"", text, StringComparison.Ordinal);
        Assert.Contains("tern_test_destination_queued{destination=\"b\"} 4", text, StringComparison.Ordinal);

        // Resolved again, it starts afresh.
        counter.Labels("a").Inc(2);
        Assert.Contains("tern_test_destination_total{destination=\"a\"} 2", await Scrape((PrometheusMetrics)metrics), StringComparison.Ordinal);
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
