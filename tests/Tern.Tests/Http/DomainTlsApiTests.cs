using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Tern.Admin;
using Tern.Control;
using Tern.Delivery;
using Tern.Http;
using Tern.Metrics;
using Tern.Observability.Logging;
using Tern.Observability.Metrics;
using Tern.Spool;

namespace Tern.Tests.Http;

/// <summary>GET /api/v1/domains: the domain TLS history behind the real HTTP endpoint on 127.0.0.1, as <c>tern queue domains --json</c> gives it.</summary>
public sealed class DomainTlsApiTests : IAsyncLifetime
{
    private const string Token = "test-token_0123456789abcdefABCDEF";
    private static readonly DateTimeOffset When = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private readonly string _dir = Directory.CreateTempSubdirectory("tern-domains-api-").FullName;
    private readonly PrometheusMetrics _metrics = new();
    private global::Tern.Spool.Spool _spool = null!;
    private DomainTlsHistory _history = null!;
    private HttpEndpoint _endpoint = null!;
    private HttpClient _http = null!;

    public Task InitializeAsync()
    {
        _spool = global::Tern.Spool.Spool.Open(
            new SpoolOptions { Directory = Path.Combine(_dir, "spool"), PageSizeBits = 20, MemorySizeBits = 23, SegmentSizeBits = 24 },
            NullLoggerFactory.Instance,
            NullMetrics.Instance);
        _history = DomainTlsHistory.Open(DomainTlsHistory.PathIn(_dir));
        var port = TestPorts.Free();
        _endpoint = new HttpEndpoint(new IPEndPoint(IPAddress.Loopback, port), NullLoggerFactory.Instance, _metrics);
        var dispatcher = new ControlDispatcher(_spool.Queue, null, NullLogger.Instance, Panics.For(_metrics, LogComponents.Http), domainTls: _history);
        AdminApi.Map(_endpoint, dispatcher, () => new AdminTokenSource(Token, "test", false, null), NullLogger.Instance);
        _endpoint.Start();
        _http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _endpoint.DisposeAsync();
        _history.Dispose();
        await _spool.DisposeAsync();
        Directory.Delete(_dir, true);
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> Get(string path)
    {
        using var response = await _http.GetAsync(path);
        Assert.Equal("application/json; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    [Fact]
    public async Task Domains_are_listed_paged_and_filtered_with_their_flags()
    {
        Assert.Equal(0, (await Get("/api/v1/domains")).Body.GetProperty("total").GetInt32());

        _history.Observed("secure.example", true, true, true, When);
        _history.Observed("plain.example", false, false, false, When.AddMinutes(1));
        _history.Observed("tls.example.net", true, false, false, When.AddMinutes(2));

        var (status, body) = await Get("/api/v1/domains");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(body.GetProperty("ok").GetBoolean());
        Assert.Equal(3, body.GetProperty("total").GetInt32());
        Assert.Equal(["plain.example", "secure.example", "tls.example.net"], body.GetProperty("domains").EnumerateArray().Select(d => d.GetProperty("domain").GetString()));
        var secure = body.GetProperty("domains")[1];
        Assert.Equal(When, secure.GetProperty("last_delivery").GetDateTimeOffset());
        Assert.Equal(
            [true, true, true, true],
            new[] { "starttls", "verified", "requiretls", "auto_requiretls" }.Select(p => secure.GetProperty(p).GetBoolean()));
        var plain = body.GetProperty("domains")[0];
        Assert.Equal(
            [false, false, false, false],
            new[] { "starttls", "verified", "requiretls", "auto_requiretls" }.Select(p => plain.GetProperty(p).GetBoolean()));

        (_, body) = await Get("/api/v1/domains?limit=1&after=plain.example");
        Assert.Equal("secure.example", Assert.Single(body.GetProperty("domains").EnumerateArray()).GetProperty("domain").GetString());
        Assert.Equal("secure.example", body.GetProperty("next").GetString());

        (_, body) = await Get("/api/v1/domains?contains=.NET");
        Assert.Equal("tls.example.net", Assert.Single(body.GetProperty("domains").EnumerateArray()).GetProperty("domain").GetString());
        Assert.False(body.TryGetProperty("next", out _));
    }

    [Theory]
    [InlineData("/api/v1/domains?limit=0", "limit: expected 1 to")]
    [InlineData("/api/v1/domains?limit=x", "limit: expected a whole number")]
    [InlineData("/api/v1/domains?domain=a", "unknown query parameter \"domain\"")]
    public async Task Bad_queries_are_400_in_the_error_shape(string path, string message)
    {
        var (status, body) = await Get(path);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("bad_request", body.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains(message, body.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
    }
}
