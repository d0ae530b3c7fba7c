using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Tern.Load.Http;

namespace Tern.Load.Tests;

/// <summary>
/// <c>tern-load http</c> against an in-test imitation of Tern's injection API on 127.0.0.1 (an
/// HttpListener that checks the bearer token and the JSON body, and answers 202 with a queue id,
/// or a chosen error status). The lead's end-to-end test runs it against the real server.
/// </summary>
public sealed partial class HttpCommandTests : IDisposable
{
    private const string Token = "test-token-0123456789abcdef";

    private readonly string _dir = Directory.CreateTempSubdirectory("tern-load-http-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var code = await LoadCommandLine.RunAsync(args, stdout, stderr, cancel.Token);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task Raw_messages_all_ok_and_the_ids_file_matches_what_the_server_got()
    {
        using var api = new FakeInjectionApi(Token);
        var ids = Path.Combine(_dir, "ids.txt");
        var json = Path.Combine(_dir, "run.json");
        var (code, output, error) = await RunAsync("http", "--url", api.BaseUrl, "--token", Token, "--sessions", "4", "--messages", "60",
            "--size", "3000", "--rcpt-domains", "a.test:1,b.test:1", "--ids", ids, "--json", json, "--fail-on-error");

        Assert.True(code == 0, output + error);
        Assert.Matches(@"(?m)^  ok\s+60$", output);
        Assert.Matches(@"(?m)^  failed\s+0$", output);
        Assert.Equal(60, api.Received.Count);
        Assert.InRange(api.MaxConcurrent, 1, 4);

        var lines = await File.ReadAllLinesAsync(ids);
        Assert.Equal(60, lines.Length);
        var runId = lines[0][..12];
        Assert.Matches("^[0-9a-f]{12}$", runId);
        var sent = new HashSet<string>();
        foreach (var line in lines)
        {
            var m = Regex.Match(line, @"^([0-9a-f]{12})\.(\d+)@tern-load\.test\t202 (Q\d+)$");
            Assert.True(m.Success, line);
            Assert.Equal(runId, m.Groups[1].Value);
            Assert.Equal(api.QueueIdOf(m.Groups[1].Value + "." + m.Groups[2].Value + "@tern-load.test"), m.Groups[3].Value);
            sent.Add(line[..line.IndexOf('\t', StringComparison.Ordinal)]);
        }

        Assert.Equal(Enumerable.Range(1, 60).Select(n => $"{runId}.{n}@tern-load.test").ToHashSet(), sent);
        Assert.Equal(sent, api.Received.Keys.ToHashSet());

        // The raw form: envelope, one recipient per message from the weighted domains, a message of the size asked.
        var request = api.Requests.First();
        Assert.Equal("load@tern-load.test", request.GetProperty("from").GetString());
        Assert.Matches(@"^rcpt@[ab]\.test$", request.GetProperty("to")[0].GetString()!);
        var raw = request.GetProperty("raw").GetString()!;
        Assert.InRange(raw.Length, 2990, 3010);
        Assert.Matches(@"(?m)^Message-ID: <[0-9a-f]{12}\.\d+@tern-load\.test> *\r$", raw);
        Assert.Contains(api.Requests, r => r.GetProperty("to")[0].GetString() == "rcpt@a.test");
        Assert.Contains(api.Requests, r => r.GetProperty("to")[0].GetString() == "rcpt@b.test");

        var report = JsonSerializer.Deserialize(await File.ReadAllBytesAsync(json), Report.ReportJsonContext.Default.JsonReport)!;
        Assert.Equal(60, report.Totals.Ok);
        Assert.Equal(api.BaseUrl + "/api/v1/messages", report.Run.Target);
        Assert.InRange(report.Totals.Connections, 1, 4);
    }

    [Fact]
    public async Task Structured_form_carries_the_message_id_in_its_headers()
    {
        using var api = new FakeInjectionApi(Token);
        var tokenFile = Path.Combine(_dir, "token");
        await File.WriteAllTextAsync(tokenFile, Token + "\n");
        var (code, output, error) = await RunAsync("http", "--url", api.BaseUrl + "/api/v1/messages", "--token-file", tokenFile,
            "--structured", "--messages", "10", "--sessions", "2", "--from", "alice@example.org");

        Assert.True(code == 0, output + error);
        Assert.Equal(10, api.Received.Count);
        var request = api.Requests.First();
        var message = request.GetProperty("message");
        Assert.False(request.TryGetProperty("raw", out _));
        Assert.Equal("alice@example.org", message.GetProperty("from").GetString());
        Assert.StartsWith("tern-load ", message.GetProperty("subject").GetString());
        Assert.Contains("quick brown fox", message.GetProperty("text").GetString());
        Assert.Matches(@"^<[0-9a-f]{12}\.\d+@tern-load\.test>$", message.GetProperty("headers").GetProperty("Message-ID").GetString()!);
    }

    [Fact]
    public async Task Failures_are_counted_by_HTTP_status_and_fail_on_error_exits_1()
    {
        using var api = new FakeInjectionApi(Token) { FailEvery = 4, FailStatus = 503 };
        var ids = Path.Combine(_dir, "ids.txt");
        var (code, output, error) = await RunAsync("http", "--url", api.BaseUrl, "--token", Token, "--sessions", "3", "--messages", "40",
            "--ids", ids, "--fail-on-error");

        Assert.Equal(1, code);
        Assert.Matches(@"(?m)^  ok\s+30$", output);
        Assert.Matches(@"(?m)^  failed\s+10  \(reply 10\)$", output);
        Assert.Matches(@"(?m)^  by code\s+503: 10$", output);
        Assert.Contains("first failure: HTTP 503", error);
        Assert.Contains("spool_unavailable", error);
        Assert.Equal(30, (await File.ReadAllLinesAsync(ids)).Length);
    }

    [Fact]
    public async Task A_wrong_bearer_token_gets_401_for_every_request()
    {
        using var api = new FakeInjectionApi(Token);
        var (code, output, error) = await RunAsync("http", "--url", api.BaseUrl, "--token", "not-the-token-0123456789", "--messages", "15", "--sessions", "3");

        Assert.Equal(0, code);
        Assert.Matches(@"(?m)^  ok\s+0$", output);
        Assert.Matches(@"(?m)^  by code\s+401: 15$", output);
        Assert.Empty(api.Received);
        Assert.Contains("unauthorized", error);
        Assert.Equal(15, api.Unauthorized);
    }

    [Fact]
    public async Task A_server_that_is_not_there_is_a_connect_failure()
    {
        var port = TestPorts.Free();

        var (code, output, _) = await RunAsync("http", "--url", $"http://127.0.0.1:{port}", "--token", Token, "--messages", "5", "--sessions", "1", "--fail-on-error");
        Assert.Equal(1, code);
        Assert.Matches(@"(?m)^  failed\s+5  \(connect 5\)$", output);
    }

    [Fact]
    public async Task Open_model_at_a_rate_takes_about_the_scheduled_time()
    {
        using var api = new FakeInjectionApi(Token);
        var started = DateTime.UtcNow;
        var (code, output, error) = await RunAsync("http", "--url", api.BaseUrl, "--token", Token, "--messages", "20", "--rate", "50", "--model", "open");
        var took = DateTime.UtcNow - started;

        Assert.True(code == 0, output + error);
        Assert.Equal(20, api.Received.Count);
        Assert.InRange(took.TotalSeconds, 0.35, 5);
        Assert.Contains("model", output);
    }

    [Theory]
    [InlineData("http://192.0.2.10:9464", "not a loopback address")]
    [InlineData("ftp://127.0.0.1:9464", "must be an http:// or https:// URL")]
    [InlineData("127.0.0.1:9464", "must be an http:// or https:// URL")]
    public async Task A_bad_or_remote_url_is_refused_before_any_request(string url, string message)
    {
        var (code, _, error) = await RunAsync("http", "--url", url, "--token", Token);
        Assert.Equal(2, code);
        Assert.Contains("tern-load: --url", error);
        Assert.Contains(message, error);
    }

    [Theory]
    [InlineData("--sessions", "0", "--sessions")]
    [InlineData("--duration", "soon", "--duration")]
    [InlineData("--timeout", "-1s", "--timeout")]
    [InlineData("--size", "0", "--size")]
    [InlineData("--model", "open", "--rate")]
    public async Task Bad_options_exit_2_with_a_message(string option, string value, string said)
    {
        var (code, _, error) = await RunAsync("http", "--url", "http://127.0.0.1:9", "--token", Token, option, value);
        Assert.Equal(2, code);
        Assert.Contains(said, error);
    }

    [Fact]
    public async Task A_token_is_required()
    {
        var (code, _, error) = await RunAsync("http", "--url", "http://127.0.0.1:9");
        Assert.Equal(2, code);
        Assert.Contains("--token TOKEN or --token-file FILE is required", error);
    }

    [Fact]
    public void Url_without_a_path_gets_the_injection_route()
    {
        Assert.True(HttpSettings.TryParseUrl("http://localhost:9464", false, out var url, out _));
        Assert.Equal("/api/v1/messages", url!.AbsolutePath);
        Assert.True(HttpSettings.TryParseUrl("http://[::1]:9464/custom/path", false, out url, out _));
        Assert.Equal("/custom/path", url!.AbsolutePath);
    }

    [Theory]
    [InlineData("{\"id\":\"01M94730Q2STT010CKNE5CGEJ3\",\"recipients\":[]}", "01M94730Q2STT010CKNE5CGEJ3")]
    [InlineData("{\"recipients\":[{\"id\":\"nested\"}],\"id\":\"Q7\"}", "Q7")]
    [InlineData("{\"error\":{\"status\":401}}", "-")]
    [InlineData("not json", "-")]
    [InlineData("", "-")]
    public void Queue_id_is_read_from_the_answer(string answer, string expected)
    {
        var destination = new byte[64];
        var n = HttpLoad.QueueId(Encoding.UTF8.GetBytes(answer), destination);
        Assert.Equal(expected, Encoding.ASCII.GetString(destination, 0, n));
    }

    /// <summary>
    /// The injection API as far as tern-load sees it: POST /api/v1/messages with a bearer token and
    /// a JSON body with exactly one of raw or message; 202 {"id","recipients"} once "stored", 401
    /// with WWW-Authenticate for a bad token, and every FailEvery-th request FailStatus with Tern's
    /// error body.
    /// </summary>
    private sealed partial class FakeInjectionApi : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly string _token;
        private readonly Task _loop;
        private readonly ConcurrentDictionary<string, string> _queueIds = new();
        private int _requests;
        private int _concurrent;
        private int _maxConcurrent;
        private int _unauthorized;
        private int _queued;

        public FakeInjectionApi(string token)
        {
            _token = token;
            for (var attempt = 0; ; attempt++)
            {
                var port = TestPorts.Free();
                BaseUrl = $"http://127.0.0.1:{port}";
                _listener.Prefixes.Clear();
                _listener.Prefixes.Add(BaseUrl + "/");
                try
                {
                    _listener.Start();
                    break;
                }
                catch (HttpListenerException) when (attempt < 5)
                {
                }
            }

            _loop = Task.Run(LoopAsync);
        }

        public string BaseUrl { get; }

        public int FailEvery { get; init; }

        public int FailStatus { get; init; } = 503;

        /// <summary>Stored messages by Message-ID (without the angle brackets), with their queue id.</summary>
        public ConcurrentDictionary<string, string> Received => _queueIds;

        public ConcurrentQueue<JsonElement> Requests { get; } = new();

        public int MaxConcurrent => Volatile.Read(ref _maxConcurrent);

        public int Unauthorized => Volatile.Read(ref _unauthorized);

        public string QueueIdOf(string messageId) => _queueIds[messageId];

        public void Dispose()
        {
            _listener.Stop();
            _listener.Close();
            _loop.Wait(TimeSpan.FromSeconds(5));
        }

        private async Task LoopAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }

                _ = Task.Run(() => HandleAsync(context));
            }
        }

        private async Task HandleAsync(HttpListenerContext context)
        {
            var now = Interlocked.Increment(ref _concurrent);
            int seen;
            while ((seen = Volatile.Read(ref _maxConcurrent)) < now && Interlocked.CompareExchange(ref _maxConcurrent, now, seen) != seen)
            {
            }

            try
            {
                var (status, body) = await AnswerAsync(context.Request, context.Response);
                context.Response.StatusCode = status;
                context.Response.ContentType = "application/json";
                var bytes = Encoding.UTF8.GetBytes(body);
                context.Response.ContentLength64 = bytes.Length;
                await context.Response.OutputStream.WriteAsync(bytes);
                context.Response.Close();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or IOException)
            {
            }
            finally
            {
                Interlocked.Decrement(ref _concurrent);
            }
        }

        private async Task<(int Status, string Body)> AnswerAsync(HttpListenerRequest request, HttpListenerResponse response)
        {
            using var reader = new StreamReader(request.InputStream, Encoding.UTF8);
            var text = await reader.ReadToEndAsync();
            if (request.HttpMethod != "POST" || request.Url!.AbsolutePath != "/api/v1/messages")
            {
                return (404, Error(404, "not_found", "no such route"));
            }

            if (request.Headers["Authorization"] != "Bearer " + _token)
            {
                Interlocked.Increment(ref _unauthorized);
                response.AddHeader("WWW-Authenticate", "Bearer realm=\"tern\", error=\"invalid_token\"");
                return (401, Error(401, "unauthorized", "a valid bearer token is required (tern account token NAME)"));
            }

            if (request.ContentType is not { } type || !type.StartsWith("application/json", StringComparison.Ordinal))
            {
                return (415, Error(415, "unsupported_media_type", "the body must be JSON"));
            }

            JsonElement json;
            try
            {
                json = JsonDocument.Parse(text).RootElement.Clone();
            }
            catch (JsonException e)
            {
                return (400, Error(400, "bad_json", e.Message));
            }

            string? messageId = null;
            if (json.TryGetProperty("raw", out var raw))
            {
                messageId = MessageIdHeader().Match(raw.GetString()!) is { Success: true } m ? m.Groups[1].Value : null;
            }
            else if (json.TryGetProperty("message", out var message) && message.TryGetProperty("headers", out var headers)
                && headers.TryGetProperty("Message-ID", out var header))
            {
                messageId = header.GetString()!.Trim('<', '>');
            }

            if (messageId is null)
            {
                return (400, Error(400, "invalid_request", "no Message-ID found"));
            }

            if (FailEvery > 0 && Interlocked.Increment(ref _requests) % FailEvery == 0)
            {
                return (FailStatus, Error(FailStatus, "spool_unavailable", "the spool cannot commit"));
            }

            var id = "Q" + Interlocked.Increment(ref _queued);
            Requests.Enqueue(json);
            _queueIds[messageId] = id;
            return (202, $$"""{"id":"{{id}}","recipients":[{"address":"x","status":"accepted"}]}""");
        }

        private static string Error(int status, string code, string message) =>
            JsonSerializer.Serialize(new Dictionary<string, object> { ["error"] = new Dictionary<string, object> { ["status"] = status, ["code"] = code, ["message"] = message } });

        [GeneratedRegex(@"(?m)^Message-ID: <([^>]+)>")]
        private static partial Regex MessageIdHeader();
    }
}
