using System.Buffers;
using System.Buffers.Text;
using System.Diagnostics;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Tern.Load.Report;
using Tern.Smtp.Protocol;

namespace Tern.Load.Sink;

/// <summary>
/// One SMTP session of the sink (RFC 5321). The loop reads what is available, answers every command
/// in it (all pipelined commands, RFC 2920) into one output buffer and writes that buffer once, so a
/// pipelining client costs one read and one write per batch. Message content is scanned in place
/// (the terminator, the Message-ID) and discarded. Buffers are rented once per connection: a message
/// allocates nothing.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001", Justification = "The stream lives exactly as long as RunAsync, whose finally disposes it; Abort closes the socket from outside.")]
internal sealed class SinkConnection
{
    private const int InputSize = 64 * 1024;
    private const int OutputSize = 16 * 1024;

    /// <summary>Room kept free in the output before a command is answered (more than the longest reply).</summary>
    private const int OutputHeadroom = 1024;

    /// <summary>Longest command line accepted (RFC 5321 4.5.3.1.4 says 512; extensions make them longer).</summary>
    private const int MaxCommandLine = 4096;

    /// <summary>Accepted messages whose replies wait in the output (their latency is taken once written).</summary>
    private const int MaxPending = 64;

    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>A TLS alert record: type 21 (alert), version 3.3, length 2, level fatal (2), handshake_failure (40).</summary>
    private static readonly byte[] HandshakeFailureAlert = [21, 3, 3, 0, 2, 2, 40];

    private readonly SinkServer _server;
    private readonly SinkOptions _options;
    private readonly RunStats _stats;
    private readonly Socket _socket;
    private readonly FaultDice _dice;
    private readonly MessageIdScanner _messageId = new();
    private readonly ContentDigest _digest = new();
    private readonly byte[] _in;
    private readonly byte[] _out;
    private readonly byte[] _scratch;
    private readonly long[] _pendingStart = new long[MaxPending];
    private readonly long[] _pendingBytes = new long[MaxPending];
    private Stream _stream;
    private int _inStart;
    private int _inEnd;
    private int _outLength;
    private int _pending;
    private bool _batchHasFinal;
    private bool _skipping;
    private DataTerminatorScanner _terminator;

    private bool _greeted;
    private bool _tls;
    private bool _inMail;
    private int _recipients;
    private long _mailTimestamp;
    private long _messageBytes;
    private Mode _mode;
    private bool _bdatStarted;
    private long _bdatRemaining;
    private bool _bdatLast;
    private Refusal _bdatRefusal;

    public SinkConnection(SinkServer server, Socket socket, long number)
    {
        _server = server;
        _options = server.Options;
        _stats = server.Stats;
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _dice = new FaultDice(_options.Seed, number, _options.FailCodes);
        _in = ArrayPool<byte>.Shared.Rent(InputSize);
        _out = ArrayPool<byte>.Shared.Rent(OutputSize);
        _scratch = ArrayPool<byte>.Shared.Rent(MaxCommandLine);
    }

    private enum Mode : byte
    {
        Command,
        Data,
        Bdat,
    }

    /// <summary>What the loop does after <see cref="Process"/> stops.</summary>
    private enum Next : byte
    {
        Continue,
        Read,
        Write,
        Close,
        StartTls,
    }

    /// <summary>Why a BDAT chunk is read and then refused.</summary>
    private enum Refusal : byte
    {
        None,
        NoMail,
        NoRecipients,
    }

    /// <summary>Closes the connection from outside (the sink stops): pending reads and writes end.</summary>
    public void Abort()
    {
        try
        {
            _socket.Dispose();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public async Task RunAsync(CancellationToken stop)
    {
        try
        {
            _socket.NoDelay = true;
            Append(SinkReplies.Greeting);
            await WriteAsync(stop);
            while (!stop.IsCancellationRequested)
            {
                switch (Process())
                {
                    case Next.Read:
                        if (_outLength > 0)
                        {
                            await WriteAsync(stop);
                        }

                        Compact();
                        var n = await _stream.ReadAsync(_in.AsMemory(_inEnd, InputSize - _inEnd), CancellationToken.None);
                        if (n == 0)
                        {
                            PeerClosed();
                            return;
                        }

                        _inEnd += n;
                        break;
                    case Next.Write:
                        await WriteAsync(stop);
                        break;
                    case Next.Close:
                        await WriteAsync(stop);
                        return;
                    case Next.StartTls:
                        await WriteAsync(stop);
                        if (!await StartTlsAsync(stop))
                        {
                            return;
                        }

                        break;
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            PeerClosed();
        }
        finally
        {
            await _stream.DisposeAsync();
            ArrayPool<byte>.Shared.Return(_in);
            ArrayPool<byte>.Shared.Return(_out);
            ArrayPool<byte>.Shared.Return(_scratch);
        }
    }

    /// <summary>Answers as much of the buffered input as possible.</summary>
    private Next Process()
    {
        while (true)
        {
            if (_outLength > OutputSize - OutputHeadroom || _pending == MaxPending)
            {
                return Next.Write;
            }

            var available = _inEnd - _inStart;
            if (available == 0 && !(_mode == Mode.Bdat && _bdatRemaining == 0))
            {
                return Next.Read;
            }

            var next = _mode switch
            {
                Mode.Data => DataContent(available),
                Mode.Bdat => BdatContent(available),
                _ => CommandLine(available),
            };
            if (next != Next.Continue)
            {
                return next;
            }
        }
    }

    private Next CommandLine(int available)
    {
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(_in, _inStart, available));
        var status = SmtpCommandParser.TryReadLine(ref reader, _scratch.AsSpan(0, MaxCommandLine), out var line, ref _skipping);
        _inStart += (int)reader.Consumed;
        switch (status)
        {
            case LineStatus.NeedMoreData:
                return Next.Read;
            case LineStatus.TooLong:
                Append(SinkReplies.LineTooLong);
                return Next.Continue;
            default:
                return Command(line);
        }
    }

    private Next Command(ReadOnlySpan<byte> line)
    {
        var verb = SmtpCommandParser.ParseVerb(line, out var argument);
        switch (verb)
        {
            case SmtpVerb.Ehlo:
                ResetTransaction();
                _greeted = true;
                Append(_options.Tls && !_tls ? SinkReplies.EhloTls : SinkReplies.Ehlo);
                break;
            case SmtpVerb.Helo:
                ResetTransaction();
                _greeted = true;
                Append(SinkReplies.Helo);
                break;
            case SmtpVerb.Mail:
                Mail(argument);
                break;
            case SmtpVerb.Rcpt:
                Rcpt(argument);
                break;
            case SmtpVerb.Data:
                Data(argument);
                break;
            case SmtpVerb.Bdat:
                Bdat(argument);
                break;
            case SmtpVerb.Rset:
                ResetTransaction();
                Append(SinkReplies.Ok);
                break;
            case SmtpVerb.Noop:
                Append(SinkReplies.Ok);
                break;
            case SmtpVerb.Quit:
                Append(SinkReplies.Bye);
                return Next.Close;
            case SmtpVerb.Vrfy:
                Append(SinkReplies.Vrfy);
                break;
            case SmtpVerb.Help:
                Append(SinkReplies.Help);
                break;
            case SmtpVerb.StartTls:
                if (!_options.Tls)
                {
                    Append(SinkReplies.NoTls);
                }
                else if (_tls)
                {
                    Append(SinkReplies.AlreadyTls);
                }
                else if (!argument.IsEmpty)
                {
                    Append(SinkReplies.NoArguments);
                }
                else
                {
                    Append(SinkReplies.TlsReady);
                    return Next.StartTls;
                }

                break;
            case SmtpVerb.Expn or SmtpVerb.Auth:
                Append(SinkReplies.NotImplemented);
                break;
            default:
                Append(SinkReplies.Unrecognized);
                break;
        }

        return Next.Continue;
    }

    private void Mail(ReadOnlySpan<byte> argument)
    {
        if (!_greeted)
        {
            Append(SinkReplies.HeloFirst);
        }
        else if (_inMail)
        {
            Append(SinkReplies.NestedMail);
        }
        else if (!StartsWith(argument, "FROM:"u8))
        {
            Append(SinkReplies.MailSyntax);
        }
        else if (_dice.Roll(_options.FailMail))
        {
            Fail();
        }
        else
        {
            // Parameters (SIZE, BODY, SMTPUTF8, RET, ENVID) are accepted and ignored.
            _inMail = true;
            _recipients = 0;
            _messageBytes = 0;
            _mailTimestamp = Stopwatch.GetTimestamp();
            Append(SinkReplies.MailOk);
        }
    }

    private void Rcpt(ReadOnlySpan<byte> argument)
    {
        if (!_inMail)
        {
            Append(SinkReplies.MailFirst);
        }
        else if (!StartsWith(argument, "TO:"u8))
        {
            Append(SinkReplies.RcptSyntax);
        }
        else if (_dice.Roll(_options.FailRcpt))
        {
            Fail();
        }
        else
        {
            // NOTIFY and ORCPT (RFC 3461) are accepted and ignored.
            _recipients++;
            Append(SinkReplies.RcptOk);
        }
    }

    private void Data(ReadOnlySpan<byte> argument)
    {
        if (!argument.IsEmpty)
        {
            Append(SinkReplies.NoArguments);
        }
        else if (!_inMail)
        {
            Append(SinkReplies.MailFirst);
        }
        else if (_bdatStarted)
        {
            Append(SinkReplies.DataAfterBdat);
        }
        else if (_recipients == 0)
        {
            Append(SinkReplies.NoRecipients);
        }
        else
        {
            Append(SinkReplies.StartData);
            _mode = Mode.Data;
            _terminator.Reset();
            _messageId.Reset();
            _digest.Reset(dotStuffed: true);
        }
    }

    /// <summary>
    /// BDAT (RFC 3030 2): the chunk's bytes follow the command line at once and are read whether or
    /// not the command is accepted, since the client sends them without waiting (4.2).
    /// </summary>
    private void Bdat(ReadOnlySpan<byte> argument)
    {
        var space = argument.IndexOf((byte)' ');
        var sizeText = space < 0 ? argument : argument[..space];
        var rest = space < 0 ? default : argument[(space + 1)..].Trim((byte)' ');
        var last = rest.Length == 4 && System.Text.Ascii.EqualsIgnoreCase(rest, "LAST"u8);
        if (!Utf8Parser.TryParse(sizeText, out long size, out var used) || used != sizeText.Length || size < 0 || !(rest.IsEmpty || last))
        {
            // The size is unknown, so the chunk cannot be skipped: the client is out of step either way.
            Append(SinkReplies.BdatSyntax);
            return;
        }

        _bdatRefusal = !_inMail ? Refusal.NoMail : _recipients == 0 ? Refusal.NoRecipients : Refusal.None;
        if (_bdatRefusal == Refusal.None && !_bdatStarted)
        {
            _bdatStarted = true;
            _messageId.Reset();
            _digest.Reset(dotStuffed: false);
        }

        _bdatRemaining = size;
        _bdatLast = last;
        _mode = Mode.Bdat;
    }

    private Next DataContent(int available)
    {
        var piece = _in.AsSpan(_inStart, available);
        var end = _terminator.Scan(piece);
        if (end < 0)
        {
            _messageId.Feed(piece);
            _digest.Feed(piece);
            _messageBytes += piece.Length;
            _inStart = _inEnd;
            return Next.Read;
        }

        // The last three bytes are ".CRLF" (part of it may have come in an earlier piece).
        var content = Math.Max(0, end - 3);
        _messageId.Feed(piece[..content]);

        // The digest unstuffs and finds the end line itself (part of it may have come in an earlier piece).
        _digest.Feed(piece[..end]);
        _messageBytes += content;
        _inStart += end;
        _mode = Mode.Command;
        return EndOfMessage();
    }

    private Next BdatContent(int available)
    {
        var take = (int)Math.Min(_bdatRemaining, available);
        if (take > 0)
        {
            if (_bdatRefusal == Refusal.None)
            {
                _messageId.Feed(_in.AsSpan(_inStart, take));
                _digest.Feed(_in.AsSpan(_inStart, take));
                _messageBytes += take;
            }

            _inStart += take;
            _bdatRemaining -= take;
        }

        if (_bdatRemaining > 0)
        {
            return Next.Read;
        }

        _mode = Mode.Command;
        switch (_bdatRefusal)
        {
            case Refusal.NoMail:
                Append(SinkReplies.MailFirst);
                return Next.Continue;
            case Refusal.NoRecipients:
                ResetTransaction();
                Append(SinkReplies.NoRecipients);
                return Next.Continue;
        }

        if (!_bdatLast)
        {
            Append(SinkReplies.ChunkOk);
            return Next.Continue;
        }

        return EndOfMessage();
    }

    /// <summary>
    /// The message's content is complete: the per-message faults are drawn in a fixed order
    /// (disconnect, 421, failure) and only a message answered 250 is counted as accepted and written
    /// to the ids file.
    /// </summary>
    private Next EndOfMessage()
    {
        _messageId.Finish();
        var started = _mailTimestamp;
        var bytes = _messageBytes;
        ResetTransaction();
        _batchHasFinal = true;
        if (_dice.Roll(_options.Disconnect))
        {
            _stats.RecordFailed(FailureKind.Disconnect);
            return Next.Close;
        }

        if (_dice.Roll(_options.GoingAway))
        {
            _stats.RecordFailed(FailureKind.Reply, 421);
            Append(SinkReplies.GoingAway);
            return Next.Close;
        }

        if (_dice.Roll(_options.FailData))
        {
            Fail();
            return Next.Continue;
        }

        _server.Ids?.Write(_messageId.Id, _digest.Finish());
        _pendingStart[_pending] = started;
        _pendingBytes[_pending] = bytes;
        _pending++;
        Append(SinkReplies.Queued);
        return Next.Continue;
    }

    private void Fail()
    {
        var code = _dice.Code();
        _stats.RecordFailed(FailureKind.Reply, code);
        Append(_server.FailureReply(code));
    }

    private void ResetTransaction()
    {
        _inMail = false;
        _recipients = 0;
        _bdatStarted = false;
        _messageBytes = 0;
    }

    /// <summary>
    /// The client went away. A message whose content was coming in is counted as a disconnect
    /// failure; a client that quits between transactions without QUIT is not a failure.
    /// </summary>
    private void PeerClosed()
    {
        if (_mode != Mode.Command)
        {
            _mode = Mode.Command;
            _stats.RecordFailed(FailureKind.Disconnect);
        }
    }

    private async Task<bool> StartTlsAsync(CancellationToken stop)
    {
        // RFC 3207 5: whatever the client pipelined after STARTTLS came in the clear and is dropped.
        _inStart = _inEnd = 0;
        _greeted = false;
        ResetTransaction();
        if (_dice.Roll(_options.TlsFail))
        {
            _stats.RecordFailed(FailureKind.Tls);
            return false;
        }

        if (_dice.Roll(_options.TlsAbort))
        {
            // The handshake starts and fails: the ClientHello's first record is read, then answered
            // with a fatal handshake_failure alert (RFC 8446 6, RFC 5246 7.2) and the connection closed.
            _stats.RecordFailed(FailureKind.Tls);
            using var abortTimeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
            abortTimeout.CancelAfter(HandshakeTimeout);

            // The record header (5 bytes) is enough: what else came is never read.
            await _stream.ReadAtLeastAsync(_in.AsMemory(0, InputSize), 5, throwOnEndOfStream: false, abortTimeout.Token);
            await _stream.WriteAsync(HandshakeFailureAlert, abortTimeout.Token);
            return false;
        }

        var ssl = new SslStream(_stream, leaveInnerStreamOpen: false);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
        timeout.CancelAfter(HandshakeTimeout);
        try
        {
            await ssl.AuthenticateAsServerAsync(
                new SslServerAuthenticationOptions
                {
                    ServerCertificateContext = _server.Certificate,
                    EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                    ClientCertificateRequired = false,
                },
                timeout.Token);
        }
        catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException or SocketException)
        {
            _stats.RecordFailed(FailureKind.Tls);
            await ssl.DisposeAsync();
            _stream = Stream.Null;
            return false;
        }

        _stream = ssl;
        _tls = true;
        return true;
    }

    /// <summary>Writes the batch of replies (after the injected delay) and counts the messages it accepted.</summary>
    private async ValueTask WriteAsync(CancellationToken stop)
    {
        if (_outLength == 0)
        {
            return;
        }

        var delay = _options.Delay;
        if (_batchHasFinal)
        {
            delay += _options.DelayData;
        }

        if (delay > TimeSpan.Zero)
        {
            await Task.Delay(delay, stop);
        }

        await _stream.WriteAsync(_out.AsMemory(0, _outLength), CancellationToken.None);
        _outLength = 0;
        _batchHasFinal = false;
        if (_pending > 0)
        {
            var now = Stopwatch.GetTimestamp();
            for (var i = 0; i < _pending; i++)
            {
                _stats.RecordOk((long)Stopwatch.GetElapsedTime(_pendingStart[i], now).TotalMicroseconds, _pendingBytes[i]);
            }

            _server.Accepted(_pending);
            _pending = 0;
        }
    }

    private void Append(ReadOnlySpan<byte> reply)
    {
        reply.CopyTo(_out.AsSpan(_outLength));
        _outLength += reply.Length;
    }

    private void Compact()
    {
        if (_inStart == _inEnd)
        {
            _inStart = _inEnd = 0;
        }
        else if (_inStart > 0)
        {
            _in.AsSpan(_inStart, _inEnd - _inStart).CopyTo(_in);
            _inEnd -= _inStart;
            _inStart = 0;
        }
    }

    private static bool StartsWith(ReadOnlySpan<byte> text, ReadOnlySpan<byte> prefix) =>
        text.Length >= prefix.Length && System.Text.Ascii.EqualsIgnoreCase(text[..prefix.Length], prefix);
}
