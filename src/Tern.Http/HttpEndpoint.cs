using System.Net;
using Microsoft.Extensions.Logging;
using Tern.Observability.Logging;
using Tern.Observability.Metrics;

namespace Tern.Http;

/// <summary>Handles one request; writes status, headers and body to the response.</summary>
public delegate Task HttpHandler(HttpListenerContext context, CancellationToken cancel);

/// <summary>Handles one request to a route template, with the values of its <c>{name}</c> segments.</summary>
public delegate Task HttpRouteHandler(HttpListenerContext context, RouteValues route, CancellationToken cancel);

/// <summary>Writes an error response (404, 405, 413, 500) in an API's own format; the message is plain text without a newline.</summary>
public delegate Task HttpErrorWriter(HttpListenerResponse response, int status, string message);

/// <summary>A request body over the handler's limit (answered 413).</summary>
public sealed class HttpBodyTooLargeException(long limit) : Exception($"request body larger than {limit} bytes")
{
    public long Limit { get; } = limit;
}

/// <summary>Thrown when the HTTP listener cannot be opened; the message names the address.</summary>
public sealed class HttpEndpointException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// The HTTP listener on .NET's own server (HttpListener: no extra framework in the static binary).
/// Routes are exact paths served for GET and HEAD (<see cref="Map(string, HttpHandler)"/>), or a
/// method with a path template (<see cref="Map(string, string, HttpRouteHandler)"/>); a path no
/// route knows gets 404, a known path with another method 405 with Allow. A handler's exception is
/// a 500 and counts as a panic of the http component; the server keeps serving.
/// </summary>
public sealed partial class HttpEndpoint : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Dictionary<string, HttpHandler> _routes = new(StringComparer.Ordinal);
    private readonly ILogger _log;
    private readonly ICounter _panics;
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    public HttpEndpoint(IPEndPoint address, ILoggerFactory loggers, IMetrics metrics)
    {
        Address = address;
        _log = loggers.CreateLogger(LogComponents.Http);
        _panics = Panics.For(metrics, LogComponents.Http);
        var host = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address.Address}]" : address.Address.ToString();
        if (address.Address.Equals(IPAddress.Any) || address.Address.Equals(IPAddress.IPv6Any))
        {
            host = "+";
        }

        _listener.Prefixes.Add($"http://{host}:{address.Port}/");
    }

    public IPEndPoint Address { get; }

    /// <summary>Adds a GET route for an exact path such as <c>/metrics</c>.</summary>
    public void Map(string path, HttpHandler handler) => _routes[path] = handler;

    /// <summary>Adds a route for one method (GET also serves HEAD) and a path template such as <c>/api/v1/queue/{id}</c>.</summary>
    public void Map(string method, string template, HttpRouteHandler handler) => _templates.Add(new HttpRoute(method, template, handler));

    private readonly List<HttpRoute> _templates = [];

    private readonly List<(string Prefix, HttpErrorWriter Writer)> _errorWriters = [];

    /// <summary>
    /// Answers the endpoint's own errors (no route 404, wrong method 405, body too large 413, handler
    /// failed 500) for paths starting with <paramref name="prefix"/> through <paramref name="writer"/>,
    /// e.g. JSON for an API, instead of plain text.
    /// </summary>
    public void MapErrors(string prefix, HttpErrorWriter writer) => _errorWriters.Add((prefix, writer));

    /// <summary>
    /// Reads the request body, refusing more than <paramref name="limit"/> bytes (by the declared
    /// length before reading, and while reading a chunked body).
    /// </summary>
    public static async Task<byte[]> ReadBodyAsync(HttpListenerRequest request, long limit, CancellationToken cancel)
    {
        // The body is collected in one array: no limit can be larger than an array can be.
        limit = Math.Min(limit, Array.MaxLength);
        if (request.ContentLength64 > limit)
        {
            throw new HttpBodyTooLargeException(limit);
        }

        using var buffer = new MemoryStream(request.ContentLength64 > 0 ? (int)request.ContentLength64 : 4096);
        var chunk = new byte[16 * 1024];
        while (true)
        {
            var n = await request.InputStream.ReadAsync(chunk, cancel);
            if (n == 0)
            {
                return buffer.ToArray();
            }

            if (buffer.Length + n > limit)
            {
                throw new HttpBodyTooLargeException(limit);
            }

            buffer.Write(chunk, 0, n);
        }
    }

    /// <summary>Writes a UTF-8 JSON response from bytes already serialised (source-generated serialisers only).</summary>
    public static async Task WriteJsonAsync(HttpListenerResponse response, int status, byte[] json)
    {
        response.StatusCode = status;
        response.ContentType = "application/json; charset=utf-8";
        response.ContentLength64 = json.Length;
        await response.OutputStream.WriteAsync(json);
    }

    /// <summary>The token of the request's <c>Authorization: Bearer &lt;token&gt;</c> header (RFC 6750 2.1), or null.</summary>
    public static string? BearerToken(HttpListenerRequest request)
    {
        var header = request.Headers["Authorization"];
        const string Scheme = "Bearer ";
        return header is not null && header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase) ? header[Scheme.Length..].Trim() : null;
    }

    /// <summary>
    /// Whether the request carries <c>Authorization: Bearer &lt;token&gt;</c> with exactly this token
    /// (compared in constant time, so the time taken does not tell how much of a guess was right).
    /// </summary>
    public static bool HasBearer(HttpListenerRequest request, string token)
    {
        if (string.IsNullOrEmpty(token) || BearerToken(request) is not { } given)
        {
            return false;
        }

        return System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(
            System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(given)),
            System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(token)));
    }

    public void Start()
    {
        try
        {
            _listener.Start();
        }
        catch (HttpListenerException e)
        {
            throw new HttpEndpointException($"http: cannot listen on {Address}: {e.Message}", e);
        }

        Listening(_log, Address);
        _loop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>How long a stop waits for requests under way (an injection waiting for its commit).</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Requests being handled, plus one while the endpoint is open: zero means drained.</summary>
    private int _active = 1;
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _closing;

    /// <summary>
    /// Starts a stop without waiting: from now on new requests get 503 (the host calls it when it stops
    /// taking mail, before the SMTP grace period), and <see cref="DisposeAsync"/> drains the rest.
    /// </summary>
    public void BeginClose() => _closing = true;

    /// <summary>
    /// Stops: new requests get 503 at once, requests under way may finish (up to
    /// <see cref="DrainTimeout"/>: an answer that says a message was stored must reach the client),
    /// then the handlers' token is cancelled and the listener closed.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        _closing = true;
        if (Interlocked.Decrement(ref _active) == 0)
        {
            _drained.TrySetResult();
        }

        await _drained.Task.WaitAsync(DrainTimeout).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _stop.CancelAsync();
        if (_listener.IsListening)
        {
            _listener.Stop();
        }

        if (_loop is not null)
        {
            await _loop;
        }

        _listener.Close();
        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
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

            Interlocked.Increment(ref _active);
            _ = Task.Run(() => HandleAsync(context));
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        var response = context.Response;
        try
        {
            if (_closing)
            {
                response.AddHeader("Retry-After", "5");
                await WriteErrorAsync(context, 503, "shutting down");
                return;
            }

            var path = context.Request.Url?.AbsolutePath ?? "/";
            var method = context.Request.HttpMethod;
            if (_routes.TryGetValue(path, out var handler))
            {
                if (method is not ("GET" or "HEAD"))
                {
                    response.AddHeader("Allow", "GET, HEAD");
                    await WriteErrorAsync(context, 405, "method not allowed");
                }
                else
                {
                    await handler(context, _stop.Token);
                }

                return;
            }

            var segments = HttpRoute.Split(path);
            List<string>? allowed = null;
            foreach (var route in _templates)
            {
                if (route.Match(segments) is not { } values)
                {
                    continue;
                }

                if (route.Method == method || (method == "HEAD" && route.Method == "GET"))
                {
                    await route.Handler(context, values, _stop.Token);
                    return;
                }

                (allowed ??= []).Add(route.Method);
            }

            if (allowed is null)
            {
                await WriteErrorAsync(context, 404, "not found");
            }
            else
            {
                response.AddHeader("Allow", string.Join(", ", allowed.Distinct()));
                await WriteErrorAsync(context, 405, "method not allowed");
            }
        }
        catch (HttpBodyTooLargeException e)
        {
            await WriteErrorAsync(context, 413, e.Message);
        }
        catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
        {
            // The client went away.
        }
        catch (Exception e)
        {
            _panics.Inc();
            HandlerFailed(_log, e, context.Request.Url?.AbsolutePath ?? "?");
            try
            {
                await WriteErrorAsync(context, 500, "internal error");
            }
            catch (Exception inner) when (inner is HttpListenerException or IOException or ObjectDisposedException or InvalidOperationException)
            {
                // Headers were already sent or the client is gone.
            }
        }
        finally
        {
            try
            {
                response.Close();
            }
            catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
            {
                // The client or the listener is gone.
            }
            finally
            {
                if (Interlocked.Decrement(ref _active) == 0)
                {
                    _drained.TrySetResult();
                }
            }
        }
    }

    /// <summary>An error of the endpoint's own, in the format of the path's API (<see cref="MapErrors"/>) or as plain text.</summary>
    private Task WriteErrorAsync(HttpListenerContext context, int status, string message)
    {
        var path = context.Request.Url?.AbsolutePath ?? "/";
        foreach (var (prefix, writer) in _errorWriters)
        {
            if (path.StartsWith(prefix, StringComparison.Ordinal))
            {
                return writer(context.Response, status, message);
            }
        }

        return WriteTextAsync(context.Response, status, message + "\n");
    }

    /// <summary>Writes a plain-text response.</summary>
    public static async Task WriteTextAsync(HttpListenerResponse response, int status, string text, string contentType = "text/plain; charset=utf-8")
    {
        var body = System.Text.Encoding.UTF8.GetBytes(text);
        response.StatusCode = status;
        response.ContentType = contentType;
        response.ContentLength64 = body.Length;
        await response.OutputStream.WriteAsync(body);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "listening {address}")]
    private static partial void Listening(ILogger log, IPEndPoint address);

    [LoggerMessage(Level = LogLevel.Error, Message = "handler failed {path}")]
    private static partial void HandlerFailed(ILogger log, Exception e, string path);
}
