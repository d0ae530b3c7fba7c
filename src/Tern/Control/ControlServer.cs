using System.Buffers;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Tern.Delivery;
using Tern.Observability.Logging;
using Tern.Observability.Metrics;
using Tern.Spool.Queue;
using Tern.Suppression;

namespace Tern.Control;

/// <summary>The control socket cannot be opened; the message names the path and the problem.</summary>
internal sealed class ControlServerException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The queue control socket: a unix domain socket in the data directory through which
/// <c>tern queue ...</c> reaches the running server's <see cref="IQueueOperations"/>, and
/// <c>tern suppression ...</c> its <see cref="SuppressionList"/> (framing in ControlProtocol.cs).
/// Access control is the file system's: the socket is mode 0600 inside the 0700 data directory,
/// so only the directory's owner (and root) can connect. Every failure of a
/// request, from malformed JSON to a refused operation or a bug, becomes an error response; the
/// server keeps serving.
/// </summary>
internal sealed partial class ControlServer : IAsyncDisposable
{
    public const string SocketName = "control.sock";

    /// <summary>Connections served at once; more wait in the listen backlog.</summary>
    private const int MaxConcurrent = 16;

    /// <summary>cat: the message is written in pieces of this size, each within <see cref="ControlLimits.ContentTimeout"/>.</summary>
    private const int ContentPiece = 64 * 1024;

    /// <summary>sun_path is 108 bytes on Linux, one of them the terminating NUL.</summary>
    private const int MaxPathBytes = 107;

    private readonly ControlDispatcher _dispatcher;
    private readonly ILogger _log;
    private readonly ICounter _panics;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _slots = new(MaxConcurrent);
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Socket? _listener;
    private Task? _acceptLoop;

    /// <summary>Connections being served, plus one for the accept loop: zero means drained.</summary>
    private int _active = 1;
    private int _disposed;

    /// <param name="suppression">The suppression list for the suppression-* operations; without one they are refused.</param>
    /// <param name="domainTls">The domain TLS history for the domains operation; without one it is refused.</param>
    public ControlServer(string socketPath, IQueueOperations queue, ILoggerFactory loggers, IMetrics metrics, TimeProvider? clock = null, SuppressionList? suppression = null, DomainTlsHistory? domainTls = null)
    {
        SocketPath = socketPath;
        _log = loggers.CreateLogger(LogComponents.Host);
        _panics = Panics.For(metrics, LogComponents.Host);
        _dispatcher = new ControlDispatcher(queue, suppression, _log, _panics, clock, domainTls);
    }

    public string SocketPath { get; }

    /// <summary>How long a client may take to send its request (shorter in tests).</summary>
    internal TimeSpan RequestTimeout { get; init; } = ControlLimits.RequestTimeout;

    /// <summary>The socket of a data directory.</summary>
    public static string PathIn(string dataDirectory) => Path.Combine(dataDirectory, SocketName);

    /// <summary>Binds the socket (replacing a stale one left by a crash) and starts accepting.</summary>
    /// <exception cref="ControlServerException">The path is too long or cannot be bound.</exception>
    public void Start()
    {
        var bytes = System.Text.Encoding.UTF8.GetByteCount(SocketPath);
        if (bytes > MaxPathBytes)
        {
            throw new ControlServerException($"control socket {SocketPath}: path is {bytes} bytes, the limit for a unix socket is {MaxPathBytes}; use a shorter data_dir");
        }

        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            // The caller holds the data directory's lock, so a socket file here is a leftover of a
            // process that died without removing it: nobody can be listening on it.
            if (File.Exists(SocketPath))
            {
                File.Delete(SocketPath);
            }

            socket.Bind(new UnixDomainSocketEndPoint(SocketPath));

            // Restricted before listen(): until then a connect() is refused, so there is no moment
            // when the socket accepts a connection under the looser umask mode.
            File.SetUnixFileMode(SocketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            socket.Listen(64);
        }
        catch (Exception e) when (e is SocketException or IOException or UnauthorizedAccessException)
        {
            socket.Dispose();
            throw new ControlServerException($"control socket {SocketPath}: cannot listen: {e.Message}", e);
        }

        _listener = socket;
        Listening(_log, SocketPath);
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>Stops accepting, cancels requests in flight, waits for them and removes the socket file. Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync();
        _listener?.Dispose();
        if (_acceptLoop is not null)
        {
            await _acceptLoop;
        }

        Leave();
        await _drained.Task;
        if (_listener is not null)
        {
            try
            {
                File.Delete(SocketPath);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The next start replaces it anyway.
                RemoveFailed(_log, SocketPath, e.Message);
            }
        }

        _stop.Dispose();
        _slots.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        var listener = _listener!;
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await _slots.WaitAsync(_stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            Socket client;
            try
            {
                client = await listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                // A connection that failed while queued (ECONNABORTED) or a lack of descriptors:
                // not fatal to the listener. A short pause keeps EMFILE from spinning.
                _slots.Release();
                AcceptFailed(_log, e.SocketErrorCode.ToString());
                await Task.Delay(100);
                continue;
            }

            Interlocked.Increment(ref _active);
            _ = Task.Run(async () =>
            {
                try
                {
                    await ServeAsync(client);
                }
                finally
                {
                    _slots.Release();
                    Leave();
                }
            });
        }
    }

    private void Leave()
    {
        if (Interlocked.Decrement(ref _active) == 0)
        {
            _drained.TrySetResult();
        }
    }

    /// <summary>One connection: read one request, answer it, close.</summary>
    private async Task ServeAsync(Socket client)
    {
        await using var stream = new NetworkStream(client, ownsSocket: true);
        try
        {
            ControlResponse response;
            var (request, error) = await ReadRequestAsync(stream);
            if (request is null && error is null)
            {
                // Connected and closed without a request (or too slow): nothing to answer.
                return;
            }

            if (error is not null)
            {
                RequestRefused(_log, error);
                response = Error(error);
            }
            else
            {
                response = await HandleAsync(request!, _stop.Token);
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            timeout.CancelAfter(ControlLimits.ResponseTimeout);
            await stream.WriteAsync(ControlJson.Encode(response), timeout.Token);
            if (response.Content is { } content)
            {
                // cat: the message follows the line, raw. A client that keeps reading may take as
                // long as it needs; one that stops for the content timeout is dropped.
                for (var at = 0; at < content.Length; at += ContentPiece)
                {
                    timeout.CancelAfter(ControlLimits.ContentTimeout);
                    await stream.WriteAsync(content.AsMemory(at, Math.Min(ContentPiece, content.Length - at)), timeout.Token);
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The client went away, stopped reading, or the server is stopping.
        }
        catch (Exception e)
        {
            _panics.Inc();
            ConnectionFailed(_log, e);
        }
    }

    /// <summary>
    /// Reads up to the first '\n' (or the end of the client's writing side). Returns the parsed
    /// request, or an error text to answer with, or neither when there is nothing to answer.
    /// </summary>
    private async Task<(ControlRequest? Request, string? Error)> ReadRequestAsync(NetworkStream stream)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        timeout.CancelAfter(RequestTimeout);
        var buffer = ArrayPool<byte>.Shared.Rent(4096);
        var used = 0;
        try
        {
            while (true)
            {
                if (used == buffer.Length)
                {
                    if (buffer.Length > ControlLimits.MaxRequestBytes)
                    {
                        return (null, $"request larger than {ControlLimits.MaxRequestBytes} bytes; select with a filter instead of listing ids");
                    }

                    var bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, used).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }

                int n;
                try
                {
                    n = await stream.ReadAsync(buffer.AsMemory(used), timeout.Token);
                }
                catch (OperationCanceledException) when (!_stop.IsCancellationRequested)
                {
                    SlowClient(_log, used);
                    return (null, null);
                }

                var end = n == 0 ? used : buffer.AsSpan(used, n).IndexOf((byte)'\n') is var nl and >= 0 ? used + nl : -1;
                used += n;
                if (end >= 0 || n == 0)
                {
                    if (end > ControlLimits.MaxRequestBytes)
                    {
                        return (null, $"request larger than {ControlLimits.MaxRequestBytes} bytes; select with a filter instead of listing ids");
                    }

                    var json = buffer.AsSpan(0, end).TrimEnd("\r"u8);
                    if (json.IsEmpty)
                    {
                        return n == 0 ? (null, null) : (null, "empty request");
                    }

                    try
                    {
                        return (ControlJson.DecodeRequest(json), null);
                    }
                    catch (Exception e)
                    {
                        // Decoding is pure: whatever it throws (JsonException, or a converter's
                        // own exception on odd input) means the bytes are not a request.
                        return (null, "malformed request: " + e.Message);
                    }
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Runs one request (through the dispatcher the HTTP admin API shares); any failure becomes an error response.</summary>
    internal Task<ControlResponse> HandleAsync(ControlRequest request, CancellationToken cancel) => _dispatcher.HandleAsync(request, cancel);

    private static ControlResponse Error(string message) => new() { Ok = false, Code = ControlErrorCodes.BadRequest, Error = message };

    [LoggerMessage(Level = LogLevel.Information, Message = "control socket listening {path}")]
    private static partial void Listening(ILogger log, string path);

    [LoggerMessage(Level = LogLevel.Information, Message = "control request refused {reason}")]
    private static partial void RequestRefused(ILogger log, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "control client too slow, disconnected {bytes}")]
    private static partial void SlowClient(ILogger log, int bytes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "control socket accept failed {error}")]
    private static partial void AcceptFailed(ILogger log, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "control socket not removed {path} {error}")]
    private static partial void RemoveFailed(ILogger log, string path, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "control connection failed")]
    private static partial void ConnectionFailed(ILogger log, Exception e);
}
