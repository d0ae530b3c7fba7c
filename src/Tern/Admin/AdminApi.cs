using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Logging;
using Tern.Cli;
using Tern.Config;
using Tern.Control;
using Tern.Http;
using Tern.Observability.Logging;
using Tern.Observability.Metrics;
using Tern.Spool.Queue;
using Tern.Suppression;

namespace Tern.Admin;

/// <summary>A request the API refuses before it reaches the dispatcher (query, body, media type); answered as a JSON error.</summary>
internal sealed class AdminApiException(int status, string code, string message) : Exception(message)
{
    public int Status { get; } = status;

    public string Code { get; } = code;
}

/// <summary>
/// The HTTP admin API under <c>/api/v1/</c>: the queue, hold rules, pause, the suppression list and
/// the domain TLS history.
/// Each route only translates HTTP to a <see cref="ControlRequest"/> and runs it through the
/// <see cref="ControlDispatcher"/> that also serves <c>tern queue</c> on the control socket, so the
/// filters, paging, checks and logging are the command line's. Every route needs
/// <c>Authorization: Bearer TOKEN</c> (<see cref="AdminToken"/>); answers are JSON (but for a
/// message itself, <c>message/rfc822</c>), errors one shape (<see cref="ApiErrorBody"/>).
/// </summary>
internal static partial class AdminApi
{
    public const string Prefix = "/api/v1/";

    /// <summary>Request bodies are small JSON objects; about 2,000 message ids fit (select more with a filter).</summary>
    public const int MaxBodyBytes = 64 * 1024;

    private static readonly string[] Actions = [ControlOps.Hold, ControlOps.Release, ControlOps.Retry, ControlOps.Fail, ControlOps.Drop];

    private static readonly string[] FilterParameters = ["sender", "recipient_domain", "account", "held", "older_than", "newer_than", "due_before", "due_after", "transport", "limit", "after"];

    /// <summary>The host's composition: the API on the queue and suppression list, with the configured (or generated) token.</summary>
    public static void Map(HttpEndpoint http, TernConfig config, IQueueOperations queue, SuppressionList? suppression, ILoggerFactory loggers, IMetrics metrics, Delivery.DomainTlsHistory? domainTls = null)
    {
        var log = loggers.CreateLogger(LogComponents.Http);
        var dispatcher = new ControlDispatcher(queue, suppression, log, Panics.For(metrics, LogComponents.Http), domainTls: domainTls);
        Map(http, dispatcher, () => AdminToken.Resolve(config.Http, config.DataDirectory), log);
    }

    /// <summary>
    /// Maps the routes. The token is resolved now (and its source logged, never the token); when
    /// that fails the error is logged and the API answers 503 until a later request resolves it.
    /// </summary>
    internal static void Map(HttpEndpoint http, ControlDispatcher dispatcher, Func<AdminTokenSource> token, ILogger log, TimeProvider? clock = null)
    {
        var api = new Api(dispatcher, new TokenHolder(token, log), clock ?? TimeProvider.System);
        http.MapErrors(Prefix, (response, status, message) => WriteErrorAsync(response, status, status switch
        {
            404 => ControlErrorCodes.NotFound,
            405 => ApiErrorCodes.MethodNotAllowed,
            413 => ApiErrorCodes.PayloadTooLarge,
            503 => ControlErrorCodes.Unavailable,
            _ => ControlErrorCodes.Internal,
        }, message));

        // Literal segments before the templates that would also match them (history, status, pause).
        Route(http, api, "GET", "/api/v1/queue", api.ListAsync);
        Route(http, api, "GET", "/api/v1/queue/history", api.ListAsync);
        Route(http, api, "GET", "/api/v1/queue/status", c => api.RunAsync(new ControlRequest { Op = ControlOps.Status }, c));
        Route(http, api, "GET", "/api/v1/queue/{id}", api.ShowAsync);
        Route(http, api, "GET", "/api/v1/queue/{id}/message", api.MessageAsync);
        Route(http, api, "PATCH", "/api/v1/queue", api.PatchManyAsync);
        Route(http, api, "PATCH", "/api/v1/queue/{id}", api.PatchOneAsync);
        Route(http, api, "POST", "/api/v1/queue/pause", c => api.PauseAsync(c, ControlOps.Pause));
        Route(http, api, "POST", "/api/v1/queue/resume", c => api.PauseAsync(c, ControlOps.Resume));
        Route(http, api, "POST", "/api/v1/queue/{action}", api.ActOnManyAsync);
        Route(http, api, "POST", "/api/v1/queue/{id}/{action}", api.ActOnOneAsync);
        Route(http, api, "GET", "/api/v1/holdrules", c => api.RunAsync(new ControlRequest { Op = ControlOps.HoldRuleList }, c));
        Route(http, api, "POST", "/api/v1/holdrules", api.AddHoldRuleAsync);
        Route(http, api, "DELETE", "/api/v1/holdrules/{id}", api.RemoveHoldRuleAsync);
        Route(http, api, "GET", "/api/v1/suppression", api.ListSuppressionsAsync);
        Route(http, api, "POST", "/api/v1/suppression", api.AddSuppressionAsync);
        Route(http, api, "DELETE", "/api/v1/suppression/{address}", api.RemoveSuppressionAsync);
        Route(http, api, "GET", "/api/v1/domains", api.ListDomainsAsync);
    }

    /// <summary>One route: authentication first, then the handler; a refusal before the dispatcher becomes a JSON error.</summary>
    private static void Route(HttpEndpoint http, Api api, string method, string template, Func<Call, Task<Reply>> handler) =>
        http.Map(method, template, async (context, route, cancel) =>
        {
            var call = new Call(context, route, cancel);
            Reply reply;
            try
            {
                reply = api.Authorize(context.Request) ?? await handler(call);
            }
            catch (AdminApiException e)
            {
                reply = Reply.Error(e.Status, e.Code, e.Message);
            }

            var response = context.Response;
            response.AddHeader("Cache-Control", "no-store");
            foreach (var (name, value) in reply.Headers)
            {
                response.AddHeader(name, value);
            }

            if (reply.Content is { } content)
            {
                response.StatusCode = reply.Status;
                response.ContentType = MessageMediaType;
                response.ContentLength64 = content.Length;
                await response.OutputStream.WriteAsync(content, cancel);
                return;
            }

            await HttpEndpoint.WriteJsonAsync(response, reply.Status, reply.Json);
        });

    private static Task WriteErrorAsync(HttpListenerResponse response, int status, string code, string message)
    {
        response.AddHeader("Cache-Control", "no-store");
        return HttpEndpoint.WriteJsonAsync(response, status, Reply.Error(status, code, message).Json);
    }

    /// <summary>One request: its context, the values of the route's segments, and the server's stop token.</summary>
    private sealed record Call(HttpListenerContext Context, RouteValues Route, CancellationToken Cancel)
    {
        public HttpListenerRequest Request => Context.Request;

        public bool IsHistory => Request.Url?.AbsolutePath.EndsWith("/history", StringComparison.Ordinal) == true;
    }

    /// <summary>GET /api/v1/queue/{id}/message: a whole message (RFC 2046 section 5.2.1), 8-bit as it came.</summary>
    private const string MessageMediaType = "message/rfc822";

    /// <summary>A status, its JSON and extra headers; or, with <see cref="Content"/>, a message instead of JSON.</summary>
    private sealed record Reply(int Status, byte[] Json, IReadOnlyList<(string Name, string Value)> Headers)
    {
        /// <summary>A message answered as <see cref="MessageMediaType"/> (then <see cref="Json"/> is empty).</summary>
        public byte[]? Content { get; init; }

        public static Reply Of(int status, byte[] json, params (string, string)[] headers) => new(status, json, headers);

        public static Reply Message(byte[] content, params (string, string)[] headers) => new(200, [], headers) { Content = content };

        public static Reply Error(int status, string code, string message, params (string, string)[] headers) =>
            Of(status, Encode(new ApiErrorBody { Error = new ApiError { Status = status, Code = code, Message = message } }, AdminJsonContext.Default.ApiErrorBody), headers);

        /// <summary>The dispatcher's answer: as <c>--json</c> prints it when it succeeded, else the error with the status its code means.</summary>
        public static Reply From(ControlResponse response, int success = 200, params (string, string)[] headers) => response.Ok
            ? Of(success, Encode(response, ControlJsonContext.Default.ControlResponse), headers)
            : Error(StatusOf(response.Code), response.Code ?? ControlErrorCodes.Internal, response.Error ?? "the request failed");

        private static int StatusOf(string? code) => code switch
        {
            ControlErrorCodes.BadRequest => 400,
            ControlErrorCodes.NotFound => 404,
            ControlErrorCodes.Conflict => 409,
            ControlErrorCodes.Unavailable => 503,
            _ => 500,
        };
    }

    private static byte[] Encode<T>(T value, JsonTypeInfo<T> type) => [.. JsonSerializer.SerializeToUtf8Bytes(value, type), (byte)'\n'];

    private static AdminApiException BadRequest(string message) => new(400, ControlErrorCodes.BadRequest, message);

    /// <summary>The routes' translations to control requests.</summary>
    private sealed class Api(ControlDispatcher dispatcher, TokenHolder token, TimeProvider clock)
    {
        /// <summary>Null when the request carries the token; else the 401 (or 503 without a token) to answer.</summary>
        public Reply? Authorize(HttpListenerRequest request)
        {
            if (token.Current is not { } expected)
            {
                return Reply.Error(503, ControlErrorCodes.Unavailable, "the admin API has no token: " + token.Problem);
            }

            if (HttpEndpoint.HasBearer(request, expected))
            {
                return null;
            }

            // RFC 6750 3.1: no credentials get the bare challenge; wrong ones are named invalid_token.
            return request.Headers["Authorization"] is null
                ? Reply.Error(401, ApiErrorCodes.Unauthorized, "missing Authorization: Bearer TOKEN", ("WWW-Authenticate", "Bearer realm=\"tern\""))
                : Reply.Error(401, ApiErrorCodes.Unauthorized, "the bearer token is not valid", ("WWW-Authenticate", "Bearer realm=\"tern\", error=\"invalid_token\""));
        }

        public async Task<Reply> RunAsync(ControlRequest request, Call call, int success = 200) =>
            Reply.From(await dispatcher.HandleAsync(request, call.Cancel), success);

        /// <summary>GET /api/v1/queue and /api/v1/queue/history: the command line's filters and paging as query parameters.</summary>
        public Task<Reply> ListAsync(Call call)
        {
            var query = Query(call.Request, FilterParameters);
            var filter = Filter(
                ids: null,
                query.GetValueOrDefault("sender"),
                query.GetValueOrDefault("recipient_domain"),
                query.GetValueOrDefault("account"),
                query.TryGetValue("held", out var held) ? Bool("held", held) : null,
                query.GetValueOrDefault("older_than"),
                query.GetValueOrDefault("newer_than"),
                query.GetValueOrDefault("due_before"),
                query.GetValueOrDefault("due_after"),
                query.GetValueOrDefault("transport"),
                all: false,
                query.TryGetValue("limit", out var limit) ? Int("limit", limit) : null,
                query.GetValueOrDefault("after"));
            return RunAsync(new ControlRequest { Op = call.IsHistory ? ControlOps.History : ControlOps.List, Filter = filter }, call);
        }

        public Task<Reply> ShowAsync(Call call)
        {
            Query(call.Request, []);
            return RunAsync(new ControlRequest { Op = ControlOps.Show, Id = call.Route["id"] }, call);
        }

        /// <summary>
        /// GET /api/v1/queue/{id}/message: the message as <c>tern queue cat</c> prints it, byte for
        /// byte; 404 when unknown or when a retired message's body is no longer in the spool.
        /// </summary>
        public async Task<Reply> MessageAsync(Call call)
        {
            Query(call.Request, []);
            var id = MessageId(call.Route["id"]);
            var response = await dispatcher.HandleAsync(new ControlRequest { Op = ControlOps.Cat, Id = id }, call.Cancel);
            return response is { Ok: true, Content: { } content }
                ? Reply.Message(content, ("Content-Disposition", $"inline; filename=\"{id}.eml\""))
                : Reply.From(response);
        }

        /// <summary>POST /api/v1/queue/{id}/{action}: one message; 404 when unknown, 409 when retired (nothing applies to it).</summary>
        public async Task<Reply> ActOnOneAsync(Call call)
        {
            var op = Action(call.Route["action"]);
            var id = MessageId(call.Route["id"]);
            var body = await BodyAsync(call, AdminJsonContext.Default.ApiActionBody, required: false) ?? new ApiActionBody();
            if (body.Select is not null)
            {
                throw BadRequest("select: not allowed here, the message id is in the path (POST /api/v1/queue/ACTION selects with a body)");
            }

            var response = await dispatcher.HandleAsync(ActionRequest(op, new ControlFilter { Ids = [id] }, body), call.Cancel);
            return response is { Ok: true, Count: 0 } && await UnchangedAsync(id, op, call) is { } refusal ? refusal : Reply.From(response);
        }

        /// <summary>POST /api/v1/queue/{action} with <c>{"select":{...}}</c>: every matching message, as <c>tern queue ACTION FILTERS</c>.</summary>
        public async Task<Reply> ActOnManyAsync(Call call)
        {
            var op = Action(call.Route["action"]);
            var body = await BodyAsync(call, AdminJsonContext.Default.ApiActionBody, required: true);
            var filter = Selection(body!.Select);
            return Reply.From(await dispatcher.HandleAsync(ActionRequest(op, filter, body), call.Cancel));
        }

        public async Task<Reply> PauseAsync(Call call, string op)
        {
            await BodyAsync(call, AdminJsonContext.Default.ApiEmptyBody, required: false);
            return await RunAsync(new ControlRequest { Op = op }, call);
        }

        public async Task<Reply> PatchOneAsync(Call call)
        {
            var id = MessageId(call.Route["id"]);
            var body = await BodyAsync(call, AdminJsonContext.Default.ApiPatchBody, required: true);
            if (body!.Select is not null)
            {
                throw BadRequest("select: not allowed here, the message id is in the path (PATCH /api/v1/queue selects with a body)");
            }

            return await PatchAsync(call, new ControlFilter { Ids = [id] }, body, id);
        }

        public async Task<Reply> PatchManyAsync(Call call)
        {
            var body = await BodyAsync(call, AdminJsonContext.Default.ApiPatchBody, required: true);
            return await PatchAsync(call, Selection(body!.Select), body, null);
        }

        public async Task<Reply> AddHoldRuleAsync(Call call)
        {
            var body = await BodyAsync(call, AdminJsonContext.Default.ApiHoldRuleBody, required: true);
            var spec = new ControlRuleSpec
            {
                SenderDomain = body!.SenderDomain?.Trim() ?? string.Empty,
                RecipientDomain = body.RecipientDomain?.Trim() ?? string.Empty,
                Account = body.Account?.Trim() ?? string.Empty,
            };

            // As tern queue holdrule add: a rule that holds everything must be asked for.
            if (spec.SenderDomain.Length == 0 && spec.RecipientDomain.Length == 0 && spec.Account.Length == 0 && !body.All)
            {
                throw BadRequest("give sender_domain, recipient_domain or account (or \"all\": true for a rule that holds every new message)");
            }

            var response = await dispatcher.HandleAsync(new ControlRequest { Op = ControlOps.HoldRuleAdd, Rule = spec }, call.Cancel);
            return response is { Ok: true, HoldRule: { } rule }
                ? Reply.From(response, 201, ("Location", $"/api/v1/holdrules/{rule.Id}"))
                : Reply.From(response);
        }

        public Task<Reply> RemoveHoldRuleAsync(Call call)
        {
            var text = call.Route["id"];
            if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
            {
                throw BadRequest($"not a hold rule id: {ControlMapping.Shorten(text)} (a number, as GET /api/v1/holdrules shows)");
            }

            return RunAsync(new ControlRequest { Op = ControlOps.HoldRuleRemove, RuleId = id }, call);
        }

        public Task<Reply> ListSuppressionsAsync(Call call)
        {
            var query = Query(call.Request, ["contains", "limit", "after"]);
            return RunAsync(
                new ControlRequest
                {
                    Op = ControlOps.SuppressionList,
                    Contains = query.GetValueOrDefault("contains"),
                    Limit = query.TryGetValue("limit", out var limit) ? Int("limit", limit) : null,
                    After = query.GetValueOrDefault("after"),
                },
                call);
        }

        /// <summary>GET /api/v1/domains: the domain TLS history, as <c>tern queue domains</c> pages it.</summary>
        public Task<Reply> ListDomainsAsync(Call call)
        {
            var query = Query(call.Request, ["contains", "limit", "after"]);
            return RunAsync(
                new ControlRequest
                {
                    Op = ControlOps.Domains,
                    Contains = query.GetValueOrDefault("contains"),
                    Limit = query.TryGetValue("limit", out var limit) ? Int("limit", limit) : null,
                    After = query.GetValueOrDefault("after"),
                },
                call);
        }

        public async Task<Reply> AddSuppressionAsync(Call call)
        {
            var body = await BodyAsync(call, AdminJsonContext.Default.ApiSuppressionBody, required: true);
            var response = await dispatcher.HandleAsync(new ControlRequest { Op = ControlOps.SuppressionAdd, Address = body!.Address, Reason = body.Reason }, call.Cancel);
            return response is { Ok: true, Suppression: { } entry }
                ? Reply.From(response, 201, ("Location", "/api/v1/suppression/" + Uri.EscapeDataString(entry.Address)))
                : Reply.From(response);
        }

        public Task<Reply> RemoveSuppressionAsync(Call call) =>
            RunAsync(new ControlRequest { Op = ControlOps.SuppressionRemove, Address = call.Route["address"] }, call);

        /// <summary>
        /// Sets each given field (transport, then requiretls, then max_retries), each one durable
        /// change as <c>tern queue set</c> makes it. Values are checked before the first change, so a
        /// bad one changes nothing.
        /// </summary>
        private async Task<Reply> PatchAsync(Call call, ControlFilter filter, ApiPatchBody body, string? id)
        {
            if (body.Transport is null && body.RequireTls is null && body.MaxRetries is null)
            {
                throw BadRequest("nothing to change: give transport, requiretls or max_retries");
            }

            if (body.RequireTls is { } policy && !ControlMapping.TryParseRequireTls(policy, out _))
            {
                throw BadRequest($"requiretls: expected yes, no or default, got {ControlMapping.Shorten(policy)}");
            }

            if (body.MaxRetries is { } max && max is < 0 or > ControlLimits.MaxRetries)
            {
                throw BadRequest($"max_retries: expected 0 to {ControlLimits.MaxRetries} (0 restores the configured limit), got {max}");
            }

            int? transport = null, requireTls = null, maxRetries = null;
            if (body.Transport is { } name)
            {
                var r = await dispatcher.HandleAsync(new ControlRequest { Op = ControlOps.SetTransport, Filter = filter, Transport = name }, call.Cancel);
                if (!r.Ok)
                {
                    return Reply.From(r);
                }

                transport = r.Count;
            }

            if (body.RequireTls is { } tls)
            {
                var r = await dispatcher.HandleAsync(new ControlRequest { Op = ControlOps.SetRequireTls, Filter = filter, RequireTls = tls }, call.Cancel);
                if (!r.Ok)
                {
                    return Reply.From(r);
                }

                requireTls = r.Count;
            }

            if (body.MaxRetries is { } n)
            {
                var r = await dispatcher.HandleAsync(new ControlRequest { Op = ControlOps.SetMaxRetries, Filter = filter, MaxRetries = n }, call.Cancel);
                if (!r.Ok)
                {
                    return Reply.From(r);
                }

                maxRetries = r.Count;
            }

            var changed = new ApiChanged { Transport = transport, RequireTls = requireTls, MaxRetries = maxRetries };
            if (id is null)
            {
                return Reply.Of(200, Encode(new ApiPatchResult { Changed = changed }, AdminJsonContext.Default.ApiPatchResult));
            }

            // One message: nothing changed may mean there is no such queued message.
            var show = await dispatcher.HandleAsync(new ControlRequest { Op = ControlOps.Show, Id = id }, call.Cancel);
            if (!show.Ok)
            {
                return Reply.From(show);
            }

            if (show.Message is { State: not "queued" })
            {
                return Retired(id, "PATCH");
            }

            return Reply.Of(200, Encode(new ApiPatchResult { Changed = changed, Message = show.Message }, AdminJsonContext.Default.ApiPatchResult));
        }

        /// <summary>
        /// An action on one message changed nothing: 404 when there is no such message, 409 when it
        /// is retired; null (answer 200 with count 0) when it is queued and already as asked (held, released).
        /// </summary>
        private async Task<Reply?> UnchangedAsync(string id, string op, Call call)
        {
            var show = await dispatcher.HandleAsync(new ControlRequest { Op = ControlOps.Show, Id = id }, call.Cancel);
            if (!show.Ok)
            {
                return Reply.From(show);
            }

            return show.Message is { State: not "queued" } ? Retired(id, op) : null;
        }

        private static Reply Retired(string id, string op) =>
            Reply.Error(409, ControlErrorCodes.Conflict, $"{op}: message {id} is retired (delivered, failed or dropped; see GET /api/v1/queue/{id}); only queued messages can be changed");

        private static ControlRequest ActionRequest(string op, ControlFilter filter, ApiActionBody body)
        {
            if (body.Reason is not null && op != ControlOps.Fail)
            {
                throw BadRequest($"reason: only fail takes a reason, not {op}");
            }

            if (body.Shift is not null && op != ControlOps.Retry)
            {
                throw BadRequest($"shift: only retry takes a shift, not {op}");
            }

            double? shift = null;
            if (body.Shift is { } text)
            {
                shift = Durations.TryParse(text, out var by, out var error) ? by.TotalSeconds : throw BadRequest("shift: " + error);
            }

            return new ControlRequest { Op = op, Filter = filter, Reason = body.Reason, ShiftSeconds = shift };
        }

        private ControlFilter Selection(ApiSelection? s)
        {
            if (s is null)
            {
                throw BadRequest("select: missing; give {\"select\": {\"ids\": [...]}}, criteria such as {\"select\": {\"recipient_domain\": \"example.com\"}}, or {\"select\": {\"all\": true}}");
            }

            return Filter(s.Ids, s.Sender, s.RecipientDomain, s.Account, s.Held, s.OlderThan, s.NewerThan, s.DueBefore, s.DueAfter, s.Transport, s.All, limit: null, after: null);
        }

        /// <summary>The command line's filter words to the control protocol's filter (durations to seconds, times to instants).</summary>
        private ControlFilter Filter(
            IReadOnlyList<string>? ids, string? sender, string? recipientDomain, string? account, bool? held, string? olderThan, string? newerThan,
            string? dueBefore, string? dueAfter, string? transport, bool all, int? limit, string? after)
        {
            var now = clock.GetUtcNow();
            return new ControlFilter
            {
                Ids = ids,
                Sender = sender,
                RecipientDomain = recipientDomain,
                Account = account,
                Held = held,
                OlderThanSeconds = Duration("older_than", olderThan),
                NewerThanSeconds = Duration("newer_than", newerThan),
                DueBefore = Time("due_before", dueBefore, now),
                DueAfter = Time("due_after", dueAfter, now),
                Transport = transport,
                All = all,
                Limit = limit,
                After = after,
            };
        }

        private static double? Duration(string name, string? text) =>
            text is null ? null
            : Durations.TryParse(text, out var value, out var error) ? value.TotalSeconds
            : throw BadRequest($"{name}: {error}");

        private static DateTimeOffset? Time(string name, string? text, DateTimeOffset now) =>
            text is null ? null
            : Durations.TryParseTime(text, now, out var value) ? value
            : throw BadRequest($"{name}: expected an ISO 8601 time (2026-11-28T19:00:00Z) or a duration from now (2h, -30m), got \"{ControlMapping.Shorten(text)}\"");

        private static string Action(string action) =>
            Array.IndexOf(Actions, action) >= 0
                ? action
                : throw new AdminApiException(404, ControlErrorCodes.NotFound, $"unknown action {ControlMapping.Shorten(action)}; expected one of {string.Join(", ", Actions)}");

        private static string MessageId(string id) =>
            ControlMapping.TryParseId(id, out _) ? id : throw BadRequest($"not a message id: {ControlMapping.Shorten(id)} (ids are 26 characters, as GET /api/v1/queue shows them)");
    }

    /// <summary>
    /// The query string as names and values (form-decoded: <c>+</c> is a space, so write <c>%2B</c>).
    /// Unknown and repeated names are refused: a misspelt filter must not widen a listing silently.
    /// </summary>
    private static Dictionary<string, string> Query(HttpListenerRequest request, string[] allowed)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        var raw = request.RawUrl ?? string.Empty;
        var q = raw.IndexOf('?', StringComparison.Ordinal);
        if (q < 0)
        {
            return result;
        }

        foreach (var part in raw[(q + 1)..].Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            var name = Decode(eq < 0 ? part : part[..eq]);
            var value = eq < 0 ? string.Empty : Decode(part[(eq + 1)..]);
            if (Array.IndexOf(allowed, name) < 0)
            {
                throw BadRequest(allowed.Length == 0
                    ? $"unknown query parameter \"{ControlMapping.Shorten(name)}\"; this route takes none"
                    : $"unknown query parameter \"{ControlMapping.Shorten(name)}\"; expected one of {string.Join(", ", allowed)}");
            }

            if (!result.TryAdd(name, value))
            {
                throw BadRequest($"query parameter \"{name}\" given twice");
            }
        }

        return result;

        static string Decode(string text)
        {
            try
            {
                return Uri.UnescapeDataString(text.Replace('+', ' '));
            }
            catch (UriFormatException)
            {
                throw BadRequest($"bad percent-encoding in the query: {ControlMapping.Shorten(text)}");
            }
        }
    }

    private static bool Bool(string name, string text) => text switch
    {
        "true" => true,
        "false" => false,
        _ => throw BadRequest($"{name}: expected true or false, got \"{ControlMapping.Shorten(text)}\""),
    };

    private static int Int(string name, string text) =>
        int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)
            ? n
            : throw BadRequest($"{name}: expected a whole number, got \"{ControlMapping.Shorten(text)}\"");

    /// <summary>
    /// Reads and decodes a JSON body of at most <see cref="MaxBodyBytes"/> (over it: 413). An absent
    /// or blank body is null (refused when <paramref name="required"/>); a body must say it is JSON
    /// (415 otherwise); malformed JSON and unknown members are 400s that say where.
    /// </summary>
    private static async Task<T?> BodyAsync<T>(Call call, JsonTypeInfo<T> type, bool required)
        where T : class
    {
        var request = call.Request;
        if (request.HasEntityBody && !IsJson(request.ContentType))
        {
            throw new AdminApiException(415, ApiErrorCodes.UnsupportedMediaType, $"the body must be JSON (Content-Type: application/json), not {ControlMapping.Shorten(request.ContentType ?? "(none)")}");
        }

        var body = request.HasEntityBody ? await HttpEndpoint.ReadBodyAsync(request, MaxBodyBytes, call.Cancel) : [];
        if (body.AsSpan().Trim(" \t\r\n"u8).IsEmpty)
        {
            return required ? throw BadRequest("a JSON object is required in the body") : null;
        }

        try
        {
            return JsonSerializer.Deserialize(body, type) ?? throw BadRequest("expected a JSON object, got null");
        }
        catch (JsonException e)
        {
            throw JsonProblem(e);
        }
    }

    private static bool IsJson(string? contentType)
    {
        var media = (contentType ?? string.Empty).Split(';')[0].Trim();
        return media.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || (media.StartsWith("application/", StringComparison.OrdinalIgnoreCase) && media.EndsWith("+json", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>A JSON error in the API's words: which member, or where the syntax broke (no .NET type names).</summary>
    private static AdminApiException JsonProblem(JsonException e)
    {
        var path = e.Path is { Length: > 1 } p && p.StartsWith("$.", StringComparison.Ordinal) ? p[2..] : null;
        var where = $"line {(e.LineNumber ?? 0) + 1}, byte {(e.BytePositionInLine ?? 0) + 1}";
        if (e.Message.Contains("could not be mapped", StringComparison.Ordinal))
        {
            return new AdminApiException(400, ApiErrorCodes.UnknownMember, $"unknown member \"{path ?? "?"}\"");
        }

        if (e.Message.StartsWith("The JSON value could not be converted", StringComparison.Ordinal))
        {
            return new AdminApiException(400, ApiErrorCodes.InvalidJson, path is null ? "expected a JSON object" : $"{path}: a value of the wrong type ({where})");
        }

        if (e.Message.Contains("Duplicate", StringComparison.OrdinalIgnoreCase))
        {
            return new AdminApiException(400, ApiErrorCodes.InvalidJson, $"member \"{path ?? "?"}\" given twice");
        }

        var text = e.Message;
        var cut = text.IndexOf(" Path: ", StringComparison.Ordinal);
        return new AdminApiException(400, ApiErrorCodes.InvalidJson, $"invalid JSON at {where}: {(cut > 0 ? text[..cut] : text)}");
    }

    /// <summary>
    /// The token, resolved at start; when that failed, tried again on each request (a file fixed
    /// by the operator is picked up without a restart). The source is logged, never the token.
    /// </summary>
    private sealed class TokenHolder
    {
        private readonly Func<AdminTokenSource> _resolve;
        private readonly ILogger _log;
        private readonly Lock _lock = new();
        private string? _token;

        public TokenHolder(Func<AdminTokenSource> resolve, ILogger log)
        {
            _resolve = resolve;
            _log = log;
            Resolve();
        }

        /// <summary>Why there is no token (when <see cref="Current"/> is null).</summary>
        public string Problem { get; private set; } = string.Empty;

        public string? Current => Volatile.Read(ref _token) ?? Resolve();

        private string? Resolve()
        {
            lock (_lock)
            {
                if (_token is not null)
                {
                    return _token;
                }

                try
                {
                    var source = _resolve();
                    if (source.Generated)
                    {
                        TokenGenerated(_log, source.Source);
                    }
                    else
                    {
                        TokenLoaded(_log, source.Source);
                    }

                    if (source.Warning is { } warning)
                    {
                        TokenWarning(_log, warning);
                    }

                    Volatile.Write(ref _token, source.Token);
                    return source.Token;
                }
                catch (AdminTokenException e)
                {
                    if (e.Message != Problem)
                    {
                        TokenFailed(_log, e.Message);
                    }

                    Problem = e.Message;
                    return null;
                }
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "admin API token generated {file}")]
    private static partial void TokenGenerated(ILogger log, string file);

    [LoggerMessage(Level = LogLevel.Information, Message = "admin API token {file}")]
    private static partial void TokenLoaded(ILogger log, string file);

    [LoggerMessage(Level = LogLevel.Warning, Message = "admin API token {problem}")]
    private static partial void TokenWarning(ILogger log, string problem);

    [LoggerMessage(Level = LogLevel.Error, Message = "admin API disabled, no token {error}")]
    private static partial void TokenFailed(ILogger log, string error);
}
