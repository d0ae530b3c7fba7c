using System.Buffers;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
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

    /// <summary>sun_path is 108 bytes on Linux, one of them the terminating NUL.</summary>
    private const int MaxPathBytes = 107;

    private readonly IQueueOperations _queue;
    private readonly SuppressionList? _suppression;
    private readonly ILogger _log;
    private readonly ICounter _panics;
    private readonly TimeProvider _clock;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _slots = new(MaxConcurrent);
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Socket? _listener;
    private Task? _acceptLoop;

    /// <summary>Connections being served, plus one for the accept loop: zero means drained.</summary>
    private int _active = 1;
    private int _disposed;

    /// <param name="suppression">The suppression list for the suppression-* operations; without one they are refused.</param>
    public ControlServer(string socketPath, IQueueOperations queue, ILoggerFactory loggers, IMetrics metrics, TimeProvider? clock = null, SuppressionList? suppression = null)
    {
        SocketPath = socketPath;
        _queue = queue;
        _suppression = suppression;
        _log = loggers.CreateLogger(LogComponents.Host);
        _panics = Panics.For(metrics, LogComponents.Host);
        _clock = clock ?? TimeProvider.System;
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

    /// <summary>Runs one request; any failure becomes an error response.</summary>
    internal async Task<ControlResponse> HandleAsync(ControlRequest request, CancellationToken cancel)
    {
        try
        {
            return await DispatchAsync(request, cancel);
        }
        catch (Exception e) when (e is ControlRequestException or QueueOperationException)
        {
            RequestRefused(_log, $"{ControlMapping.Shorten(request.Op)}: {e.Message}");
            return Error(e.Message);
        }
        catch (SuppressionStoreException e)
        {
            // The change is refused (or not durable) because the file cannot be written.
            SuppressionFailed(_log, ControlMapping.Shorten(request.Op), e.Message);
            return Error(e.Message);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            return Error("the server is shutting down");
        }
        catch (Exception e)
        {
            // A bug in an operation must not take the server (or this socket) down.
            _panics.Inc();
            OperationFailed(_log, e, ControlMapping.Shorten(request.Op));
            return Error($"internal error in {ControlMapping.Shorten(request.Op)}: {e.Message}");
        }
    }

    private async Task<ControlResponse> DispatchAsync(ControlRequest request, CancellationToken cancel)
    {
        switch (request.Op)
        {
            case ControlOps.List:
            case ControlOps.History:
            {
                var filter = ControlMapping.ToQueueFilter(request.Filter);
                var page = request.Op == ControlOps.List ? _queue.List(filter) : _queue.History(filter);
                return new ControlResponse
                {
                    Ok = true,
                    Entries = [.. page.Entries.Select(ControlMapping.ToEntry)],
                    Total = page.Total,
                    Next = page.Next?.ToString(),
                };
            }

            case ControlOps.Show:
            {
                if (!ControlMapping.TryParseId(request.Id, out var id))
                {
                    throw new ControlRequestException($"show: not a message id: {ControlMapping.Shorten(request.Id)}");
                }

                var detail = await _queue.ShowAsync(id, cancel);
                return detail is null
                    ? Error($"no message {id} in the queue or its history")
                    : new ControlResponse { Ok = true, Message = ControlMapping.ToEntry(detail.Entry), Headers = detail.Headers };
            }

            case ControlOps.Hold:
                return await ChangeAsync(request, (s, c) => _queue.HoldAsync(s, c), cancel);

            case ControlOps.Release:
                return await ChangeAsync(request, (s, c) => _queue.ReleaseAsync(s, c), cancel);

            case ControlOps.Drop:
                return await ChangeAsync(request, (s, c) => _queue.DropAsync(s, c), cancel);

            case ControlOps.Retry:
            {
                var shift = ControlMapping.Duration(request.ShiftSeconds, "shift_seconds", allowNegative: true);
                return await ChangeAsync(request, (s, c) => _queue.RetryAsync(s, shift, c), cancel);
            }

            case ControlOps.Fail:
                // Without a reason the queue supplies its own wording.
                return await ChangeAsync(request, (s, c) => _queue.FailAsync(s, request.Reason ?? string.Empty, c), cancel);

            case ControlOps.SetTransport:
            {
                var transport = request.Transport ?? throw new ControlRequestException("set-transport: transport is missing (\"\" clears it)");
                return await ChangeAsync(request, (s, c) => _queue.SetTransportAsync(s, transport, c), cancel);
            }

            case ControlOps.SetRequireTls:
            {
                if (!ControlMapping.TryParseRequireTls(request.RequireTls, out var policy))
                {
                    throw new ControlRequestException($"set-requiretls: expected yes, no or default, got {ControlMapping.Shorten(request.RequireTls)}");
                }

                return await ChangeAsync(request, (s, c) => _queue.SetRequireTlsAsync(s, policy, c), cancel);
            }

            case ControlOps.SetMaxRetries:
            {
                var max = ControlMapping.MaxRetries(request.MaxRetries);
                return await ChangeAsync(request, (s, c) => _queue.SetMaxRetriesAsync(s, max, c), cancel);
            }

            case ControlOps.HoldRuleList:
                return new ControlResponse { Ok = true, HoldRules = [.. _queue.HoldRules.Select(ControlMapping.ToRule)] };

            case ControlOps.HoldRuleAdd:
            {
                var spec = request.Rule ?? throw new ControlRequestException("holdrule-add: rule is missing");
                var (rule, held) = await _queue.AddHoldRuleAsync(
                    new HoldRule { SenderDomain = spec.SenderDomain.Trim(), RecipientDomain = spec.RecipientDomain.Trim(), Account = spec.Account.Trim() },
                    cancel);
                Changed(_log, request.Op, $"rule={rule.Id} sender_domain={rule.SenderDomain} recipient_domain={rule.RecipientDomain} account={rule.Account}", held);
                return new ControlResponse { Ok = true, HoldRule = ControlMapping.ToRule(rule), Count = held };
            }

            case ControlOps.HoldRuleRemove:
            {
                var id = request.RuleId ?? throw new ControlRequestException("holdrule-remove: rule_id is missing");
                if (!await _queue.RemoveHoldRuleAsync(id, cancel))
                {
                    return Error($"no hold rule {id}");
                }

                Changed(_log, request.Op, $"rule={id}", 0);
                return new ControlResponse { Ok = true };
            }

            case ControlOps.Pause:
            case ControlOps.Resume:
            {
                var paused = request.Op == ControlOps.Pause;
                await _queue.SetPausedAsync(paused, cancel);
                Changed(_log, request.Op, "", 0);
                return new ControlResponse { Ok = true, Paused = _queue.Paused };
            }

            case ControlOps.Status:
            {
                // Counting by listing one-entry pages: the total comes with every page.
                var now = _clock.GetUtcNow();
                return new ControlResponse
                {
                    Ok = true,
                    Paused = _queue.Paused,
                    Counts = new ControlCounts
                    {
                        Queued = _queue.List(new QueueFilter { Limit = 1 }).Total,
                        Held = _queue.List(new QueueFilter { Held = true, Limit = 1 }).Total,
                        Due = _queue.List(new QueueFilter { Held = false, NextAttemptBefore = now, Limit = 1 }).Total,
                        Retired = _queue.History(new QueueFilter { Limit = 1 }).Total,
                    },
                };
            }

            case ControlOps.SuppressionList:
            {
                var list = Suppression(request.Op);
                var limit = request.Limit ?? 100;
                if (limit is < 1 or > ControlLimits.MaxLimit or > SuppressionList.MaxPageSize)
                {
                    throw new ControlRequestException($"limit: expected 1 to {Math.Min(ControlLimits.MaxLimit, SuppressionList.MaxPageSize)}, got {limit}");
                }

                var page = list.Page(request.Contains is { Length: > 0 } c ? c : null, limit, request.After is { Length: > 0 } a ? a : null);
                return new ControlResponse
                {
                    Ok = true,
                    Suppressions = [.. page.Entries.Select(ControlMapping.ToSuppression)],
                    Total = page.Total,
                    Next = page.Next,
                };
            }

            case ControlOps.SuppressionAdd:
            {
                var list = Suppression(request.Op);
                var address = request.Address ?? throw new ControlRequestException("suppression-add: address is missing");
                if (SuppressionList.CheckAddress(address) is { } problem)
                {
                    throw new ControlRequestException($"suppression-add: {problem}");
                }

                if (!list.Add(address, request.Reason ?? string.Empty))
                {
                    return Error(list.TryGet(address, out var existing)
                        ? $"{existing.Address} is already suppressed (since {existing.Since.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}, {ControlMapping.Name(existing.Source)})"
                        : $"{address} is already suppressed");
                }

                SuppressionChanged(_log, request.Op, address);
                return new ControlResponse
                {
                    Ok = true,
                    Suppression = list.TryGet(address, out var entry) ? ControlMapping.ToSuppression(entry) : null,
                };
            }

            case ControlOps.SuppressionRemove:
            {
                var list = Suppression(request.Op);
                var address = request.Address ?? throw new ControlRequestException("suppression-remove: address is missing");
                if (address.Length == 0)
                {
                    throw new ControlRequestException("suppression-remove: the address is empty");
                }

                list.TryGet(address, out var was);
                if (!list.Remove(address))
                {
                    return Error($"{ControlMapping.Shorten(address)} is not on the suppression list");
                }

                SuppressionChanged(_log, request.Op, address);
                return new ControlResponse { Ok = true, Suppression = was is null ? null : ControlMapping.ToSuppression(was) };
            }

            default:
                throw new ControlRequestException($"unknown op {ControlMapping.Shorten(request.Op)}; expected one of {string.Join(", ", ControlOps.All)}");
        }
    }

    /// <summary>The suppression list, or a refusal when this server runs without one.</summary>
    private SuppressionList Suppression(string op) =>
        _suppression ?? throw new ControlRequestException($"{op}: this server has no suppression list");

    /// <summary>An operation that changes messages: refuses an empty selection without "all", logs what changed.</summary>
    private async Task<ControlResponse> ChangeAsync(ControlRequest request, Func<QueueFilter, CancellationToken, Task<int>> operation, CancellationToken cancel)
    {
        var selection = ControlMapping.ToQueueFilter(request.Filter);
        if (selection.IsEmpty && !selection.All)
        {
            throw new ControlRequestException($"{request.Op}: no ids and no filter; set \"all\" to select every message");
        }

        var count = await operation(selection, cancel);
        Changed(_log, request.Op, Describe(selection), count);
        return new ControlResponse { Ok = true, Count = count };
    }

    /// <summary>The selection for the log line (ids counted, not listed).</summary>
    private static string Describe(QueueFilter f)
    {
        var parts = new List<string>();
        if (f.Ids is { } ids)
        {
            parts.Add(ids.Count == 1 ? $"id={ids[0]}" : $"ids={ids.Count}");
        }

        Add("sender", f.Sender);
        Add("recipient_domain", f.RecipientDomain);
        Add("account", f.Account);
        Add("held", f.Held switch { true => "true", false => "false", null => null });
        Add("older_than", f.OlderThan?.ToString());
        Add("newer_than", f.NewerThan?.ToString());
        Add("due_before", f.NextAttemptBefore?.ToString("O"));
        Add("due_after", f.NextAttemptAfter?.ToString("O"));
        Add("transport", f.Transport);
        if (f.All)
        {
            parts.Add("all");
        }

        return string.Join(' ', parts);

        void Add(string name, string? value)
        {
            if (value is not null)
            {
                parts.Add($"{name}={value}");
            }
        }
    }

    private static ControlResponse Error(string message) => new() { Ok = false, Error = message };

    [LoggerMessage(Level = LogLevel.Information, Message = "control socket listening {path}")]
    private static partial void Listening(ILogger log, string path);

    [LoggerMessage(Level = LogLevel.Information, Message = "queue changed {op} {selection} {count}")]
    private static partial void Changed(ILogger log, string op, string selection, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "suppression list changed {op} {address}")]
    private static partial void SuppressionChanged(ILogger log, string op, string address);

    [LoggerMessage(Level = LogLevel.Error, Message = "suppression list not written {op} {error}")]
    private static partial void SuppressionFailed(ILogger log, string op, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "control request refused {reason}")]
    private static partial void RequestRefused(ILogger log, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "control client too slow, disconnected {bytes}")]
    private static partial void SlowClient(ILogger log, int bytes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "control socket accept failed {error}")]
    private static partial void AcceptFailed(ILogger log, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "control socket not removed {path} {error}")]
    private static partial void RemoveFailed(ILogger log, string path, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "queue operation failed {op}")]
    private static partial void OperationFailed(ILogger log, Exception e, string op);

    [LoggerMessage(Level = LogLevel.Error, Message = "control connection failed")]
    private static partial void ConnectionFailed(ILogger log, Exception e);
}
