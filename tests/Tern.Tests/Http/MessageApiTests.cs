using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Tern.Admin;
using Tern.Control;
using Tern.Http;
using Tern.Metrics;
using Tern.Observability.Logging;
using Tern.Observability.Metrics;
using Tern.Spool;

namespace Tern.Tests.Http;

/// <summary>
/// GET /api/v1/queue/{id}/message: a message as <c>tern queue cat</c> prints it, as <c>message/rfc822</c>,
/// on a real spool behind the real HTTP endpoint on 127.0.0.1.
/// </summary>
public sealed class MessageApiTests : IAsyncLifetime
{
    private const string Token = "test-token_0123456789abcdefABCDEF";
    private const string UnknownId = "01M8HZX7Y5V96DBCEMYNVE69H2";

    private readonly string _dir = Directory.CreateTempSubdirectory("tern-message-api-").FullName;
    private global::Tern.Spool.Spool _spool = null!;
    private HttpEndpoint _endpoint = null!;
    private HttpClient _http = null!;
    private HttpClient _anonymous = null!;

    public Task InitializeAsync()
    {
        _spool = global::Tern.Spool.Spool.Open(
            new SpoolOptions { Directory = Path.Combine(_dir, "spool"), PageSizeBits = 20, MemorySizeBits = 23, SegmentSizeBits = 24 },
            NullLoggerFactory.Instance,
            NullMetrics.Instance);
        var metrics = new PrometheusMetrics();
        var port = TestPorts.Free();
        _endpoint = new HttpEndpoint(new IPEndPoint(IPAddress.Loopback, port), NullLoggerFactory.Instance, metrics);
        var dispatcher = new ControlDispatcher(_spool.Queue, null, NullLogger.Instance, Panics.For(metrics, LogComponents.Http));
        AdminApi.Map(_endpoint, dispatcher, () => new AdminTokenSource(Token, "test", false, null), NullLogger.Instance);
        _endpoint.Start();
        _http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        _anonymous = new HttpClient { BaseAddress = _http.BaseAddress };
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        _anonymous.Dispose();
        await _endpoint.DisposeAsync();
        await _spool.DisposeAsync();
        Directory.Delete(_dir, true);
    }

    /// <summary>CRLF lines and 8-bit bytes that are not UTF-8, over several pieces of a socket write.</summary>
    private static byte[] Message(int bodyBytes)
    {
        var head = Encoding.ASCII.GetBytes("From: <alice@example.org>\r\nSubject: message api\r\n\r\n");
        var body = new byte[bodyBytes];
        for (var i = 0; i < body.Length; i++)
        {
            body[i] = (i % 64) switch { 62 => (byte)'\r', 63 => (byte)'\n', var c => (byte)(0xC0 + c) };
        }

        return [.. head, .. body];
    }

    private async Task<string> Store(byte[] message)
    {
        using var w = _spool.Begin();
        w.Envelope.SetSender("alice@example.org"u8);
        w.Envelope.AddRecipient("bob@example.net"u8, StoredNotify.Failure, default);
        w.Envelope.SetClient("127.0.0.1"u8);
        w.Envelope.SetListener("relay"u8);
        w.Write(message);
        Assert.True(await w.CommitAsync(CancellationToken.None));
        await _spool.CaughtUpAsync();
        return w.Id.ToString();
    }

    /// <summary>The JSON error of a failed request: its code and message.</summary>
    private static async Task<(string Code, string Message)> Error(HttpResponseMessage response, HttpStatusCode status)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/json; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        return (error.GetProperty("code").GetString()!, error.GetProperty("message").GetString()!);
    }

    [Fact]
    public async Task The_message_comes_back_byte_for_byte_as_message_rfc822()
    {
        var message = Message(200_000);
        var id = await Store(message);

        using var response = await _http.GetAsync($"/api/v1/queue/{id}/message");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("message/rfc822", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(message.Length, response.Content.Headers.ContentLength);
        Assert.Equal($"{id}.eml", response.Content.Headers.ContentDisposition?.FileName?.Trim('"'));
        Assert.Contains("no-store", response.Headers.CacheControl?.ToString(), StringComparison.Ordinal);
        Assert.Equal(message, await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Unknown_malformed_and_unauthenticated_requests_get_the_json_error_shape()
    {
        await Store(Message(10));

        using (var unknown = await _http.GetAsync($"/api/v1/queue/{UnknownId}/message"))
        {
            var (code, text) = await Error(unknown, HttpStatusCode.NotFound);
            Assert.Equal("not_found", code);
            Assert.Equal($"no message {UnknownId} in the queue or its history", text);
        }

        using (var malformed = await _http.GetAsync("/api/v1/queue/not-an-id/message"))
        {
            Assert.Contains("not a message id", (await Error(malformed, HttpStatusCode.BadRequest)).Message, StringComparison.Ordinal);
        }

        using (var query = await _http.GetAsync($"/api/v1/queue/{UnknownId}/message?raw=1"))
        {
            Assert.Contains("unknown query parameter", (await Error(query, HttpStatusCode.BadRequest)).Message, StringComparison.Ordinal);
        }

        // The token is required (and no message is given away without it).
        using (var anonymous = await _anonymous.GetAsync($"/api/v1/queue/{UnknownId}/message"))
        {
            Assert.Equal("unauthorized", (await Error(anonymous, HttpStatusCode.Unauthorized)).Code);
            Assert.Equal("Bearer realm=\"tern\"", anonymous.Headers.WwwAuthenticate.ToString());
        }

        using (var post = await _http.PostAsync($"/api/v1/queue/{UnknownId}/message", null))
        {
            Assert.Equal(HttpStatusCode.NotFound, post.StatusCode);
        }
    }

    [Fact]
    public async Task Without_the_token_a_stored_message_is_refused()
    {
        var id = await Store(Message(100));
        using var response = await _anonymous.GetAsync($"/api/v1/queue/{id}/message");
        Assert.Equal("unauthorized", (await Error(response, HttpStatusCode.Unauthorized)).Code);
        Assert.DoesNotContain("message api", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
