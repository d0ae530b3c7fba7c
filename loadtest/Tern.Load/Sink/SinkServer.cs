using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Tern.Load.Report;
using Tern.Smtp.Server;

namespace Tern.Load.Sink;

/// <summary>
/// The sink's listener: accepts connections up to <c>--max-connections</c> (one more is answered
/// <c>421</c> and closed, RFC 5321 3.8), runs a <see cref="SinkConnection"/> for each, and signals
/// <see cref="Stopped"/> once <c>--messages</c> messages were accepted. Disposing closes the listener
/// and every connection and flushes the ids file.
/// </summary>
internal sealed class SinkServer : IAsyncDisposable
{
    private static readonly TimeSpan CloseWait = TimeSpan.FromSeconds(2);

    private readonly CancellationTokenSource _stop = new();
    private readonly CancellationTokenSource _abort = new();
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _lock = new();
    private readonly Dictionary<SinkConnection, Task> _connections = [];
    private readonly byte[]?[] _failureReplies = new byte[]?[600];
    private Socket? _listener;
    private Task? _acceptLoop;
    private ServerCertificate? _fileCertificate;
    private SslStreamCertificateContext? _selfSigned;
    private long _accepted;
    private long _connectionNumber;
    private int _active;
    private int _disposed;

    public SinkServer(SinkOptions options, RunStats stats)
    {
        Options = options;
        Stats = stats;
        foreach (var code in options.FailCodes)
        {
            _failureReplies[code] = SinkReplies.Failure(code);
        }
    }

    public SinkOptions Options { get; }

    public RunStats Stats { get; }

    /// <summary>The ids file writer, when <c>--ids</c> was given.</summary>
    public IdsWriter? Ids { get; private set; }

    /// <summary>Completes when the <c>--messages</c> limit was reached.</summary>
    public Task Stopped => _stopped.Task;

    /// <summary>Messages accepted (answered 250) so far.</summary>
    public long AcceptedMessages => Interlocked.Read(ref _accepted);

    /// <summary>The certificate STARTTLS presents (re-read when the <c>--cert</c> files change).</summary>
    public SslStreamCertificateContext Certificate => _fileCertificate?.Context ?? _selfSigned!;

    /// <summary>Binds and starts accepting; returns the bound address (the real port when 0 was asked).</summary>
    public Task<IPEndPoint> StartAsync()
    {
        if (Options.Tls)
        {
            if (Options.CertPath is not null && Options.KeyPath is not null)
            {
                _fileCertificate = new ServerCertificate(Options.CertPath, Options.KeyPath);
            }
            else
            {
                _selfSigned = SelfSignedCertificate.Create();
            }
        }

        if (Options.IdsPath is not null)
        {
            Ids = new IdsWriter(Options.IdsPath);
        }

        var listener = new Socket(Options.Listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // A second sink on the same address fails instead of sharing it (SO_REUSEPORT).
            Tern.Smtp.Server.ListenSockets.AllowRebindAfterRestart(listener);
            listener.Bind(Options.Listen);
            listener.Listen(1024);
        }
        catch
        {
            listener.Dispose();
            throw;
        }

        _listener = listener;
        _acceptLoop = AcceptLoopAsync(listener);
        return Task.FromResult((IPEndPoint)listener.LocalEndPoint!);
    }

    /// <summary>The reply of an injected failure with <paramref name="code"/> (built once at start).</summary>
    public ReadOnlySpan<byte> FailureReply(int code) => _failureReplies[code];

    /// <summary>Called after replies accepting <paramref name="count"/> messages were written.</summary>
    public void Accepted(int count)
    {
        var total = Interlocked.Add(ref _accepted, count);
        if (Options.Messages is { } limit && total >= limit)
        {
            _stopped.TrySetResult();
        }
    }

    /// <summary>Closes every connection at once and stops (as <see cref="StopAsync"/> with no grace).</summary>
    public ValueTask DisposeAsync() => StopAsync(TimeSpan.Zero);

    /// <summary>
    /// Stops accepting, gives the open connections <paramref name="grace"/> to finish by themselves
    /// (a sender that reached its own last message sends QUIT), closes the rest, and flushes the ids.
    /// </summary>
    public async ValueTask StopAsync(TimeSpan grace)
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _listener?.Dispose();
        await _stop.CancelAsync();
        if (_acceptLoop is not null)
        {
            await _acceptLoop;
        }

        if (grace > TimeSpan.Zero)
        {
            Task[] open;
            lock (_lock)
            {
                open = [.. _connections.Values];
            }

            await Task.WhenAny(Task.WhenAll(open), Task.Delay(grace));
        }

        await _abort.CancelAsync();
        Task[] running;
        lock (_lock)
        {
            foreach (var connection in _connections.Keys)
            {
                connection.Abort();
            }

            running = [.. _connections.Values];
        }

        await Task.WhenAny(Task.WhenAll(running), Task.Delay(CloseWait));
        Ids?.Dispose();
        _fileCertificate?.Dispose();
        _stop.Dispose();
        _abort.Dispose();
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                if (_stop.IsCancellationRequested)
                {
                    return;
                }

                continue;
            }

            if (Interlocked.Increment(ref _active) > Options.MaxConnections)
            {
                Interlocked.Decrement(ref _active);
                _ = RefuseAsync(socket);
                continue;
            }

            Stats.ConnectionOpened();
            var connection = new SinkConnection(this, socket, Interlocked.Increment(ref _connectionNumber));
            lock (_lock)
            {
                _connections[connection] = RunAsync(connection);
            }
        }
    }

    private async Task RunAsync(SinkConnection connection)
    {
        // Runs the session off the accept loop, so that a slow first write never holds up accepting.
        await Task.Yield();
        try
        {
            await connection.RunAsync(_abort.Token);
        }
        finally
        {
            Interlocked.Decrement(ref _active);
            lock (_lock)
            {
                _connections.Remove(connection);
            }
        }
    }

    /// <summary>Over the connection limit: 421 and close (RFC 5321 3.8), counted as a refused connection.</summary>
    private async Task RefuseAsync(Socket socket)
    {
        Stats.RecordFailed(FailureKind.Connect, 421);
        try
        {
            using var cancel = new CancellationTokenSource(CloseWait);
            await socket.SendAsync(SinkReplies.TooManyConnections.ToArray(), SocketFlags.None, cancel.Token);
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
        finally
        {
            socket.Dispose();
        }
    }
}
