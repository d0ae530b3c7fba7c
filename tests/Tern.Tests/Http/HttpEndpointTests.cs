using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Tern.Http;
using Tern.Metrics;

namespace Tern.Tests.Http;

public sealed class HttpEndpointTests
{

    [Fact]
    public async Task Routes_methods_and_failing_handlers()
    {
        var metrics = new PrometheusMetrics();
        var port = TestPorts.Free();
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
    public async Task Templates_bind_segments_list_allowed_methods_bound_bodies_and_check_bearer_tokens()
    {
        var port = TestPorts.Free();
        await using var endpoint = new HttpEndpoint(new IPEndPoint(IPAddress.Loopback, port), NullLoggerFactory.Instance, new PrometheusMetrics());
        endpoint.Map("GET", "/api/v1/queue/{id}", (c, r, _) => HttpEndpoint.WriteTextAsync(c.Response, 200, $"show {r["id"]}\n"));
        endpoint.Map("POST", "/api/v1/queue/{id}/{action}", async (c, r, cancel) =>
        {
            if (!HttpEndpoint.HasBearer(c.Request, "s3cret"))
            {
                await HttpEndpoint.WriteTextAsync(c.Response, 401, "no\n");
                return;
            }

            var body = await HttpEndpoint.ReadBodyAsync(c.Request, 16, cancel);
            await HttpEndpoint.WriteTextAsync(c.Response, 200, $"{r["action"]} {r["id"]} {body.Length}\n");
        });
        endpoint.Start();

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        Assert.Equal("show a b\n", await http.GetStringAsync("/api/v1/queue/a%20b"));
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/api/v1/queue/x/hold/more")).StatusCode);

        var wrongMethod = await http.DeleteAsync("/api/v1/queue/x");
        Assert.Equal(HttpStatusCode.MethodNotAllowed, wrongMethod.StatusCode);
        Assert.Equal("GET", string.Join(",", wrongMethod.Content.Headers.Allow));

        Assert.Equal(HttpStatusCode.Unauthorized, (await http.PostAsync("/api/v1/queue/x/hold", new StringContent("{}"))).StatusCode);
        using var wrong = new HttpRequestMessage(HttpMethod.Post, "/api/v1/queue/x/hold") { Content = new StringContent("{}") };
        wrong.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "s3cre");
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(wrong)).StatusCode);

        using var ok = new HttpRequestMessage(HttpMethod.Post, "/api/v1/queue/x/hold") { Content = new StringContent("{}") };
        ok.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "s3cret");
        var okResponse = await http.SendAsync(ok);
        Assert.Equal("hold x 2\n", await okResponse.Content.ReadAsStringAsync());

        using var big = new HttpRequestMessage(HttpMethod.Post, "/api/v1/queue/x/hold") { Content = new StringContent(new string('x', 17)) };
        big.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "s3cret");
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await http.SendAsync(big)).StatusCode);
    }

    [Fact]
    public async Task A_stop_lets_requests_under_way_finish_and_turns_new_ones_away()
    {
        var port = TestPorts.Free();
        var endpoint = new HttpEndpoint(new IPEndPoint(IPAddress.Loopback, port), NullLoggerFactory.Instance, new PrometheusMetrics());
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        endpoint.Map("/slow", async (c, cancel) =>
        {
            entered.SetResult();
            await release.Task;

            // The handler's token is not cancelled while the stop waits for it.
            await HttpEndpoint.WriteTextAsync(c.Response, 200, cancel.IsCancellationRequested ? "cancelled\n" : "stored\n");
        });
        endpoint.Map("/fast", (c, _) => HttpEndpoint.WriteTextAsync(c.Response, 200, "fast\n"));
        endpoint.Start();

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        var slow = http.GetStringAsync("/slow");
        await entered.Task;
        var stopping = endpoint.DisposeAsync().AsTask();
        await Task.Delay(200);
        Assert.False(stopping.IsCompleted);

        using var other = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        var refused = await other.GetAsync("/fast");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal("5", refused.Headers.RetryAfter?.Delta?.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));

        release.SetResult();
        Assert.Equal("stored\n", await slow);
        await stopping.WaitAsync(TimeSpan.FromSeconds(10));
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
