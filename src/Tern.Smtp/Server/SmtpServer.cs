using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using Tern.Observability.Logging;
using Tern.Observability.Metrics;

namespace Tern.Smtp.Server;

/// <summary>The listener could not be opened; the message names the listener and address.</summary>
public sealed class SmtpListenerException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// The SMTP server: one accept loop per listener, one <see cref="SmtpSession"/> per connection.
/// <see cref="StopAsync"/> stops accepting, closes idle sessions at once, lets sessions in a mail
/// transaction finish within the grace period, then closes the rest.
/// </summary>
public sealed class SmtpServer : IAsyncDisposable
{
    private readonly ConcurrentDictionary<long, SmtpSession> _sessions = new();
    private readonly List<ListenerContext> _listeners = [];
    private readonly List<Task> _acceptLoops = [];
    private long _nextConnectionId;
    private volatile bool _stopping;

    public SmtpServer(SmtpServerOptions options, IMessageStore store, ILoggerFactory loggers, IMetrics metrics, TimeProvider? clock = null)
    {
        Options = options;
        Store = store;
        Log = loggers.CreateLogger(LogComponents.Smtp);
        Metrics = new SmtpServerMetrics(metrics);
        Panics = Observability.Metrics.Panics.For(metrics, LogComponents.Smtp);
        Clock = clock ?? TimeProvider.System;
        Hostname = Encoding.ASCII.GetBytes(options.Hostname);
        AuthFailures = new AuthFailureTracker(options.Authentication?.FailureWindow ?? TimeSpan.FromMinutes(10), Clock);
        var seed = Clock.GetUtcNow().ToUnixTimeMilliseconds();
        ConnectionIdPrefix = seed.ToString("x", System.Globalization.CultureInfo.InvariantCulture);
    }

    public SmtpServerOptions Options { get; }

    /// <summary>The addresses actually bound (port 0 in the options resolves here), in listener order.</summary>
    public IReadOnlyList<IPEndPoint> BoundEndpoints => _listeners.Select(l => l.Bound).ToList();

    public int ActiveSessions => _sessions.Count;

    internal IMessageStore Store { get; }

    internal ILogger Log { get; }

    internal SmtpServerMetrics Metrics { get; }

    internal ICounter Panics { get; }

    internal TimeProvider Clock { get; }

    internal byte[] Hostname { get; }

    internal AuthFailureTracker AuthFailures { get; }

    internal bool Stopping => _stopping;

    private string ConnectionIdPrefix { get; }

    /// <summary>Binds every listener and starts accepting. Throws <see cref="SmtpListenerException"/> naming the listener that failed.</summary>
    public void Start()
    {
        foreach (var options in Options.Listeners)
        {
            var socket = new Socket(options.Endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                if (options.Endpoint.AddressFamily == AddressFamily.InterNetworkV6 && options.Endpoint.Address.Equals(IPAddress.IPv6Any))
                {
                    // [::] accepts IPv4 too, as operators expect from "listen on all addresses".
                    socket.DualMode = true;
                }

                ListenSockets.AllowRebindAfterRestart(socket);
                socket.Bind(options.Endpoint);
                socket.Listen(512);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                foreach (var l in _listeners)
                {
                    l.Socket.Dispose();
                }

                _listeners.Clear();
                throw new SmtpListenerException($"listener {options.Name}: cannot listen on {options.Endpoint}: {e.Message}", e);
            }

            _listeners.Add(new ListenerContext(this, options, socket, (IPEndPoint)socket.LocalEndPoint!));
        }

        foreach (var l in _listeners)
        {
            SmtpServerLog.Listening(Log, l.Options.Name, KindName(l.Options.Kind), l.Bound);
            _acceptLoops.Add(AcceptLoopAsync(l));
        }
    }

    /// <summary>Reloads every listener's certificate from its files (the host calls this on SIGHUP).</summary>
    public void ReloadCertificates()
    {
        foreach (var l in _listeners)
        {
            if (l.Options.Certificate is not { } cert)
            {
                continue;
            }

            if (cert.Reload(out var error))
            {
                SmtpServerLog.CertificateReloaded(Log, l.Options.Name, cert.CertificatePath);
            }
            else
            {
                SmtpServerLog.CertificateReloadFailed(Log, l.Options.Name, error ?? "unknown error");
            }
        }
    }

    public async Task StopAsync(TimeSpan grace)
    {
        if (_stopping)
        {
            return;
        }

        _stopping = true;
        foreach (var l in _listeners)
        {
            l.Socket.Dispose();
        }

        await Task.WhenAll(_acceptLoops);
        SmtpServerLog.Stopping(Log, _sessions.Count, grace);
        foreach (var s in _sessions.Values)
        {
            s.RequestStop(force: false);
        }

        var all = Task.WhenAll(_sessions.Values.Select(s => s.Completion));
        if (await Task.WhenAny(all, Task.Delay(grace, Clock)) != all)
        {
            SmtpServerLog.ForcedClose(Log, _sessions.Count);
            foreach (var s in _sessions.Values)
            {
                s.RequestStop(force: true);
            }

            // Sessions answer 421 and close promptly; bound the wait in case a peer does not read.
            await Task.WhenAny(Task.WhenAll(_sessions.Values.Select(s => s.Completion)), Task.Delay(TimeSpan.FromSeconds(2), Clock));
            foreach (var s in _sessions.Values)
            {
                s.Abort();
            }
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync(TimeSpan.Zero);

    internal static string KindName(ListenerKind kind) => kind switch
    {
        ListenerKind.Relay => "relay",
        ListenerKind.Submission => "submission",
        _ => "submissions",
    };

    internal void SessionEnded(SmtpSession session, ListenerContext listener, IPAddress remote)
    {
        _sessions.TryRemove(session.Id, out _);
        listener.Release(remote);
        Metrics.ActiveConnections.Dec();
    }

    private async Task AcceptLoopAsync(ListenerContext listener)
    {
        var connections = Metrics.Connections.Labels(listener.Options.Name);
        var refused = Metrics.ConnectionsRefused.Labels(listener.Options.Name);
        while (true)
        {
            Socket socket;
            try
            {
                socket = await listener.Socket.AcceptAsync();
            }
            catch (Exception e) when (e is ObjectDisposedException or SocketException { SocketErrorCode: SocketError.OperationAborted or SocketError.Interrupted or SocketError.InvalidArgument })
            {
                return;
            }
            catch (SocketException)
            {
                // Transient accept errors (EMFILE, ECONNABORTED): keep serving.
                await Task.Delay(10);
                continue;
            }

            if (_stopping)
            {
                socket.Dispose();
                return;
            }

            socket.NoDelay = true;
            var remote = Normalize((IPEndPoint)socket.RemoteEndPoint!);
            var admission = listener.TryAdmit(remote.Address);
            var id = Interlocked.Increment(ref _nextConnectionId);
            var session = new SmtpSession(this, listener, socket, remote, id, ConnectionIdPrefix + "-" + id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (admission != Admission.Admitted)
            {
                refused.Inc();
                SmtpServerLog.Refused(Log, listener.Options.Name, remote, admission == Admission.TooManyFromIp ? "per-ip limit" : "connection limit");
                _ = session.RefuseAsync(admission == Admission.TooManyFromIp ? Replies.TooManyConnectionsFromIpText : Replies.TooManyConnectionsText);
                continue;
            }

            connections.Inc();
            Metrics.ActiveConnections.Inc();
            _sessions[id] = session;
            session.Start();
        }
    }

    private static IPEndPoint Normalize(IPEndPoint ep) =>
        ep.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(ep.Address.MapToIPv4(), ep.Port) : ep;
}

internal enum Admission
{
    Admitted,
    TooMany,
    TooManyFromIp,
}

/// <summary>Per-listener state: options, socket, counts for the connection limits, precomputed EHLO replies.</summary>
internal sealed class ListenerContext
{
    private readonly Dictionary<IPAddress, int> _perIp = [];
    private readonly Lock _lock = new();
    private int _total;

    public ListenerContext(SmtpServer server, SmtpListenerOptions options, Socket socket, IPEndPoint bound)
    {
        Options = options;
        Socket = socket;
        Bound = bound;
        Replies = new SessionReplies(server.Options, options);
    }

    public SmtpListenerOptions Options { get; }

    public Socket Socket { get; }

    public IPEndPoint Bound { get; }

    public SessionReplies Replies { get; }

    public Admission TryAdmit(IPAddress remote)
    {
        remote = ClientAddress.LimitKey(remote);
        lock (_lock)
        {
            if (_total >= Options.Limits.MaxConnections)
            {
                return Admission.TooMany;
            }

            _perIp.TryGetValue(remote, out var n);
            if (n >= Options.Limits.MaxConnectionsPerIp)
            {
                return Admission.TooManyFromIp;
            }

            _perIp[remote] = n + 1;
            _total++;
            return Admission.Admitted;
        }
    }

    public void Release(IPAddress remote)
    {
        remote = ClientAddress.LimitKey(remote);
        lock (_lock)
        {
            _total--;
            if (_perIp.TryGetValue(remote, out var n))
            {
                if (n <= 1)
                {
                    _perIp.Remove(remote);
                }
                else
                {
                    _perIp[remote] = n - 1;
                }
            }
        }
    }
}
