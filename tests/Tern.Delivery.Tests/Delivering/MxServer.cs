using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;

namespace Tern.Delivery.Tests.Delivering;

/// <summary>
/// A scripted SMTP server on one 127.0.0.x address and a given port, for any number of connections:
/// each accepted connection runs the script (usually <see cref="MxConnection.ServeAsync"/> with a few
/// replies changed). Records every connection and every line received, so a test can tell which
/// hosts the deliverer contacted and what it said to them. With a certificate it offers STARTTLS
/// (RFC 3207) and presents that certificate (and its chain); without one it answers STARTTLS with 454.
/// </summary>
internal sealed class MxServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly Func<MxConnection, Task> _script;
    private readonly SslStreamCertificateContext? _tls;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private readonly List<MxConnection> _connections = [];
    private readonly List<Task> _scripts = [];
    private readonly List<Exception> _faults = [];
    private readonly Task _accepting;

    public MxServer(string address, int port, Func<MxConnection, Task> script, SslStreamCertificateContext? tls = null)
    {
        Address = IPAddress.Parse(address);
        Name = "mx" + address[(address.LastIndexOf('.') + 1)..] + ".test";
        _script = script;
        _tls = tls;
        _listener = new TcpListener(Address, port);
        _listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public IPAddress Address { get; }

    /// <summary>The name in its greeting and EHLO reply ("mx3.test" for 127.0.0.3).</summary>
    public string Name { get; }

    public IReadOnlyList<MxConnection> Connections
    {
        get
        {
            lock (_lock)
            {
                return [.. _connections];
            }
        }
    }

    /// <summary>Scripts that threw (an expectation that failed): empty when the deliverer behaved.</summary>
    public IReadOnlyList<Exception> Faults
    {
        get
        {
            lock (_lock)
            {
                return [.. _faults];
            }
        }
    }

    /// <summary>A server that accepts everything (<see cref="MxConnection.ServeAsync"/>).</summary>
    public static MxServer Accepting(string address, int port) => new(address, port, c => c.ServeAsync());

    /// <summary>A server that offers STARTTLS with <paramref name="tls"/> and accepts everything.</summary>
    public static MxServer Accepting(string address, int port, SslStreamCertificateContext tls) => new(address, port, c => c.ServeAsync(), tls);

    /// <summary>Waits (bounded) until the script of connection <paramref name="index"/> has ended (the client closed it).</summary>
    public async Task WhenScriptEndsAsync(int index)
    {
        Task script;
        lock (_lock)
        {
            script = _scripts[index];
        }

        await script.WaitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>Waits (bounded) until every connection's script has ended.</summary>
    public async Task WhenScriptsEndAsync()
    {
        Task[] scripts;
        lock (_lock)
        {
            scripts = [.. _scripts];
        }

        await Task.WhenAll(scripts).WaitAsync(TimeSpan.FromSeconds(10));
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        foreach (var c in Connections)
        {
            c.Close();
        }

        try
        {
            await _accepting;
            await WhenScriptsEndAsync();
        }
        catch (Exception)
        {
            // Stopping: scripts cut short are expected here.
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            socket.NoDelay = true;
            lock (_lock)
            {
                var connection = new MxConnection(socket, _connections.Count, Name, _tls, _stop.Token);
                _connections.Add(connection);
                _scripts.Add(RunAsync(connection));
            }
        }
    }

    private async Task RunAsync(MxConnection connection)
    {
        await Task.Yield();
        try
        {
            await _script(connection);
        }
        catch (Exception e) when (!_stop.IsCancellationRequested)
        {
            lock (_lock)
            {
                _faults.Add(e);
            }
        }
        catch (Exception)
        {
            // Stopped by DisposeAsync.
        }
        finally
        {
            connection.Close();
        }
    }
}

/// <summary>The server side of one connection to an <see cref="MxServer"/>.</summary>
internal sealed class MxConnection
{
    /// <summary>Returned by a reply hook: close the connection without a reply.</summary>
    public const string Drop = "<drop>";

    public static readonly string[] DefaultEhlo = ["PIPELINING", "ENHANCEDSTATUSCODES", "8BITMIME"];

    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);
    private readonly Socket _socket;
    private readonly SslStreamCertificateContext? _tls;
    private readonly CancellationToken _stop;
    private Stream _stream;
    private readonly List<byte> _pending = [];
    private readonly Lock _lock = new();
    private readonly List<string> _received = [];
    private readonly List<string> _messages = [];
    private int _closed;

    public MxConnection(Socket socket, int index, string name, SslStreamCertificateContext? tls, CancellationToken stop)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: false);
        _tls = tls;
        Index = index;
        Name = name;
        _stop = stop;
    }

    /// <summary>Whether STARTTLS succeeded: the rest of the conversation is under TLS.</summary>
    public bool Secured { get; private set; }

    /// <summary>0 for the server's first connection, then 1, 2...</summary>
    public int Index { get; }

    public string Name { get; }

    /// <summary>Every line received (commands, and "&lt;data&gt;" for a message's content).</summary>
    public IReadOnlyList<string> Received
    {
        get
        {
            lock (_lock)
            {
                return [.. _received];
            }
        }
    }

    /// <summary>The commands received, each reduced to its verb ("MAIL", "RCPT", "QUIT"...).</summary>
    public IReadOnlyList<string> Verbs => [.. Received.Where(l => l != "<data>").Select(l => l.Split(' ', ':')[0].ToUpperInvariant())];

    /// <summary>The content of each message accepted on this connection.</summary>
    public IReadOnlyList<string> Messages
    {
        get
        {
            lock (_lock)
            {
                return [.. _messages];
            }
        }
    }

    public Task SendAsync(params string[] lines) => SendRawAsync(string.Concat(lines.Select(l => l + "\r\n")));

    public async Task SendRawAsync(string text)
    {
        await _stream.WriteAsync(Encoding.UTF8.GetBytes(text), _stop);
        await _stream.FlushAsync(_stop);
    }

    /// <summary>A line without its CRLF; null at the end of the stream (or when the client reset it).</summary>
    public async Task<string?> ReadLineAsync()
    {
        while (true)
        {
            var lf = _pending.IndexOf((byte)'\n');
            if (lf >= 0)
            {
                var text = Encoding.UTF8.GetString([.. _pending.GetRange(0, lf + 1)]).TrimEnd('\n').TrimEnd('\r');
                _pending.RemoveRange(0, lf + 1);
                lock (_lock)
                {
                    _received.Add(text);
                }

                return text;
            }

            if (await ReadMoreAsync() == 0)
            {
                return null;
            }
        }
    }

    public async Task<string> ExpectAsync(string prefix)
    {
        var line = await ReadLineAsync() ?? throw new InvalidOperationException($"{Name}: expected \"{prefix}...\", got the end of the stream");
        return line.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)
            ? line
            : throw new InvalidOperationException($"{Name}: expected \"{prefix}...\", got \"{line}\"");
    }

    /// <summary>Waits for bytes that are not lines (a TLS ClientHello) and throws them away.</summary>
    public async Task<int> ReadRawAsync()
    {
        if (_pending.Count == 0 && await ReadMoreAsync() == 0)
        {
            return 0;
        }

        var n = _pending.Count;
        _pending.Clear();
        return n;
    }

    /// <summary>
    /// After a 220 to STARTTLS: the server's side of the TLS handshake. Bytes the client sent behind
    /// STARTTLS before the handshake would be a command injection: the script fails then. False when
    /// the handshake failed (the client refused the certificate, or hung up).
    /// </summary>
    public async Task<bool> StartTlsAsync()
    {
        var tls = _tls ?? throw new InvalidOperationException($"{Name}: no certificate for STARTTLS");
        if (_pending.Count > 0)
        {
            throw new InvalidOperationException($"{Name}: {_pending.Count} bytes behind STARTTLS");
        }

        var ssl = new SslStream(_stream, leaveInnerStreamOpen: false);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop);
        timeout.CancelAfter(HandshakeTimeout);
        try
        {
            await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificateContext = tls }, timeout.Token);
        }
        catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException)
        {
            await ssl.DisposeAsync();
            return false;
        }

        _stream = ssl;
        Secured = true;
        return true;
    }

    /// <summary>
    /// An ordinary server: greeting, EHLO with <paramref name="ehlo"/> (by default with STARTTLS
    /// when the server has a certificate; after TLS <paramref name="tlsEhlo"/>, by default the same
    /// without STARTTLS), then 250 to everything, 220 and the handshake for STARTTLS (454 without
    /// a certificate), 354 and "250 queued" for DATA, 221 to QUIT. <paramref name="answer"/> may replace any reply
    /// (the whole reply, CRLF between lines, without the last CRLF) or <see cref="Drop"/> the
    /// connection; null keeps the ordinary reply. A 421 reply closes the connection after it.
    /// <paramref name="closeAfterMessages"/>: close silently (FIN, no 421) once that many messages were accepted.
    /// </summary>
    public async Task ServeAsync(Func<string, string?>? answer = null, string[]? ehlo = null, int closeAfterMessages = 0, string[]? tlsEhlo = null)
    {
        var plainEhlo = ehlo ?? (_tls is null ? DefaultEhlo : [.. DefaultEhlo, "STARTTLS"]);
        var secureEhlo = tlsEhlo ?? [.. plainEhlo.Where(k => !k.Equals("STARTTLS", StringComparison.OrdinalIgnoreCase))];
        await SendAsync($"220 {Name} ESMTP test server");
        var accepted = 0;
        while (await ReadLineAsync() is { } line)
        {
            var verb = line.Split(' ', ':')[0].ToUpperInvariant();
            var reply = answer?.Invoke(line) ?? verb switch
            {
                "EHLO" => Ehlo(Secured ? secureEhlo : plainEhlo),
                "HELO" => $"250 {Name}",
                "MAIL" => "250 2.1.0 Ok",
                "RCPT" => "250 2.1.5 Ok",
                "DATA" => "354 End data with <CR><LF>.<CR><LF>",
                "RSET" or "NOOP" => "250 2.0.0 Ok",
                "STARTTLS" when _tls is not null && !Secured => "220 2.0.0 Ready to start TLS",
                "STARTTLS" => "454 4.7.0 TLS not available",
                "QUIT" => "221 2.0.0 Bye",
                _ => "502 5.5.2 Error: command not recognized",
            };
            if (reply == Drop)
            {
                return;
            }

            await SendRawAsync(reply + "\r\n");
            if (reply.StartsWith("421", StringComparison.Ordinal) || verb == "QUIT")
            {
                return;
            }

            if (verb == "STARTTLS" && reply.StartsWith("220", StringComparison.Ordinal) && !await StartTlsAsync())
            {
                return;
            }

            if (verb == "DATA" && reply.StartsWith("354", StringComparison.Ordinal))
            {
                await ReadMessageAsync();
                accepted++;
                await SendAsync($"250 2.0.0 Ok: queued as {Name}-{Index}-{accepted}");
                if (accepted == closeAfterMessages)
                {
                    return;
                }
            }
        }
    }

    /// <summary>The EHLO reply with these keywords.</summary>
    public string Ehlo(string[] keywords) =>
        string.Join("\r\n", new[] { Name }.Concat(keywords).Select((k, i) => (i == keywords.Length ? "250 " : "250-") + k));

    /// <summary>The content after 354, up to the "." line (dot-stuffing undone).</summary>
    public async Task<string> ReadMessageAsync()
    {
        var content = new StringBuilder();
        while (await ReadLineWithoutRecordingAsync() is { } line)
        {
            if (line == ".")
            {
                var text = content.ToString();
                lock (_lock)
                {
                    _received.Add("<data>");
                    _messages.Add(text);
                }

                return text;
            }

            content.Append(line.StartsWith('.') ? line[1..] : line).Append("\r\n");
        }

        throw new InvalidOperationException($"{Name}: end of stream inside DATA");
    }

    /// <summary>Closes the connection now (FIN; RST when the client's data is still unread).</summary>
    public void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }

        _socket.Dispose();
    }

    private async Task<string?> ReadLineWithoutRecordingAsync()
    {
        while (true)
        {
            var lf = _pending.IndexOf((byte)'\n');
            if (lf >= 0)
            {
                var text = Encoding.UTF8.GetString([.. _pending.GetRange(0, lf + 1)]).TrimEnd('\n').TrimEnd('\r');
                _pending.RemoveRange(0, lf + 1);
                return text;
            }

            if (await ReadMoreAsync() == 0)
            {
                return null;
            }
        }
    }

    private async Task<int> ReadMoreAsync()
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop);
        timeout.CancelAfter(ReadTimeout);
        var buffer = new byte[4096];
        int n;
        try
        {
            n = await _stream.ReadAsync(buffer, timeout.Token);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            n = 0;
        }

        _pending.AddRange(buffer.AsSpan(0, n));
        return n;
    }
}
