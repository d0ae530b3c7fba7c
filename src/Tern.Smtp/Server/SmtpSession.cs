using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Tern.Smtp.Protocol;

namespace Tern.Smtp.Server;

/// <summary>
/// One SMTP connection: reads commands from the connection's pipe, answers them in order (pipelined
/// groups included, RFC 2920), streams message data to the store. One instance per connection; the
/// steady state of a session allocates nothing per command.
/// </summary>
internal sealed partial class SmtpSession : IDataSink, IDisposable
{
    private readonly SmtpServer _server;
    private readonly ListenerContext _listener;
    private readonly Socket _socket;
    private readonly SmtpEnvelope _envelope = new();
    private readonly byte[] _lineBuffer;
    private readonly byte[] _helo = new byte[255];
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Timer _timer;
    private Stream _stream;
    private PipeReader _reader;
    private PipeWriter _writer;
    private SessionState _state;
    private int _heloLength;
    private bool _esmtp;
    private bool _skippingLongLine;
    private int _errors;
    private int _junk;
    private bool _helloSeen;
    private long _waitStart;
    private long _dataStart;
    private long _dataBytes;
    private bool _lineDone = true;
    private bool _dataPhase;
    private int _messages;
    private volatile bool _timedOut;
    private volatile bool _stopRequested;
    private volatile bool _forceStop;
    private volatile bool _reading;
    private SmtpVerb _verb;

    public SmtpSession(SmtpServer server, ListenerContext listener, Socket socket, IPEndPoint remote, long id, string cid)
    {
        _server = server;
        _listener = listener;
        _socket = socket;
        Remote = remote;
        Id = id;
        Cid = cid;
        _lineBuffer = new byte[listener.Options.Limits.MaxCommandLine];
        _stream = new NetworkStream(socket, ownsSocket: true);
        (_reader, _writer) = CreatePipes(_stream);
        _timer = new Timer(static s => ((SmtpSession)s!).OnTimeout(), this, Timeout.Infinite, Timeout.Infinite);
        _envelope.Client = remote;
        _envelope.Listener = listener.Options.Name;
    }

    public long Id { get; }

    /// <summary>Connection id for logs (<c>cid=</c>).</summary>
    public string Cid { get; }

    public IPEndPoint Remote { get; }

    public Task Completion => _completion.Task;

    private SmtpLimits Limits => _listener.Options.Limits;

    private bool InTransaction => _state is SessionState.Mail or SessionState.Rcpt or SessionState.Data or SessionState.Bdat;

    public void Start() => _ = Task.Run(RunAsync);

    /// <summary>
    /// Asks the session to end: at once if it waits for a command outside a transaction (or
    /// <paramref name="force"/>), otherwise when the transaction in progress is over.
    /// </summary>
    public void RequestStop(bool force)
    {
        _stopRequested = true;
        _forceStop |= force;

        // Always wake a pending read; the loop decides (a transaction in flight goes on). Deciding
        // here from the session's flags would race with the session setting them.
        _reader.CancelPendingRead();
    }

    /// <summary>Closes the socket without a word (the peer did not read our 421 in time).</summary>
    public void Abort() => _socket.Dispose();

    /// <summary>Answers a connection over a limit with 421 and closes it.</summary>
    public Task RefuseAsync(ReadOnlySpan<byte> text)
    {
        WriteClosing("421 4.7.0 "u8, text);
        return RefuseCoreAsync();
    }

    void IDataSink.Write(ReadOnlySpan<byte> data) => _message?.Write(data);

    /// <summary>Releases the timer and the stream (CloseAsync does this at the end of every session).</summary>
    public void Dispose()
    {
        _timer.Dispose();
        _stream.Dispose();
        _message?.Dispose();
        _message = null;
    }

    // No zero-byte reads: on Linux .NET turns each into a 1-byte MSG_PEEK before the real recv, one
    // system call more per command (~4 per relayed message), for ~16 KiB less per idle connection
    // (HostileClientTests bounds that).
    private static (PipeReader, PipeWriter) CreatePipes(Stream stream) => (
        PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 16 * 1024, minimumReadSize: 2048, leaveOpen: true, useZeroByteReads: false)),
        PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 4096, leaveOpen: true)));

    private async Task RefuseCoreAsync()
    {
        try
        {
            _timer.Change(TimeSpan.FromSeconds(10), Timeout.InfiniteTimeSpan);
            await _writer.FlushAsync();
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The peer is gone already.
        }
        finally
        {
            await _timer.DisposeAsync();
            await _writer.CompleteAsync();
            await _reader.CompleteAsync();
            await _stream.DisposeAsync();
        }
    }

    private async Task RunAsync()
    {
        SmtpServerLog.Connected(_server.Log, Cid, _listener.Options.Name, Remote);
        try
        {
            if (_listener.Options.Kind == ListenerKind.Submissions && !await StartTlsAsync())
            {
                return;
            }

            _writer.Write(_listener.Replies.Greeting.AsSpan());
            await _writer.FlushAsync();
            await CommandLoopAsync();
        }
        catch (Exception e) when (IsConnectionError(e))
        {
            SmtpServerLog.ConnectionError(_server.Log, Cid, e.Message);
        }
        catch (Exception e)
        {
            _server.Panics.Inc();
            SmtpServerLog.Panic(_server.Log, e, Cid);
        }
        finally
        {
            await CloseAsync();
        }
    }

    private async Task CommandLoopAsync()
    {
        while (true)
        {
            if (_stopRequested && (!InTransaction || _forceStop))
            {
                await CloseWithAsync(Replies.ShuttingDownText);
                return;
            }

            var wait = NextWait();
            if (wait <= TimeSpan.Zero)
            {
                // Already past the deadline: answer the timeout here (a timer set to fire at once
                // could run before the read starts and tear the connection down without the 421).
                SmtpServerLog.Closing(_server.Log, Cid, "timeout");
                await CloseWithAsync(Replies.TimeoutText);
                return;
            }

            // While reading, a timeout cancels the read; anywhere else it tears the connection down.
            // Marked reading before the timer is set, so a timer firing at once still cancels the read.
            _reading = true;
            _timer.Change(wait, Timeout.InfiniteTimeSpan);
            var result = await _reader.ReadAsync();
            _reading = false;
            if (result.IsCanceled)
            {
                if (_timedOut)
                {
                    SmtpServerLog.Closing(_server.Log, Cid, "timeout");
                    await CloseWithAsync(Replies.TimeoutText);
                    return;
                }

                if (_stopRequested && (!InTransaction || _forceStop))
                {
                    await CloseWithAsync(Replies.ShuttingDownText);
                    return;
                }

                continue;
            }

            var buffer = result.Buffer;
            if (_auth is not null || StartsWithAuth(buffer))
            {
                // Password checks (PBKDF2, SCRAM) take milliseconds of CPU: off the socket's completion
                // thread, which the host lets run reads inline and which serves other connections too.
                // The buffer stays valid until AdvanceTo.
                await Task.Yield();
            }

            var action = Process(ref buffer);
            _reader.AdvanceTo(buffer.Start, action == SessionAction.None ? buffer.End : buffer.Start);

            switch (action)
            {
                case SessionAction.Commit:
                    // The data has all arrived: the commit (the store's fsync) is the server's time,
                    // not the client's, and must not be cut by the data deadline (a durable message
                    // without its 250 would be sent again). The reply is then written under DataTimeout.
                    _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                    var committed = await CommitAsync();
                    _timer.Change(Limits.DataTimeout, Timeout.InfiniteTimeSpan);
                    if (committed == SessionAction.Close)
                    {
                        await _writer.FlushAsync();
                        return;
                    }

                    break;
                case SessionAction.StartTls:
                    if (!await StartTlsAsync())
                    {
                        return;
                    }

                    continue;
                case SessionAction.Close:
                    await _writer.FlushAsync();
                    return;
                case SessionAction.Delay:
                    // Slow down password guessing: the failure reply waits (RFC 4954 leaves pacing to the server).
                    await Task.Delay(_pendingDelay, _server.Clock);
                    break;
            }

            if (action == SessionAction.None && result.IsCompleted)
            {
                // The client closed its side; nothing more can be answered.
                return;
            }

            if (action == SessionAction.None || !HasBufferedInput())
            {
                await _writer.FlushAsync();
            }
        }
    }

    private bool HasBufferedInput() => _reader.TryRead(out var peek) && ReturnPeek(peek);

    /// <summary>The buffered input starts with an AUTH command (RFC 4954), in any case.</summary>
    private static bool StartsWithAuth(in ReadOnlySequence<byte> buffer)
    {
        // Asked before every command: the common case is decided by the first segment alone.
        var first = buffer.FirstSpan;
        if (first.Length >= 5)
        {
            return System.Text.Ascii.EqualsIgnoreCase(first[..5], "AUTH "u8);
        }

        Span<byte> head = stackalloc byte[5];
        if (buffer.Length < head.Length)
        {
            return false;
        }

        buffer.Slice(0, head.Length).CopyTo(head);
        return System.Text.Ascii.EqualsIgnoreCase(head, "AUTH "u8);
    }

    private bool ReturnPeek(ReadResult peek)
    {
        var any = !peek.Buffer.IsEmpty;
        _reader.AdvanceTo(peek.Buffer.Start);
        if (peek.IsCanceled)
        {
            // TryRead consumed a timeout or stop request: raise it again for the next read.
            _reader.CancelPendingRead();
        }

        return any;
    }

    /// <summary>Handles every complete command (or data) in <paramref name="buffer"/>; stops at one that needs async work.</summary>
    private SessionAction Process(ref ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        var action = SessionAction.None;
        while (action == SessionAction.None && !reader.End)
        {
            if (_state == SessionState.Data)
            {
                if (!ProcessData(ref reader))
                {
                    break;
                }

                action = SessionAction.Commit;
                break;
            }

            if (_state == SessionState.Bdat)
            {
                action = ProcessBdat(ref reader);
                if (_state == SessionState.Bdat)
                {
                    break;
                }

                continue;
            }

            var status = SmtpCommandParser.TryReadLine(ref reader, _lineBuffer, out var line, ref _skippingLongLine);
            if (status == LineStatus.NeedMoreData)
            {
                break;
            }

            _lineDone = true;
            if (status == LineStatus.TooLong)
            {
                _verb = SmtpVerb.Unknown;
                action = Error(Replies.LineTooLong);
                continue;
            }

            if (_auth is not null)
            {
                TraceCommand(SmtpVerb.Auth, line);
                action = AuthResponse(line);
                continue;
            }

            action = HandleCommand(line);
        }

        buffer = buffer.Slice(reader.Position);
        return action;
    }

    /// <summary>
    /// The time left for the read about to start. A command line must be complete within
    /// CommandTimeout of the previous one being handled, however its bytes trickle in (slowloris);
    /// message data may idle DataTimeout per read and must all arrive within DataTimeout plus one second
    /// per MinDataRate bytes since the message's DATA or first BDAT, every chunk of it and the commands
    /// between chunks included (Postfix's smtpd_per_request_deadline and smtpd_min_data_rate; RFC 5321
    /// 4.5.3.2 sets the minimum times, not an unbounded sum of them).
    /// </summary>
    private TimeSpan NextWait()
    {
        var now = System.Diagnostics.Stopwatch.GetTimestamp();
        if (_state is SessionState.Data or SessionState.Bdat)
        {
            var left = DataTimeLeft(now);
            return left > Limits.DataTimeout ? Limits.DataTimeout : left;
        }

        if (_lineDone)
        {
            _lineDone = false;
            _waitStart = now;
        }

        var wait = Limits.CommandTimeout - System.Diagnostics.Stopwatch.GetElapsedTime(_waitStart, now);
        if (_dataPhase)
        {
            // Between two BDAT chunks of one message: the message's data deadline runs on.
            var left = DataTimeLeft(now);
            wait = left < wait ? left : wait;
        }

        return wait;
    }

    /// <summary>Starts the data deadline of a message (DATA, or its first BDAT chunk).</summary>
    private void StartDataPhase()
    {
        _dataPhase = true;
        _dataStart = System.Diagnostics.Stopwatch.GetTimestamp();
        _dataBytes = 0;
    }

    private TimeSpan DataTimeLeft(long now)
    {
        // Bytes past the size limit (read only to find the end) earn no more time: the whole data
        // phase stays bounded, and the sum cannot overflow.
        var earned = Math.Min(_dataBytes, Limits.MaxMessageSize);
        var total = Limits.DataTimeout + TimeSpan.FromSeconds((double)earned / Math.Max(1, Limits.MinDataRate));
        return total - System.Diagnostics.Stopwatch.GetElapsedTime(_dataStart, now);
    }

    private void OnTimeout()
    {
        _timedOut = true;
        if (!_reading)
        {
            // Stuck elsewhere, in practice writing to a peer that does not read its replies: a
            // write cannot be cancelled, so the connection is torn down (the flush then fails).
            Abort();
            return;
        }

        _reader.CancelPendingRead();
    }

    private Task CloseWithAsync(ReadOnlySpan<byte> text)
    {
        WriteClosing("421 4.4.2 "u8, text);
        return CloseWithCoreAsync();
    }

    private async Task CloseWithCoreAsync()
    {
        try
        {
            _timer.Change(TimeSpan.FromSeconds(10), Timeout.InfiniteTimeSpan);
            await _writer.FlushAsync();
        }
        catch (Exception e) when (IsConnectionError(e))
        {
            // Peer gone.
        }
    }

    private async Task CloseAsync()
    {
        _state = SessionState.Quit;
        _message?.Dispose();
        _message = null;
        await _timer.DisposeAsync();
        try
        {
            await _writer.CompleteAsync();
            await _reader.CompleteAsync();
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (IsConnectionError(e))
        {
            // Already closed by the peer.
        }
        finally
        {
            await _stream.DisposeAsync();
            _socket.Dispose();
            SmtpServerLog.Closed(_server.Log, Cid, _messages);
            _server.SessionEnded(this, _listener, Remote.Address);
            _completion.TrySetResult();
        }
    }

    private void WriteClosing(ReadOnlySpan<byte> codeAndStatus, ReadOnlySpan<byte> text)
    {
        _writer.Write(codeAndStatus);
        _writer.Write(_server.Hostname);
        _writer.Write(" "u8);
        _writer.Write(text);
        _writer.Write("\r\n"u8);
    }

    private static bool IsConnectionError(Exception e) =>
        e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or System.Security.Authentication.AuthenticationException
        || e.InnerException is SocketException;

    private enum SessionAction : byte
    {
        None,
        Commit,
        StartTls,
        Close,
        Delay,
    }
}
