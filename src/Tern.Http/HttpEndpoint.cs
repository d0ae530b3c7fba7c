using System.Net;
using Microsoft.Extensions.Logging;
using Tern.Observability.Logging;
using Tern.Observability.Metrics;

namespace Tern.Http;

/// <summary>Handles one request; writes status, headers and body to the response.</summary>
public delegate Task HttpHandler(HttpListenerContext context, CancellationToken cancel);

/// <summary>Thrown when the HTTP listener cannot be opened; the message names the address.</summary>
public sealed class HttpEndpointException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// The HTTP listener on .NET's own server (HttpListener: no extra framework in the static binary).
/// Routes are exact paths with GET/HEAD; anything else gets 404 or 405. A handler's exception is a
/// 500 and counts as a panic of the http component; the server keeps serving.
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

    public async ValueTask DisposeAsync()
    {
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

            _ = Task.Run(() => HandleAsync(context));
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        var response = context.Response;
        try
        {
            var path = context.Request.Url?.AbsolutePath ?? "/";
            if (!_routes.TryGetValue(path, out var handler))
            {
                await WriteTextAsync(response, 404, "not found\n");
            }
            else if (context.Request.HttpMethod is not ("GET" or "HEAD"))
            {
                response.AddHeader("Allow", "GET, HEAD");
                await WriteTextAsync(response, 405, "method not allowed\n");
            }
            else
            {
                await handler(context, _stop.Token);
            }
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
                await WriteTextAsync(response, 500, "internal error\n");
            }
            catch (Exception inner) when (inner is HttpListenerException or IOException or ObjectDisposedException or InvalidOperationException)
            {
                // Headers were already sent or the client is gone.
            }
        }
        finally
        {
            response.Close();
        }
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
