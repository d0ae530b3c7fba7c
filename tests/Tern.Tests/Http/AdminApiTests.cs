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
using Tern.Suppression;

namespace Tern.Tests.Http;

/// <summary>
/// The admin API on a real spool and suppression list in a temporary directory, behind the real
/// HTTP endpoint on 127.0.0.1, driven with HttpClient as curl would drive it.
/// </summary>
public sealed class AdminApiTests : IAsyncLifetime
{
    private const string Token = "test-token_0123456789abcdefABCDEF";

    private readonly string _dir = Directory.CreateTempSubdirectory("tern-admin-").FullName;
    private readonly PrometheusMetrics _metrics = new();
    private global::Tern.Spool.Spool _spool = null!;
    private SuppressionList _suppression = null!;
    private HttpEndpoint _endpoint = null!;
    private HttpClient _http = null!;
    private HttpClient _anonymous = null!;

    public async Task InitializeAsync()
    {
        _spool = global::Tern.Spool.Spool.Open(
            new SpoolOptions { Directory = Path.Combine(_dir, "spool"), PageSizeBits = 20, MemorySizeBits = 23, SegmentSizeBits = 24 },
            NullLoggerFactory.Instance,
            NullMetrics.Instance);
        _suppression = SuppressionList.Open(SuppressionList.PathIn(_dir));
        var port = TestPorts.Free();
        _endpoint = new HttpEndpoint(new IPEndPoint(IPAddress.Loopback, port), NullLoggerFactory.Instance, _metrics);
        var dispatcher = new ControlDispatcher(_spool.Queue, _suppression, NullLogger.Instance, Panics.For(_metrics, LogComponents.Http));
        AdminApi.Map(_endpoint, dispatcher, () => new AdminTokenSource(Token, "test", false, null), NullLogger.Instance);
        _endpoint.Start();
        _http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        _anonymous = new HttpClient { BaseAddress = _http.BaseAddress };
        await Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        _anonymous.Dispose();
        await _endpoint.DisposeAsync();
        _suppression.Dispose();
        await _spool.DisposeAsync();
        Directory.Delete(_dir, true);
    }


    private async Task<string> Store(string sender, string recipient, string? account = null)
    {
        using var w = _spool.Begin();
        w.Envelope.SetSender(Encoding.UTF8.GetBytes(sender));
        w.Envelope.AddRecipient(Encoding.UTF8.GetBytes(recipient), StoredNotify.Failure, default);
        w.Envelope.SetClient("127.0.0.1"u8);
        w.Envelope.SetListener("relay"u8);
        if (account is not null)
        {
            w.Envelope.SetAuthenticatedUser(Encoding.UTF8.GetBytes(account));
        }

        w.Write(Encoding.UTF8.GetBytes($"From: {sender}\r\nSubject: admin api\r\n\r\nbody\r\n"));
        Assert.True(await w.CommitAsync(CancellationToken.None));
        await _spool.CaughtUpAsync();

        // Ids are ordered by their millisecond.
        await Task.Delay(2);
        return w.Id.ToString();
    }

    private async Task<(string A, string B, string C)> ThreeMessages() =>
        (await Store("alice@example.org", "bob@example.net"),
         await Store("carol@example.com", "dave@example.org", account: "app"),
         await Store("", "frank@example.net"));

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private async Task<(HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response)> Send(HttpMethod method, string path, string? json = null, HttpClient? client = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = json is null ? null : Json(json) };
        var response = await (client ?? _http).SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal("application/json; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone(), response);
    }

    private Task<(HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response)> Get(string path) => Send(HttpMethod.Get, path);

    private Task<(HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response)> Post(string path, string? json = null) => Send(HttpMethod.Post, path, json);

    /// <summary>Asserts the one error shape and returns the message.</summary>
    private static string Error((HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response) r, HttpStatusCode status, string code)
    {
        Assert.True(r.Status == status, $"expected {(int)status}, got {(int)r.Status}: {r.Body}");
        var error = r.Body.GetProperty("error");
        Assert.Equal((int)status, error.GetProperty("status").GetInt32());
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.Single(r.Body.EnumerateObject());
        return error.GetProperty("message").GetString()!;
    }

    private static void Ok((HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response) r, HttpStatusCode status = HttpStatusCode.OK)
    {
        Assert.True(r.Status == status, $"expected {(int)status}, got {(int)r.Status}: {r.Body}");
        Assert.True(r.Body.GetProperty("ok").GetBoolean());
    }

    private static string[] Ids(JsonElement body) => [.. body.GetProperty("entries").EnumerateArray().Select(e => e.GetProperty("id").GetString()!)];

    private static readonly (string Method, string Path)[] Routes =
    [
        ("GET", "/api/v1/queue"), ("GET", "/api/v1/queue/history"), ("GET", "/api/v1/queue/status"),
        ("GET", "/api/v1/queue/01M8HZX7Y5V96DBCEMYNVE69H2"), ("GET", "/api/v1/queue/01M8HZX7Y5V96DBCEMYNVE69H2/message"), ("PATCH", "/api/v1/queue"), ("PATCH", "/api/v1/queue/01M8HZX7Y5V96DBCEMYNVE69H2"),
        ("POST", "/api/v1/queue/pause"), ("POST", "/api/v1/queue/resume"), ("POST", "/api/v1/queue/hold"),
        ("POST", "/api/v1/queue/01M8HZX7Y5V96DBCEMYNVE69H2/hold"), ("GET", "/api/v1/holdrules"), ("POST", "/api/v1/holdrules"),
        ("DELETE", "/api/v1/holdrules/1"), ("GET", "/api/v1/suppression"), ("POST", "/api/v1/suppression"),
        ("DELETE", "/api/v1/suppression/a@example.com"), ("GET", "/api/v1/domains"),
    ];

    [Fact]
    public async Task Every_route_refuses_a_missing_or_wrong_token_with_401_and_a_bearer_challenge()
    {
        await Post("/api/v1/queue/pause");
        using var wrong = new HttpClient { BaseAddress = _http.BaseAddress };
        wrong.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token + "x");
        foreach (var (method, path) in Routes)
        {
            var missing = await Send(new HttpMethod(method), path, method is "GET" or "DELETE" ? null : "{}", _anonymous);
            Assert.Contains("missing", Error(missing, HttpStatusCode.Unauthorized, "unauthorized"), StringComparison.Ordinal);
            Assert.Equal("Bearer realm=\"tern\"", missing.Response.Headers.WwwAuthenticate.ToString());

            var bad = await Send(new HttpMethod(method), path, method is "GET" or "DELETE" ? null : "{}", wrong);
            Error(bad, HttpStatusCode.Unauthorized, "unauthorized");
            Assert.Equal("Bearer realm=\"tern\", error=\"invalid_token\"", bad.Response.Headers.WwwAuthenticate.ToString());
        }

        // Another scheme with the right token is refused too; nothing above changed anything.
        using var basic = new HttpClient { BaseAddress = _http.BaseAddress };
        basic.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Token);
        Error(await Send(HttpMethod.Get, "/api/v1/queue", client: basic), HttpStatusCode.Unauthorized, "unauthorized");
        Assert.True((await Get("/api/v1/queue/status")).Body.GetProperty("paused").GetBoolean());
    }

    [Fact]
    public async Task List_and_history_take_the_command_line_filters_and_paging_as_query_parameters()
    {
        var (a, b, c) = await ThreeMessages();

        var all = await Get("/api/v1/queue");
        Ok(all);
        Assert.Equal([a, b, c], Ids(all.Body));
        Assert.Equal(3, all.Body.GetProperty("total").GetInt32());
        Assert.False(all.Body.TryGetProperty("next", out _));
        var entry = all.Body.GetProperty("entries")[0];
        Assert.Equal("queued", entry.GetProperty("state").GetString());
        Assert.Equal("alice@example.org", entry.GetProperty("envelope").GetProperty("sender").GetString());
        Assert.Equal("pending", entry.GetProperty("recipients")[0].GetProperty("status").GetString());

        var first = await Get("/api/v1/queue?limit=2");
        Assert.Equal([a, b], Ids(first.Body));
        Assert.Equal(b, first.Body.GetProperty("next").GetString());
        Assert.Equal([c], Ids((await Get($"/api/v1/queue?limit=2&after={b}")).Body));

        Assert.Equal([b], Ids((await Get("/api/v1/queue?sender=%40example.com")).Body));
        Assert.Equal([c], Ids((await Get("/api/v1/queue?sender=%3C%3E")).Body));
        Assert.Equal([b], Ids((await Get("/api/v1/queue?recipient_domain=.example.org")).Body));
        Assert.Equal([b], Ids((await Get("/api/v1/queue?account=app")).Body));
        Assert.Equal([a, b, c], Ids((await Get("/api/v1/queue?newer_than=1h&due_before=1m&held=false&transport=")).Body));
        Assert.Empty(Ids((await Get("/api/v1/queue?older_than=1h")).Body));
        Assert.Empty(Ids((await Get("/api/v1/queue?due_after=2099-01-01T00:00:00Z")).Body));
        Assert.Empty(Ids((await Get("/api/v1/queue?held=true")).Body));

        // Refused as the command line refuses them, and never widened into "everything".
        Assert.Contains("unknown query parameter \"recipient\"", Error(await Get("/api/v1/queue?recipient=x"), HttpStatusCode.BadRequest, "bad_request"), StringComparison.Ordinal);
        Assert.Contains("given twice", Error(await Get("/api/v1/queue?account=a&account=b"), HttpStatusCode.BadRequest, "bad_request"), StringComparison.Ordinal);
        Assert.Contains("older_than: bad duration", Error(await Get("/api/v1/queue?older_than=2x"), HttpStatusCode.BadRequest, "bad_request"), StringComparison.Ordinal);
        Assert.Contains("due_before: expected an ISO 8601 time", Error(await Get("/api/v1/queue?due_before=soon"), HttpStatusCode.BadRequest, "bad_request"), StringComparison.Ordinal);
        Assert.Contains("held: expected true or false", Error(await Get("/api/v1/queue?held=yes"), HttpStatusCode.BadRequest, "bad_request"), StringComparison.Ordinal);
        Assert.Contains("limit: expected 1 to", Error(await Get("/api/v1/queue?limit=0"), HttpStatusCode.BadRequest, "bad_request"), StringComparison.Ordinal);
        Assert.Contains("after: not a message id", Error(await Get("/api/v1/queue?after=nope"), HttpStatusCode.BadRequest, "bad_request"), StringComparison.Ordinal);
        Assert.Contains("sender: must not be empty; use <>", Error(await Get("/api/v1/queue?sender="), HttpStatusCode.BadRequest, "bad_request"), StringComparison.Ordinal);

        // History: what was dropped.
        Assert.Empty(Ids((await Get("/api/v1/queue/history")).Body));
        Ok(await Post($"/api/v1/queue/{a}/drop"));
        var history = await Get("/api/v1/queue/history?sender=alice%40example.org");
        Assert.Equal([a], Ids(history.Body));
        Assert.Equal("dropped", history.Body.GetProperty("entries")[0].GetProperty("recipients")[0].GetProperty("status").GetString());
    }

    [Fact]
    public async Task Show_gives_the_message_with_its_headers_404_for_an_unknown_id_and_400_for_a_malformed_one()
    {
        var (a, _, _) = await ThreeMessages();
        var show = await Get($"/api/v1/queue/{a}");
        Ok(show);
        Assert.Equal(a, show.Body.GetProperty("message").GetProperty("id").GetString());
        Assert.Contains("Subject: admin api", show.Body.GetProperty("headers").GetString(), StringComparison.Ordinal);

        Assert.Contains("no message 01M8HZX7Y5V96DBCEMYNVE69H2", Error(await Get("/api/v1/queue/01M8HZX7Y5V96DBCEMYNVE69H2"), HttpStatusCode.NotFound, "not_found"), StringComparison.Ordinal);
        Assert.Contains("not a message id", Error(await Get("/api/v1/queue/not-an-id"), HttpStatusCode.BadRequest, "bad_request"), StringComparison.Ordinal);
        Error(await Get($"/api/v1/queue/{a}?verbose=1"), HttpStatusCode.BadRequest, "bad_request");
    }

    [Fact]
    public async Task Actions_on_one_message_hold_release_retry_fail_drop_with_404_and_409_where_they_do_not_apply()
    {
        var (a, b, c) = await ThreeMessages();

        Assert.Equal(1, (await Post($"/api/v1/queue/{a}/hold")).Body.GetProperty("count").GetInt32());
        Assert.True((await Get($"/api/v1/queue/{a}")).Body.GetProperty("message").GetProperty("held").GetBoolean());

        // Already held: nothing to do, and that is not an error (as tern queue hold says "0 messages held").
        var again = await Post($"/api/v1/queue/{a}/hold", "{}");
        Ok(again);
        Assert.Equal(0, again.Body.GetProperty("count").GetInt32());
        Assert.Equal(1, (await Post($"/api/v1/queue/{a}/release")).Body.GetProperty("count").GetInt32());

        // retry: now, or shifted from when it was due.
        var due = _spool.Queue.List(new() { Ids = [MessageIdOf(b)] }).Entries[0].NextAttempt;
        Assert.Equal(1, (await Post($"/api/v1/queue/{b}/retry", "{\"shift\":\"2h\"}")).Body.GetProperty("count").GetInt32());
        Assert.Equal(due + TimeSpan.FromHours(2), _spool.Queue.List(new() { Ids = [MessageIdOf(b)] }).Entries[0].NextAttempt);
        Ok(await Post($"/api/v1/queue/{b}/retry"));
        Assert.True(_spool.Queue.List(new() { Ids = [MessageIdOf(b)] }).Entries[0].NextAttempt <= DateTimeOffset.UtcNow);
        Assert.Contains("shift: bad duration", Error(await Post($"/api/v1/queue/{b}/retry", "{\"shift\":\"later\"}"), HttpStatusCode.BadRequest, "bad_request"), StringComparison.Ordinal);

        // fail: the reason reaches the recipient's last reply; the message is retired.
        Assert.Equal(1, (await Post($"/api/v1/queue/{b}/fail", "{\"reason\":\"mailbox retired\"}")).Body.GetProperty("count").GetInt32());
        var failed = (await Get($"/api/v1/queue/{b}")).Body.GetProperty("message");
        Assert.Equal("retired", failed.GetProperty("state").GetString());
        Assert.Contains("mailbox retired", failed.GetProperty("recipients")[0].GetProperty("last_reply").GetString(), StringComparison.Ordinal);

        // Nothing applies to a retired message: 409; to an unknown one: 404.
        foreach (var action in new[] { "hold", "release", "retry", "fail", "drop" })
        {
            Assert.Contains("is retired", Error(await Post($"/api/v1/queue/{b}/{action}"), HttpStatusCode.Conflict, "conflict"), StringComparison.Ordinal);
            Error(await Post($"/api/v1/queue/01M8HZX7Y5V96DBCEMYNVE69H2/{action}"), HttpStatusCode.NotFound, "not_found");
        }

        Assert.Contains("unknown action freeze", Error(await Post($"/api/v1/queue/{a}/freeze"), HttpStatusCode.NotFound, "not_found"), StringComparison.Ordinal);
        Assert.Contains("not a message id", Error(await Post("/api/v1/queue/nope/hold"), HttpStatusCode.BadRequest, "bad_request"), StringComparison.Ordinal);
        Assert.Contains("only fail takes a reason", Error(await Post($"/api/v1/queue/{a}/hold", "{\"reason\":\"x\"}"), HttpStatusCode.BadRequest, "bad_request"), StringComparison.Ordinal);
        Assert.Contains("only retry takes a shift", Error(await Post($"/api/v1/queue/{a}/fail", "{\"shift\":\"1h\"}"), HttpStatusCode.BadRequest, "bad_request"), StringComparison.Ordinal);
        Assert.Contains("select: not allowed here", Error(await Post($"/api/v1/queue/{a}/hold", "{\"select\":{\"all\":true}}"), HttpStatusCode.BadRequest, "bad_request"), StringComparison.Ordinal);

        Assert.Equal(1, (await Post($"/api/v1/queue/{c}/drop")).Body.GetProperty("count").GetInt32());

        // Left: a, and the failure notice to b's sender (from the null sender) that fail queued.
        var left = (await Get("/api/v1/queue")).Body.GetProperty("entries");
        Assert.Equal([a, "<>"], left.EnumerateArray().Select(e => e.GetProperty("id").GetString() == a ? a : "<" + e.GetProperty("envelope").GetProperty("sender").GetString() + ">"));
    }

    [Fact]
    public async Task Bulk_actions_select_with_the_command_line_filters_and_refuse_an_empty_selection()
    {
        var (a, b, c) = await ThreeMessages();

        var held = await Post("/api/v1/queue/hold", "{\"select\":{\"recipient_domain\":\"example.net\"}}");
        Ok(held);
        Assert.Equal(2, held.Body.GetProperty("count").GetInt32());
        Assert.Equal([a, c], Ids((await Get("/api/v1/queue?held=true")).Body));

        Assert.Equal(1, (await Post("/api/v1/queue/release", $"{{\"select\":{{\"ids\":[\"{a}\"]}}}}")).Body.GetProperty("count").GetInt32());
        Assert.Equal(3, (await Post("/api/v1/queue/retry", "{\"select\":{\"all\":true},\"shift\":\"-30m\"}")).Body.GetProperty("count").GetInt32());
        Assert.Equal(1, (await Post("/api/v1/queue/drop", "{\"select\":{\"sender\":\"<>\",\"newer_than\":\"1h\"}}")).Body.GetProperty("count").GetInt32());
        Assert.Equal([a, b], Ids((await Get("/api/v1/queue")).Body));

        // Never every message by accident.
        Assert.Contains("select: missing", Error(await Post("/api/v1/queue/hold", "{}"), HttpStatusCode.BadRequest, "bad_request"), StringComparison.Ordinal);
        Assert.Contains("no ids and no filter", Error(await Post("/api/v1/queue/hold", "{\"select\":{}}"), HttpStatusCode.BadRequest, "bad_request"), StringComparison.Ordinal);
        Error(await Post("/api/v1/queue/hold"), HttpStatusCode.BadRequest, "bad_request");
        Assert.Equal("unknown member \"select.recipient\"", Error(await Post("/api/v1/queue/hold", "{\"select\":{\"recipient\":\"example.net\"}}"), HttpStatusCode.BadRequest, "unknown_member"));
        Assert.Contains("not a message id", Error(await Post("/api/v1/queue/hold", "{\"select\":{\"ids\":[\"x\"]}}"), HttpStatusCode.BadRequest, "bad_request"), StringComparison.Ordinal);
        Error(await Post("/api/v1/queue/bounce", "{\"select\":{\"all\":true}}"), HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task Patch_sets_transport_requiretls_and_max_retries_on_one_message_or_a_selection()
    {
        var (a, b, _) = await ThreeMessages();

        var patched = await Send(HttpMethod.Patch, $"/api/v1/queue/{a}", "{\"transport\":\"smarthost\",\"requiretls\":\"yes\",\"max_retries\":7}");
        Ok(patched);
        var changed = patched.Body.GetProperty("changed");
        Assert.Equal(1, changed.GetProperty("transport").GetInt32());
        Assert.Equal(1, changed.GetProperty("requiretls").GetInt32());
        Assert.Equal(1, changed.GetProperty("max_retries").GetInt32());
        var message = patched.Body.GetProperty("message");
        Assert.Equal("smarthost", message.GetProperty("transport").GetString());
        Assert.Equal("yes", message.GetProperty("require_tls_policy").GetString());
        Assert.True(message.GetProperty("requires_tls").GetBoolean());
        Assert.Equal(7, message.GetProperty("max_retries").GetInt32());

        // The same again changes nothing; "" clears the transport, 0 the retry limit.
        var same = await Send(HttpMethod.Patch, $"/api/v1/queue/{a}", "{\"transport\":\"smarthost\"}");
        Assert.Equal(0, same.Body.GetProperty("changed").GetProperty("transport").GetInt32());
        Assert.False(same.Body.GetProperty("changed").TryGetProperty("requiretls", out _));
        var cleared = await Send(HttpMethod.Patch, $"/api/v1/queue/{a}", "{\"transport\":\"\",\"max_retries\":0,\"requiretls\":\"default\"}");
        Assert.Equal("", cleared.Body.GetProperty("message").GetProperty("transport").GetString());
        Assert.False(cleared.Body.GetProperty("message").TryGetProperty("max_retries", out _));

        // A bad value changes nothing, not even the valid fields before it.
        Assert.Contains("requiretls: expected yes, no or default", Error(await Send(HttpMethod.Patch, $"/api/v1/queue/{a}", "{\"transport\":\"other\",\"requiretls\":\"maybe\"}"), HttpStatusCode.BadRequest, "bad_request"), StringComparison.Ordinal);
        Assert.Contains("max_retries: expected 0 to 100", Error(await Send(HttpMethod.Patch, $"/api/v1/queue/{a}", "{\"transport\":\"other\",\"max_retries\":101}"), HttpStatusCode.BadRequest, "bad_request"), StringComparison.Ordinal);
        Assert.Contains("is not valid", Error(await Send(HttpMethod.Patch, $"/api/v1/queue/{a}", "{\"transport\":\"two words\"}"), HttpStatusCode.BadRequest, "bad_request"), StringComparison.Ordinal);
        Assert.Equal("", (await Get($"/api/v1/queue/{a}")).Body.GetProperty("message").GetProperty("transport").GetString());
        Assert.Contains("nothing to change", Error(await Send(HttpMethod.Patch, $"/api/v1/queue/{a}", "{}"), HttpStatusCode.BadRequest, "bad_request"), StringComparison.Ordinal);
        Error(await Send(HttpMethod.Patch, "/api/v1/queue/01M8HZX7Y5V96DBCEMYNVE69H2", "{\"transport\":\"x\"}"), HttpStatusCode.NotFound, "not_found");
        Assert.Equal("unknown member \"colour\"", Error(await Send(HttpMethod.Patch, $"/api/v1/queue/{a}", "{\"colour\":\"blue\"}"), HttpStatusCode.BadRequest, "unknown_member"));

        // Bulk: a selection and the settings.
        var bulk = await Send(HttpMethod.Patch, "/api/v1/queue", "{\"select\":{\"account\":\"app\"},\"transport\":\"smarthost\"}");
        Ok(bulk);
        Assert.Equal(1, bulk.Body.GetProperty("changed").GetProperty("transport").GetInt32());
        Assert.False(bulk.Body.TryGetProperty("message", out _));
        Assert.Equal([b], Ids((await Get("/api/v1/queue?transport=smarthost")).Body));
        Assert.Contains("select: missing", Error(await Send(HttpMethod.Patch, "/api/v1/queue", "{\"transport\":\"x\"}"), HttpStatusCode.BadRequest, "bad_request"), StringComparison.Ordinal);

        // A retired message cannot be changed.
        await Post($"/api/v1/queue/{b}/drop");
        Assert.Contains("is retired", Error(await Send(HttpMethod.Patch, $"/api/v1/queue/{b}", "{\"requiretls\":\"no\"}"), HttpStatusCode.Conflict, "conflict"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Hold_rules_pause_resume_and_status()
    {
        var (a, _, _) = await ThreeMessages();

        var added = await Post("/api/v1/holdrules", "{\"sender_domain\":\"example.org\"}");
        Ok(added, HttpStatusCode.Created);
        var id = added.Body.GetProperty("hold_rule").GetProperty("id").GetInt64();
        Assert.Equal($"/api/v1/holdrules/{id}", added.Response.Headers.Location?.OriginalString);
        Assert.Equal(1, added.Body.GetProperty("count").GetInt32());
        Assert.Equal([a], Ids((await Get("/api/v1/queue?held=true")).Body));

        var rules = await Get("/api/v1/holdrules");
        var rule = Assert.Single(rules.Body.GetProperty("hold_rules").EnumerateArray());
        Assert.Equal("example.org", rule.GetProperty("sender_domain").GetString());

        Assert.Contains("or \"all\": true", Error(await Post("/api/v1/holdrules", "{}"), HttpStatusCode.BadRequest, "bad_request"), StringComparison.Ordinal);
        var everything = await Post("/api/v1/holdrules", "{\"all\":true}");
        Ok(everything, HttpStatusCode.Created);

        Ok(await Send(HttpMethod.Delete, $"/api/v1/holdrules/{id}"));
        Assert.Contains($"no hold rule {id}", Error(await Send(HttpMethod.Delete, $"/api/v1/holdrules/{id}"), HttpStatusCode.NotFound, "not_found"), StringComparison.Ordinal);
        Error(await Send(HttpMethod.Delete, "/api/v1/holdrules/first"), HttpStatusCode.BadRequest, "bad_request");

        var paused = await Post("/api/v1/queue/pause");
        Ok(paused);
        Assert.True(paused.Body.GetProperty("paused").GetBoolean());
        var status = await Get("/api/v1/queue/status");
        Assert.True(status.Body.GetProperty("paused").GetBoolean());
        var counts = status.Body.GetProperty("counts");
        Assert.Equal(3, counts.GetProperty("queued").GetInt32());
        Assert.Equal(3, counts.GetProperty("held").GetInt32());
        Assert.Equal(0, counts.GetProperty("retired").GetInt32());
        Assert.False((await Post("/api/v1/queue/resume", "{}")).Body.GetProperty("paused").GetBoolean());
        Error(await Post("/api/v1/queue/resume", "{\"now\":true}"), HttpStatusCode.BadRequest, "unknown_member");
    }

    [Fact]
    public async Task Suppression_list_add_list_remove()
    {
        var added = await Post("/api/v1/suppression", "{\"address\":\"Gone@Example.com\",\"reason\":\"left the company\"}");
        Ok(added, HttpStatusCode.Created);
        Assert.Equal("operator", added.Body.GetProperty("suppression").GetProperty("source").GetString());
        Assert.StartsWith("/api/v1/suppression/", added.Response.Headers.Location?.OriginalString, StringComparison.Ordinal);
        Ok(await Post("/api/v1/suppression", "{\"address\":\"a+b@example.org\"}"), HttpStatusCode.Created);

        Assert.Contains("already suppressed", Error(await Post("/api/v1/suppression", "{\"address\":\"gone@example.com\"}"), HttpStatusCode.Conflict, "conflict"), StringComparison.Ordinal);
        Error(await Post("/api/v1/suppression", "{\"address\":\"not an address\"}"), HttpStatusCode.BadRequest, "bad_request");
        Error(await Post("/api/v1/suppression", "{}"), HttpStatusCode.BadRequest, "bad_request");

        var list = await Get("/api/v1/suppression?contains=example.com");
        Assert.Equal(1, list.Body.GetProperty("total").GetInt32());
        Assert.Equal("left the company", list.Body.GetProperty("suppressions")[0].GetProperty("reason").GetString());
        var page = await Get("/api/v1/suppression?limit=1");
        Assert.Equal(2, page.Body.GetProperty("total").GetInt32());
        Assert.True(page.Body.TryGetProperty("next", out _));
        Error(await Get("/api/v1/suppression?limit=x"), HttpStatusCode.BadRequest, "bad_request");

        var removed = await Send(HttpMethod.Delete, "/api/v1/suppression/a%2Bb%40example.org");
        Ok(removed);
        Assert.Equal("a+b@example.org", removed.Body.GetProperty("suppression").GetProperty("address").GetString());
        Assert.Contains("not on the suppression list", Error(await Send(HttpMethod.Delete, "/api/v1/suppression/a%2Bb%40example.org"), HttpStatusCode.NotFound, "not_found"), StringComparison.Ordinal);
        Assert.False(_suppression.TryGet("a+b@example.org", out _));
        Assert.True(_suppression.TryGet("gone@example.com", out _));
    }

    [Fact]
    public async Task Bad_bodies_unknown_routes_and_wrong_methods_get_the_json_error_shape()
    {
        var (a, _, _) = await ThreeMessages();

        Assert.StartsWith("invalid JSON at line 1", Error(await Post("/api/v1/holdrules", "{\"account\":"), HttpStatusCode.BadRequest, "invalid_json"), StringComparison.Ordinal);
        Error(await Post("/api/v1/holdrules", "[1]"), HttpStatusCode.BadRequest, "invalid_json");
        Error(await Post("/api/v1/holdrules", "null"), HttpStatusCode.BadRequest, "bad_request");
        Assert.Contains("account: a value of the wrong type", Error(await Post("/api/v1/holdrules", "{\"account\":5}"), HttpStatusCode.BadRequest, "invalid_json"), StringComparison.Ordinal);
        Error(await Post("/api/v1/holdrules", "{\"account\":\"a\",\"account\":\"b\"}"), HttpStatusCode.BadRequest, "invalid_json");
        Assert.Equal("unknown member \"sender\"", Error(await Post("/api/v1/holdrules", "{\"sender\":\"example.org\"}"), HttpStatusCode.BadRequest, "unknown_member"));

        // Over 64 KiB: 413, and nothing was added.
        var big = $"{{\"select\":{{\"ids\":[{string.Join(',', Enumerable.Repeat($"\"{a}\"", 3000))}]}}}}";
        Assert.Contains("larger than 65536 bytes", Error(await Post("/api/v1/queue/hold", big), HttpStatusCode.RequestEntityTooLarge, "payload_too_large"), StringComparison.Ordinal);
        Assert.Empty(Ids((await Get("/api/v1/queue?held=true")).Body));

        // A body that is not JSON: 415.
        using (var form = new HttpRequestMessage(HttpMethod.Post, "/api/v1/holdrules") { Content = new StringContent("account=app", Encoding.UTF8, "application/x-www-form-urlencoded") })
        {
            var response = await _http.SendAsync(form);
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
            Assert.Contains("\"code\":\"unsupported_media_type\"", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Ok(await Send(HttpMethod.Post, "/api/v1/holdrules", "{\"account\":\"app\"}"), HttpStatusCode.Created);

        Assert.Equal("not found", Error(await Get("/api/v1/queues"), HttpStatusCode.NotFound, "not_found"));
        Error(await Get("/api/v1/queue/a/b/c"), HttpStatusCode.NotFound, "not_found");
        var wrongMethod = await Send(HttpMethod.Put, "/api/v1/holdrules", "{}");
        Error(wrongMethod, HttpStatusCode.MethodNotAllowed, "method_not_allowed");
        Assert.Equal(["GET", "POST"], wrongMethod.Response.Content.Headers.Allow.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_bug_in_an_operation_is_a_500_in_the_error_shape_and_counts_as_an_http_panic()
    {
        // A suppression list used after it was closed: the kind of bug the dispatcher must contain.
        _suppression.Dispose();
        var r = await Post("/api/v1/suppression", "{\"address\":\"x@example.com\"}");
        Assert.Contains("internal error in suppression-add", Error(r, HttpStatusCode.InternalServerError, "internal_error"), StringComparison.Ordinal);
        using var scrape = new MemoryStream();
        await _metrics.WriteAsync(scrape, CancellationToken.None);
        Assert.Contains("tern_panic_total{component=\"http\"} 1", Encoding.UTF8.GetString(scrape.ToArray()), StringComparison.Ordinal);

        // The API keeps serving.
        Ok(await Get("/api/v1/queue"));
    }

    [Fact]
    public async Task Without_a_token_the_api_answers_503_until_the_token_can_be_read()
    {
        var port = TestPorts.Free();
        await using var endpoint = new HttpEndpoint(new IPEndPoint(IPAddress.Loopback, port), NullLoggerFactory.Instance, new PrometheusMetrics());
        var file = Path.Combine(_dir, "token");
        var dispatcher = new ControlDispatcher(_spool.Queue, null, NullLogger.Instance, Panics.For(NullMetrics.Instance, LogComponents.Http));
        AdminApi.Map(endpoint, dispatcher, () => new AdminTokenSource(AdminToken.ReadFile(file), file, false, null), NullLogger.Instance);
        endpoint.Start();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);

        Assert.Contains("the admin API has no token", Error(await Send(HttpMethod.Get, "/api/v1/queue", client: http), HttpStatusCode.ServiceUnavailable, "unavailable"), StringComparison.Ordinal);
        await File.WriteAllTextAsync(file, Token + "\n");
        Ok(await Send(HttpMethod.Get, "/api/v1/queue", client: http));

        // This dispatcher has no suppression list: refused as unavailable, not as a bug.
        Assert.Contains("no suppression list", Error(await Send(HttpMethod.Get, "/api/v1/suppression", client: http), HttpStatusCode.ServiceUnavailable, "unavailable"), StringComparison.Ordinal);
    }

    private static MessageId MessageIdOf(string id) => ControlMapping.TryParseId(id, out var m) ? m : throw new ArgumentException(id);
}
