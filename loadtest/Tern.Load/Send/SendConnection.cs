using System.Buffers;
using System.Diagnostics;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using Tern.Load.Report;
using Tern.Smtp.Client;

namespace Tern.Load.Send;

/// <summary>
/// One session of a send run: a connection to the target, opened again and again (after
/// --per-connection messages, a 421, or a broken connection), and the messages it carries. The
/// buffers (receive buffer, command scratch, the per-size-class message copies) belong to the
/// session and live across its connections, so the steady state allocates nothing per message.
/// This part: the connection's life (connect, greeting, EHLO, STARTTLS, AUTH, QUIT) and its I/O.
/// </summary>
internal sealed partial class SendConnection : IDisposable
{
    private static readonly byte[] StartTlsCommand = "STARTTLS\r\n"u8.ToArray();
    private static readonly byte[] QuitCommand = "QUIT\r\n"u8.ToArray();
    private readonly SendRun _run;
    private readonly SendSettings _settings;
    private readonly byte[] _recv = new byte[16 * 1024];
    private readonly byte[] _cmd;
    private readonly MessageBuffers _messages;
    private readonly AckedIds.Writer? _ids;
    private readonly Lock _socketLock = new();
    private Socket? _socket;
    private Stream? _stream;
    private SmtpReplyParser _parser = new();
    private int _recvStart;
    private int _recvEnd;

    /// <summary>When the pending read or write started (Stopwatch timestamp), 0 when none: the watchdog's view.</summary>
    private long _ioSince;
    private int _timedOut;

    /// <summary>When the current run of failed connects began (Stopwatch timestamp), 0 when connected.</summary>
    private long _unreachableSince;

    public SendConnection(SendRun run)
    {
        _run = run;
        _settings = run.Settings;
        var reserve = _settings.From.Length + 64 + (_settings.Recipients * (64 + run.MaxDomainLength)) + 32;
        _cmd = new byte[reserve];
        _messages = new MessageBuffers(run.Templates, reserve);
        _ids = run.Ids?.NewWriter();
        _ring = new InFlight[Math.Max(_settings.Window, 2) + 1];
    }

    /// <summary>Connects and sends until the run has no more messages for this session (or it is stopped).</summary>
    public async Task RunAsync()
    {
        var backoff = 0;
        try
        {
            while (!_run.Stopping && (_hasHeld || !_run.Schedule.Exhausted))
            {
                var opened = false;
                try
                {
                    await OpenAsync();
                    opened = true;
                    backoff = 0;
                    _unreachableSince = 0;
                    await TransactAsync();
                    await QuitAsync();
                }
                catch (SendAbort abort) when (abort.Fatal)
                {
                    FailInFlight(FailureKind.Disconnect);
                    _run.SetFatal(abort.Message);
                    break;
                }
                catch (Exception e) when (IsConnectionError(e))
                {
                    var (kind, code) = Classify(e);
                    if (FailInFlight(kind) == 0 && !opened && RetryConnect())
                    {
                        // --retry-connect: the target is down (restarting); no message was at stake.
                        _run.ConnectRetried();
                    }
                    else if (!opened)
                    {
                        // The connection failed before any message: the message it was for counts as failed,
                        // which also bounds a run against a server that is down by --messages.
                        FailOneMessage(kind, code);
                        if (kind == FailureKind.Connect && !_run.EverConnected)
                        {
                            // Nothing listens there (a wrong port, a server not started): retrying until
                            // --messages or --duration runs out would only hide the mistake.
                            _run.SetFatal($"cannot connect to {_settings.Target}: {e.Message}");
                            break;
                        }
                    }

                    Close();
                    backoff = backoff == 0 ? 10 : Math.Min(backoff * 2, 250);
                    if (!_run.Schedule.Exhausted || _hasHeld)
                    {
                        await Task.Delay(backoff);
                    }
                }
                catch (Exception e)
                {
                    // A bug, not the server: stop the run and say what it was rather than count it as load.
                    FailInFlight(FailureKind.Protocol);
                    _run.SetFatal("internal error: " + e);
                    break;
                }
                finally
                {
                    Close();
                }
            }
        }
        finally
        {
            _ids?.Flush();
        }
    }

    public void Dispose()
    {
        Close();
        _parser.Dispose();
    }

    /// <summary>Called by the run's watchdog: aborts the connection when a read or write has waited past --timeout.</summary>
    public void CheckTimeout(long now, long timeoutTicks)
    {
        var since = Volatile.Read(ref _ioSince);
        if (since != 0 && now - since > timeoutTicks)
        {
            lock (_socketLock)
            {
                if (Volatile.Read(ref _ioSince) == since && _socket is { } socket)
                {
                    Volatile.Write(ref _timedOut, 1);
                    socket.Dispose();
                }
            }
        }
    }

    /// <summary>
    /// Whether a failed connect (or a connection lost before it was ready) is retried without costing a
    /// message: while the target has been unreachable for less than --retry-connect.
    /// </summary>
    private bool RetryConnect()
    {
        if (_settings.RetryConnect <= TimeSpan.Zero)
        {
            return false;
        }

        var now = Stopwatch.GetTimestamp();
        if (_unreachableSince == 0)
        {
            _unreachableSince = now;
        }

        return Stopwatch.GetElapsedTime(_unreachableSince, now) < _settings.RetryConnect;
    }

    private static bool IsConnectionError(Exception e) =>
        e is SendAbort or SocketException or IOException or ObjectDisposedException or OperationCanceledException or AuthenticationException;

    private (FailureKind Kind, int Code) Classify(Exception e) =>
        Volatile.Read(ref _timedOut) != 0 ? (FailureKind.Timeout, 0)
        : e switch
        {
            SendAbort a => (a.Kind, a.Code),
            AuthenticationException => (FailureKind.Tls, 0),
            _ => (FailureKind.Disconnect, 0),
        };

    /// <summary>A failed connect, greeting or handshake costs one message (the held one if any).</summary>
    private void FailOneMessage(FailureKind kind, int code)
    {
        if (_hasHeld)
        {
            _hasHeld = false;
        }
        else if (!_run.Schedule.TryClaim(out _, out _))
        {
            return;
        }

        _run.Stats.RecordFailed(kind, code);
        _run.Completed();
    }

    /// <summary>
    /// TCP connect, the 220 greeting, EHLO (HELO when EHLO is refused), STARTTLS (RFC 3207) and
    /// AUTH PLAIN (RFC 4954) as asked, then what this connection may do: pipelining (RFC 2920),
    /// chunking (RFC 3030) and SIZE (RFC 1870), from the EHLO reply after TLS (RFC 3207 4.2:
    /// what was learned before TLS is discarded).
    /// </summary>
    private async Task OpenAsync()
    {
        Volatile.Write(ref _timedOut, 0);
        _recvStart = _recvEnd = 0;
        _parser.Dispose();
        _parser = new SmtpReplyParser();
        var socket = new Socket(_settings.EndPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        lock (_socketLock)
        {
            _socket = socket;
        }

        using (var connectTimeout = new CancellationTokenSource(_settings.Timeout))
        {
            try
            {
                await socket.ConnectAsync(_settings.EndPoint, connectTimeout.Token);
            }
            catch (OperationCanceledException)
            {
                throw new SendAbort(FailureKind.Timeout, "connect timed out");
            }
            catch (SocketException e)
            {
                throw new SendAbort(FailureKind.Connect, e.Message);
            }
        }

        _stream = new NetworkStream(socket, ownsSocket: true);
        _run.ConnectionOpened();
        var code = await ReadReplyAsync();
        if (code != 220)
        {
            throw new SendAbort(FailureKind.Reply, "greeting " + code, code);
        }

        var extensions = await HelloAsync();
        if (_settings.StartTls)
        {
            if (!extensions.StartTls)
            {
                throw new SendAbort(FailureKind.Tls, $"--starttls: {_settings.Target} does not offer STARTTLS") { Fatal = true };
            }

            await WriteAsync(StartTlsCommand);
            code = await ReadReplyAsync();
            if (code != 220)
            {
                throw new SendAbort(FailureKind.Tls, "STARTTLS refused: " + code, code);
            }

            await StartTlsAsync();
            extensions = await HelloAsync();
        }

        if (_run.AuthCommand is { } auth)
        {
            if (!extensions.AuthMechanisms.Contains("PLAIN"))
            {
                throw new SendAbort(FailureKind.Reply, $"--auth: {_settings.Target} does not offer AUTH PLAIN{(_stream is SslStream ? "" : " before TLS (try --starttls)")}") { Fatal = true };
            }

            await WriteAsync(auth);
            code = await ReadReplyAsync();
            if (code == 535)
            {
                throw new SendAbort(FailureKind.Reply, "--auth: the credentials were refused (535)", code) { Fatal = true };
            }

            if (code != 235)
            {
                throw new SendAbort(FailureKind.Reply, "AUTH " + code, code);
            }
        }

        ConfigureTransactions(extensions);
    }

    /// <summary>EHLO, or HELO when the server refuses EHLO (RFC 5321 4.1.1.1), and what it offers.</summary>
    private async Task<SmtpExtensions> HelloAsync()
    {
        await WriteAsync(_run.EhloCommand);
        var code = await ReadReplyAsync();
        if (code == 250)
        {
            return SmtpExtensions.Parse(_parser.Current);
        }

        if (code is 500 or 502 or 504 or 550)
        {
            await WriteAsync(_run.HeloCommand);
            code = await ReadReplyAsync();
        }

        return code == 250 ? SmtpExtensions.None : throw new SendAbort(FailureKind.Reply, "HELO " + code, code);
    }

    /// <summary>
    /// RFC 3207: TLS over the same connection. A load tool does not check the server's certificate
    /// (any certificate is accepted): it measures a test server, it does not protect mail.
    /// </summary>
    private async Task StartTlsAsync()
    {
        if (_recvEnd != _recvStart)
        {
            // RFC 3207 5: anything after the 220 before the handshake would be an injection.
            throw new SendAbort(FailureKind.Protocol, "data after the STARTTLS reply");
        }

        var tls = new SslStream(_stream!, leaveInnerStreamOpen: false);
        _stream = tls;
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = _settings.Host,
#pragma warning disable CA5359 // A load tool accepts the test server's certificate, whatever it is (documented).
            RemoteCertificateValidationCallback = static (_, _, _, _) => true,
#pragma warning restore CA5359
        };
        Volatile.Write(ref _ioSince, Stopwatch.GetTimestamp());
        try
        {
            await tls.AuthenticateAsClientAsync(options);
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            throw new SendAbort(FailureKind.Tls, "TLS handshake: " + e.Message);
        }
        finally
        {
            Volatile.Write(ref _ioSince, 0);
        }
    }

    /// <summary>QUIT and its 221, best effort: the messages are done, a slow goodbye costs nothing.</summary>
    private async Task QuitAsync()
    {
        try
        {
            await WriteAsync(QuitCommand);
            await ReadReplyAsync();
        }
        catch (Exception e) when (IsConnectionError(e))
        {
        }
    }

    private void Close()
    {
        Socket? socket;
        lock (_socketLock)
        {
            socket = _socket;
            _socket = null;
        }

        var stream = _stream;
        _stream = null;
        try
        {
            stream?.Dispose();
        }
        catch (Exception e) when (IsConnectionError(e))
        {
        }

        socket?.Dispose();
        Volatile.Write(ref _ioSince, 0);
    }

    /// <summary>
    /// The next complete reply (RFC 5321 4.2), read through the pooled parser; its code. The hot
    /// loop inlines this (<c>while (!TryTakeReply(out code)) Filled(await ReadMore());</c>) so that it
    /// needs no state machine of its own.
    /// </summary>
    private async Task<int> ReadReplyAsync()
    {
        int code;
        while (!TryTakeReply(out code))
        {
            Filled(await ReadMore());
        }

        return code;
    }

    /// <summary>Starts a read into the free end of the receive buffer (moving what is kept to its start).</summary>
    private ValueTask<int> ReadMore()
    {
        if (_recvStart > 0)
        {
            _recv.AsSpan(_recvStart, _recvEnd - _recvStart).CopyTo(_recv);
            _recvEnd -= _recvStart;
            _recvStart = 0;
        }

        if (_recvEnd == _recv.Length)
        {
            throw new SendAbort(FailureKind.Protocol, "reply too long");
        }

        Volatile.Write(ref _ioSince, Stopwatch.GetTimestamp());
        return _stream!.ReadAsync(_recv.AsMemory(_recvEnd));
    }

    /// <summary>A read finished with <paramref name="n"/> bytes; none means the server closed the connection.</summary>
    private void Filled(int n)
    {
        Volatile.Write(ref _ioSince, 0);
        if (n == 0)
        {
            throw new SendAbort(FailureKind.Disconnect, "the server closed the connection");
        }

        _recvEnd += n;
    }

    private bool TryTakeReply(out int code)
    {
        code = 0;
        if (_recvEnd == _recvStart)
        {
            return false;
        }

        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(_recv, _recvStart, _recvEnd - _recvStart));
        var done = _parser.TryParse(ref reader, out var error);
        _recvStart += (int)reader.Consumed;
        if (_recvStart == _recvEnd)
        {
            _recvStart = _recvEnd = 0;
        }

        if (!done)
        {
            return false;
        }

        if (error != SmtpReplyError.None)
        {
            throw new SendAbort(FailureKind.Protocol, "unreadable reply: " + error);
        }

        code = _parser.Current.Code;
        return true;
    }

    /// <summary>Starts a write; the caller awaits it and calls <see cref="IoDone"/> (no state machine of its own).</summary>
    private ValueTask Write(ReadOnlyMemory<byte> bytes)
    {
        Volatile.Write(ref _ioSince, Stopwatch.GetTimestamp());
        return _stream!.WriteAsync(bytes);
    }

    private void IoDone() => Volatile.Write(ref _ioSince, 0);

    private async Task WriteAsync(ReadOnlyMemory<byte> bytes)
    {
        await Write(bytes);
        IoDone();
    }
}
