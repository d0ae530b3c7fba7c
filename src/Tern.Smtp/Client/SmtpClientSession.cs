using System.Buffers;
using System.Buffers.Text;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Tern.Sasl;

namespace Tern.Smtp.Client;

/// <summary>
/// One SMTP client connection (RFC 5321), over a stream the caller has connected (directly,
/// through SOCKS5, ...): <see cref="OpenAsync"/> reads the greeting, says EHLO, starts TLS and
/// authenticates as the options say; <see cref="SendAsync"/> sends one message (several
/// transactions when recipient limits require) and may be called again while <see cref="CanSend"/>;
/// <see cref="QuitAsync"/> ends the session. Server replies and failures are results, not
/// exceptions; exceptions mean caller bugs. Not thread-safe: one operation at a time.
/// </summary>
/// <remarks>
/// Replies are parsed in place from the pipe (<see cref="SmtpReplyParser"/>) and commands are
/// composed in one reused buffer, so a command costs no allocation in the steady state; a reply is
/// copied out (<see cref="SmtpReply"/>) only when a result keeps it.
/// </remarks>
public sealed partial class SmtpClientSession : IAsyncDisposable
{
    private static readonly StreamPipeReaderOptions ReaderOptions = new(bufferSize: 8 * 1024, minimumReadSize: 1024, leaveOpen: true);
    private static readonly StreamPipeWriterOptions WriterOptions = new(minimumBufferSize: 4096, leaveOpen: true);

    private readonly SmtpClientOptions _options;
    private readonly ILogger _log;
    private readonly string _cid;
    private readonly SmtpReplyParser _parser;
    private readonly Tls.TrustStore? _trustStore;
    private readonly CancellationTokenSource _io = new();
    private readonly Timer _sessionTimer;
    private byte[] _command = ArrayPool<byte>.Shared.Rent(1024);
    private int _commandLength;
    private Stream _stream;
    private PipeReader _reader;
    private PipeWriter _writer;
    private State _state;
    private SmtpFailure? _failure;
    private int _cancelReason;
    private bool _firstReadAfterHandshake;
    private bool _needRset;
    private int _mailCommands;

    /// <summary>The message whose MAIL, RCPT and DATA went with the last end of data (RFC 2920 3.1), and its 8-bit flag.</summary>
    private SmtpMessage? _ahead;
    private bool _aheadEightBit;
    private int _aheadLimit;
    private string _ioError = string.Empty;
    private SaslChannel _saslChannel = SaslChannel.Plaintext;

    /// <summary>Starts a session on <paramref name="connection"/>, which it owns from now on (disposed at the end).</summary>
    /// <param name="connection">A connected stream (NetworkStream, or the caller's proxy stream), not yet TLS.</param>
    /// <param name="options">What to do; <see cref="SmtpClientOptions.Tls"/> is required unless TLS is off.</param>
    /// <param name="logger">Where the conversation is traced and events logged.</param>
    /// <param name="logId">An id for this session's log lines (cid=).</param>
    /// <param name="trustStore">Parsed CA bundles shared by the delivery machinery (null: the bundle is parsed per handshake).</param>
    public SmtpClientSession(Stream connection, SmtpClientOptions options, ILogger? logger = null, string? logId = null, Tls.TrustStore? trustStore = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(options);
        if (options.TlsMode != SmtpTlsMode.None && options.Tls is null)
        {
            throw new ArgumentException($"TLS mode {options.TlsMode} needs Tls options (server name, verification)", nameof(options));
        }

        if (string.IsNullOrEmpty(options.LocalHostname) || options.LocalHostname.AsSpan().ContainsAnyInRange('\0', ' ') || options.LocalHostname.Contains('\x7f', StringComparison.Ordinal))
        {
            throw new ArgumentException("LocalHostname must be a domain or address literal without spaces or controls (RFC 5321 4.1.1.1)", nameof(options));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxRecipientsPerTransaction, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.ChunkSize, 1, nameof(options));
        _options = options;
        _log = logger ?? NullLogger.Instance;
        _cid = logId ?? string.Empty;
        _trustStore = trustStore;
        _parser = new SmtpReplyParser(options.ReplyLimits);
        _stream = connection;
        (_reader, _writer) = CreatePipes(connection);

        // RFC 5321 4.5.3.2 bounds each step; this bounds them all together, so that a server that
        // answers each command just in time cannot hold the connection for ever.
        _sessionTimer = new Timer(static s => ((SmtpClientSession)s!).Cancel(CancelReason.Session), this, options.Timeouts.Session, Timeout.InfiniteTimeSpan);
    }

    private enum State : byte
    {
        /// <summary>OpenAsync not called yet.</summary>
        New,

        /// <summary>Open; a transaction may start.</summary>
        Ready,

        /// <summary>The server refused something the session needs (EHLO, STARTTLS under Required, AUTH): only QUIT is left.</summary>
        Failed,

        /// <summary>The connection is unusable (lost, timed out, 421, out of step): it is closed without QUIT.</summary>
        Broken,

        Closed,
    }

    private enum CancelReason
    {
        None = 0,
        Session = 1,
        Caller = 2,
    }

    /// <summary>What one read or write came to.</summary>
    private enum IoStatus : byte
    {
        Ok,
        Closed,
        Error,
        Timeout,
        SessionTimeout,
        Cancelled,
        Tls,
        Malformed,
    }

    /// <summary>What the session has learnt: extensions, TLS, verification, authentication.</summary>
    public SmtpSessionInfo Info { get; private set; } = new();

    /// <summary>Why the session cannot send (null while it can).</summary>
    public SmtpFailure? Failure => _failure;

    /// <summary>Transactions begun on this connection (MAIL commands sent).</summary>
    public int Transactions => _mailCommands;

    /// <summary>A transaction can start: the session is open and the server's MAILMAX (RFC 9422) is not reached.</summary>
    public bool CanSend => _state == State.Ready && (Info.Extensions.MailMax == 0 || _mailCommands < Info.Extensions.MailMax);

    /// <summary>
    /// Ends the session: QUIT (RFC 5321 4.1.1.10) when the connection is still in step, then
    /// closes it. Never throws for network trouble.
    /// </summary>
    public async Task QuitAsync(CancellationToken cancel = default)
    {
        TakeAhead(null);
        if (_state is State.New or State.Ready or State.Failed)
        {
            using var registration = Register(cancel);
            WriteCommand("QUIT"u8);
            var status = await CommandAsync(_options.Timeouts.Command);
            if (status != IoStatus.Ok && _log.IsEnabled(LogLevel.Debug))
            {
                SmtpClientLog.Failed(_log, _cid, SmtpStage.Quit, KindOf(status), _ioError);
            }
        }

        await CloseAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await CloseAsync();
        _parser.Dispose();
        var command = Interlocked.Exchange(ref _command, []);
        if (command.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(command);
        }

        _io.Dispose();
    }

    private static (PipeReader, PipeWriter) CreatePipes(Stream stream) =>
        (PipeReader.Create(stream, ReaderOptions), PipeWriter.Create(stream, WriterOptions));

    private async Task CloseAsync()
    {
        if (_state == State.Closed)
        {
            return;
        }

        _state = State.Closed;
        await _sessionTimer.DisposeAsync();

        // The stream goes first: completing the writer would otherwise try to flush what a failed
        // write left behind, and block on a peer that does not read.
        try
        {
            await _stream.DisposeAsync();
        }
        catch (Exception e) when (IsIoException(e))
        {
            // SslStream sends close_notify on dispose; the peer may be gone.
        }

        try
        {
            await _reader.CompleteAsync();
            await _writer.CompleteAsync();
        }
        catch (Exception e) when (IsIoException(e))
        {
            // Unflushed bytes to a closed stream.
        }
    }

    private CancellationTokenRegistration Register(CancellationToken cancel) =>
        cancel.CanBeCanceled ? cancel.UnsafeRegister(static s => ((SmtpClientSession)s!).Cancel(CancelReason.Caller), this) : default;

    private void Cancel(CancelReason reason)
    {
        Interlocked.CompareExchange(ref _cancelReason, (int)reason, 0);
        try
        {
            _io.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Disposed meanwhile: nothing to cancel.
        }
    }

    /// <summary>No timeout between operations: the caller decides how long a session idles.</summary>
    private void Disarm()
    {
        if (!_io.IsCancellationRequested)
        {
            _io.CancelAfter(Timeout.InfiniteTimeSpan);
        }
    }

    // ---- Commands ----------------------------------------------------------------------------

    private void BeginCommand(ReadOnlySpan<byte> text)
    {
        _commandLength = 0;
        Append(text);
    }

    private void Append(ReadOnlySpan<byte> text)
    {
        EnsureCommandCapacity(text.Length);
        text.CopyTo(_command.AsSpan(_commandLength));
        _commandLength += text.Length;
    }

    private void Append(string text)
    {
        EnsureCommandCapacity(Encoding.UTF8.GetMaxByteCount(text.Length));
        _commandLength += Encoding.UTF8.GetBytes(text, _command.AsSpan(_commandLength));
    }

    private void Append(long number)
    {
        EnsureCommandCapacity(20);
        Utf8Formatter.TryFormat(number, _command.AsSpan(_commandLength), out var written);
        _commandLength += written;
    }

    private void EnsureCommandCapacity(int more)
    {
        if (_commandLength + more + 2 <= _command.Length)
        {
            return;
        }

        var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_command.Length * 2, _commandLength + more + 2));
        _command.AsSpan(0, _commandLength).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(_command);
        _command = bigger;
    }

    /// <summary>Traces the composed command and puts it, with CRLF, into the output (not flushed).</summary>
    private void EndCommand(bool secret = false)
    {
        if (_log.IsEnabled(LogLevel.Trace))
        {
            var line = Encoding.UTF8.GetString(_command.AsSpan(0, _commandLength));
            if (secret)
            {
                SmtpClientLog.SecretCommand(_log, _cid, "AUTH", new Observability.Logging.LogSecret(line));
            }
            else
            {
                SmtpClientLog.Command(_log, _cid, line);
            }
        }

        _command[_commandLength++] = (byte)'\r';
        _command[_commandLength++] = (byte)'\n';
        _writer.Write(_command.AsSpan(0, _commandLength));
    }

    private void WriteCommand(ReadOnlySpan<byte> text)
    {
        BeginCommand(text);
        EndCommand();
    }

    /// <summary>Base64 of <paramref name="data"/> as the command (AUTH responses); "=" ... is the caller's business.</summary>
    private void AppendBase64(ReadOnlySpan<byte> data)
    {
        var length = Base64.GetMaxEncodedToUtf8Length(data.Length);
        EnsureCommandCapacity(length);
        Base64.EncodeToUtf8(data, _command.AsSpan(_commandLength), out _, out var written);
        _commandLength += written;
    }

    // ---- I/O ---------------------------------------------------------------------------------

    /// <summary>Flushes what was written, then reads the reply. A failed write still reads: the server may have said why (421) before closing.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<IoStatus> CommandAsync(TimeSpan timeout)
    {
        var flushed = await FlushAsync(timeout);
        if (flushed is IoStatus.Ok)
        {
            return await ReadReplyAsync(timeout);
        }

        if (flushed is IoStatus.Closed or IoStatus.Error or IoStatus.Tls)
        {
            var error = _ioError;
            var read = await ReadReplyAsync(timeout);
            if (read == IoStatus.Ok)
            {
                return read;
            }

            _ioError = error;
        }

        return flushed;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<IoStatus> FlushAsync(TimeSpan timeout)
    {
        try
        {
            _io.CancelAfter(timeout);
            await _writer.FlushAsync(_io.Token);
            return IoStatus.Ok;
        }
        catch (Exception e) when (IsIoException(e))
        {
            return IoFailure(e);
        }
    }

    /// <summary>Reads one complete reply into the parser (see <see cref="SmtpReplyParser.Current"/>).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<IoStatus> ReadReplyAsync(TimeSpan timeout)
    {
        try
        {
            _io.CancelAfter(timeout);
            while (true)
            {
                var result = await _reader.ReadAsync(_io.Token);
                var buffer = result.Buffer;
                var reader = new SequenceReader<byte>(buffer);
                if (_parser.TryParse(ref reader, out var error))
                {
                    // Examined only up to here: pipelined replies behind this one are read at once.
                    _reader.AdvanceTo(reader.Position);
                    if (error != SmtpReplyError.None)
                    {
                        _ioError = "malformed reply: " + error;
                        return IoStatus.Malformed;
                    }

                    _firstReadAfterHandshake = false;
                    TraceReply();
                    return IoStatus.Ok;
                }

                _reader.AdvanceTo(reader.Position, buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    _ioError = "connection closed by the server";
                    return _firstReadAfterHandshake ? IoStatus.Tls : IoStatus.Closed;
                }
            }
        }
        catch (Exception e) when (IsIoException(e))
        {
            return IoFailure(e);
        }
    }

    private void TraceReply()
    {
        if (!_log.IsEnabled(LogLevel.Trace))
        {
            return;
        }

        var reply = _parser.Current;
        for (var i = 0; i < reply.LineCount; i++)
        {
            var separator = i < reply.LineCount - 1 ? '-' : ' ';
            var text = Encoding.UTF8.GetString(reply.Line(i));
            if (reply.Code == 334)
            {
                // AUTH challenges: SCRAM's carry salts and the server signature; kept with the credentials.
                SmtpClientLog.SecretReply(_log, _cid, reply.Code, new Observability.Logging.LogSecret(text));
            }
            else
            {
                SmtpClientLog.Reply(_log, _cid, string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{reply.Code}{separator}{text}"));
            }
        }
    }

    private IoStatus IoFailure(Exception e)
    {
        _ioError = e.InnerException is { } inner && inner.Message != e.Message ? e.Message + ": " + inner.Message : e.Message;
        if (e is OperationCanceledException)
        {
            return (CancelReason)Volatile.Read(ref _cancelReason) switch
            {
                CancelReason.Session => IoStatus.SessionTimeout,
                CancelReason.Caller => IoStatus.Cancelled,
                _ => IoStatus.Timeout,
            };
        }

        // A TLS alert from the peer (e.g. it refused our certificate or the handshake outcome)
        // arrives on the first read after the handshake: a TLS failure of this attempt, reported
        // as such (mail-behaviour.md, TLS reporting), not a generic connection error.
        return _firstReadAfterHandshake ? IoStatus.Tls : IoStatus.Error;
    }

    private static bool IsIoException(Exception e) =>
        e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or AuthenticationException;

    // ---- Failures ----------------------------------------------------------------------------

    private static SmtpFailureKind KindOf(IoStatus status) => status switch
    {
        IoStatus.Timeout or IoStatus.SessionTimeout => SmtpFailureKind.Timeout,
        IoStatus.Cancelled => SmtpFailureKind.Cancelled,
        IoStatus.Tls => SmtpFailureKind.Tls,
        IoStatus.Malformed => SmtpFailureKind.Protocol,
        _ => SmtpFailureKind.ConnectionLost,
    };

    /// <summary>A failed read or write: always temporary, and the connection is done for.</summary>
    private SmtpFailure IoFailure(IoStatus status, SmtpStage stage)
    {
        if (status == IoStatus.Tls)
        {
            // Whatever command was waiting: the TLS session failed (a TLS report counts it as such).
            stage = SmtpStage.StartTls;
            Info = Info with { TlsError = _ioError };
            SmtpClientLog.TlsFailed(_log, _cid, _ioError);
        }

        var step = StageName(stage);
        var reply = status switch
        {
            IoStatus.Timeout => SmtpReply.Local(421, new EnhancedStatusCode(4, 4, 2), $"timed out {step}"),
            IoStatus.SessionTimeout => SmtpReply.Local(421, new EnhancedStatusCode(4, 4, 2), $"session time limit reached {step}"),
            IoStatus.Cancelled => SmtpReply.Local(421, new EnhancedStatusCode(4, 4, 2), $"cancelled {step}"),
            IoStatus.Tls => SmtpReply.Local(421, new EnhancedStatusCode(4, 7, 5), $"TLS failure after the handshake {step} (the server may have refused the TLS session): {_ioError}"),
            IoStatus.Malformed => SmtpReply.Local(421, new EnhancedStatusCode(4, 5, 0), $"{_ioError} {step}"),
            _ => SmtpReply.Local(421, new EnhancedStatusCode(4, 4, 2), $"{_ioError} {step}"),
        };
        var failure = new SmtpFailure(stage, SmtpOutcome.TemporaryFailure, reply, KindOf(status));
        Break(failure);
        return failure;
    }

    /// <summary>The server refused: 5xx permanent (except 552 to RCPT, RFC 5321 4.5.3.1.10), the rest temporary; 421 closes.</summary>
    private SmtpFailure ReplyFailure(SmtpStage stage, SmtpReply reply, bool softBounce = false)
    {
        var permanent = reply.Class == 5 && !softBounce && !(stage == SmtpStage.Rcpt && reply.Code == 552);
        var failure = new SmtpFailure(stage, permanent ? SmtpOutcome.PermanentFailure : SmtpOutcome.TemporaryFailure, reply, SmtpFailureKind.Reply);
        if (reply.Code == 421)
        {
            // RFC 5321 3.8: the server is closing the channel; nothing more can be said on it.
            Break(failure);
        }

        return failure;
    }

    /// <summary>The connection cannot be used any more; it is closed without QUIT.</summary>
    private void Break(SmtpFailure failure)
    {
        if (_state is State.Closed)
        {
            return;
        }

        if (_state != State.Broken)
        {
            _state = State.Broken;
            _failure = failure;
            if (_log.IsEnabled(LogLevel.Debug))
            {
                SmtpClientLog.Failed(_log, _cid, failure.Stage, failure.Kind, failure.Reply.ToString());
            }

            // Nothing more is said on this connection: a pipelined write still waiting for a
            // peer that stopped reading is abandoned now rather than at its timeout.
            Cancel(CancelReason.None);
        }
    }

    /// <summary>The session cannot go on, but the connection is in step: QUIT is still said.</summary>
    private void Fail(SmtpFailure failure)
    {
        if (_state is State.New or State.Ready)
        {
            _state = State.Failed;
            _failure = failure;
            if (_log.IsEnabled(LogLevel.Debug))
            {
                SmtpClientLog.Failed(_log, _cid, failure.Stage, failure.Kind, failure.Reply.ToString());
            }
        }
    }

    private static string StageName(SmtpStage stage) => stage switch
    {
        SmtpStage.Greeting => "waiting for the greeting",
        SmtpStage.Ehlo => "after EHLO/HELO",
        SmtpStage.StartTls => "after STARTTLS",
        SmtpStage.Auth => "during AUTH",
        SmtpStage.Mail => "after MAIL",
        SmtpStage.Rcpt => "after RCPT",
        SmtpStage.Data => "after DATA",
        SmtpStage.DataEnd => "after the message data",
        SmtpStage.Rset => "after RSET",
        SmtpStage.Quit => "after QUIT",
        _ => "while connecting",
    };
}
