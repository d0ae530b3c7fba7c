using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Tern.Http;
using Tern.Metrics;

namespace Tern.Tests.Http;

public sealed class HttpEndpointTests
{
    private static int FreePort()
    {
        using var probe = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    [Fact]
    public async Task Routes_methods_and_failing_handlers()
    {
        var metrics = new PrometheusMetrics();
        var port = FreePort();
        await using var endpoint = new HttpEndpoint(new IPEndPoint(IPAddress.Loopback, port), NullLoggerFactory.Instance, metrics);
        endpoint.Map("/hello", (c, _) => HttpEndpoint.WriteTextAsync(c.Response, 200, "hi\n"));
        endpoint.Map("/boom", (_, _) => throw new InvalidOperationException("handler bug"));
        endpoint.Start();

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        Assert.Equal("hi\n", await http.GetStringAsync("/hello"));
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/missing")).StatusCode);
        var post = await http.PostAsync("/hello", new StringContent("x"));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);
        Assert.Equal(HttpStatusCode.InternalServerError, (await http.GetAsync("/boom")).StatusCode);

        // The server survives a failing handler and counts it as a panic.
        Assert.Equal("hi\n", await http.GetStringAsync("/hello"));
        using var scrape = new MemoryStream();
        await metrics.WriteAsync(scrape, CancellationToken.None);
        Assert.Contains("tern_panic_total{component=\"http\"} 1", System.Text.Encoding.UTF8.GetString(scrape.ToArray()), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Busy_port_is_a_clear_error()
    {
        using var blocker = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        blocker.Start();
        var port = ((IPEndPoint)blocker.LocalEndpoint).Port;
        await using var endpoint = new HttpEndpoint(new IPEndPoint(IPAddress.Loopback, port), NullLoggerFactory.Instance, new PrometheusMetrics());
        var e = Assert.Throws<HttpEndpointException>(endpoint.Start);
        Assert.Contains($"cannot listen on 127.0.0.1:{port}", e.Message, StringComparison.Ordinal);
    }
}
