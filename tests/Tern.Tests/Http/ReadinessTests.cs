using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Tern.Admin;
using Tern.Http;
using Tern.Metrics;

namespace Tern.Tests.Http;

/// <summary>/readyz: 200 only when listeners, spool, commits and disk space are all fine; 503 with the failing check's detail otherwise.</summary>
public sealed class ReadinessTests
{
    private static readonly ReadinessInputs Ready = new(2, 2, Stopping: false, SpoolOpen: true, Queued: 1, CommitsFailing: false, FreeBytes: 10L << 30, MinFreeBytes: 50L << 20, BelowReserve: false);

    [Fact]
    public void Ready_only_when_every_check_passes()
    {
        var ready = Readiness.Evaluate(Ready);
        Assert.Equal("ready", ready.Status);
        Assert.Equal("2 of 2 listening", ready.Checks.Listeners.Detail);
        Assert.Equal("recovered; 1 message queued", ready.Checks.Spool.Detail);
        Assert.Equal("succeeding", ready.Checks.Commits.Detail);

        Assert.Equal("shutting down", NotReady(Ready with { Stopping = true }).Checks.Listeners.Detail);
        Assert.Equal("1 of 2 listening", NotReady(Ready with { ListenersBound = 1 }).Checks.Listeners.Detail);
        Assert.False(NotReady(Ready with { SpoolOpen = false }).Checks.Spool.Ok);
        Assert.StartsWith("failing (disk full", NotReady(Ready with { CommitsFailing = true }).Checks.Commits.Detail, StringComparison.Ordinal);
        var full = NotReady(Ready with { FreeBytes = 1 << 20, BelowReserve = true });
        Assert.False(full.Checks.Disk.Ok);
        Assert.True(full.Checks.Commits.Ok);

        // The spool's state decides: in the hysteresis band above min_free it still refuses mail, so not ready.
        Assert.False(NotReady(Ready with { FreeBytes = (50L << 20) + 1, BelowReserve = true }).Checks.Disk.Ok);

        // Unknown free space does not make a server unready; only the spool's refusal does.
        Assert.Equal("ready", Readiness.Evaluate(Ready with { FreeBytes = null }).Status);

        static ReadinessReport NotReady(ReadinessInputs inputs)
        {
            var report = Readiness.Evaluate(inputs);
            Assert.Equal("not_ready", report.Status);
            return report;
        }
    }

    [Fact]
    public async Task Served_unauthenticated_as_json_with_200_or_503()
    {
        var port = TestPorts.Free();
        await using var endpoint = new HttpEndpoint(new IPEndPoint(IPAddress.Loopback, port), NullLoggerFactory.Instance, new PrometheusMetrics());
        var inputs = Ready;
        Readiness.Map(endpoint, () => inputs);
        endpoint.Start();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };

        var ok = await http.GetAsync("/readyz");
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal("application/json; charset=utf-8", ok.Content.Headers.ContentType?.ToString());
        var body = JsonDocument.Parse(await ok.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("ready", body.GetProperty("status").GetString());
        foreach (var check in new[] { "listeners", "spool", "commits", "disk" })
        {
            Assert.True(body.GetProperty("checks").GetProperty(check).GetProperty("ok").GetBoolean());
        }

        inputs = Ready with { CommitsFailing = true };
        var failing = await http.GetAsync("/readyz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, failing.StatusCode);
        var checks = JsonDocument.Parse(await failing.Content.ReadAsStringAsync()).RootElement.GetProperty("checks");
        Assert.False(checks.GetProperty("commits").GetProperty("ok").GetBoolean());
        Assert.True(checks.GetProperty("listeners").GetProperty("ok").GetBoolean());
        Assert.Equal(HttpStatusCode.MethodNotAllowed, (await http.PostAsync("/readyz", null)).StatusCode);
    }
}
