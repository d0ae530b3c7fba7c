using System.Buffers;
using System.Diagnostics;
using Tern.Smtp.Protocol;

namespace Tern.Smtp.Server;

/// <summary>DATA and BDAT: message content streamed into the store, then committed before the reply.</summary>
internal sealed partial class SmtpSession
{
    private IMessageWriter? _message;
    private DataDecoder _decoder;
    private bool _bdatLast;
    private long _bdatRemaining;
    private bool _bdatDiscard;
    private bool _bdatStarted;
    private bool _bdatPreviousCr;
    private long _bdatSize;
    private DataProblems _bdatProblems;

    private SessionAction Data(ReadOnlySpan<byte> arg)
    {
        if (!arg.IsEmpty)
        {
            return Error(Replies.NoArguments);
        }

        if (_state != SessionState.Rcpt)
        {
            return Error(_state == SessionState.Mail ? Replies.NeedRcpt : _state == SessionState.Connected ? Replies.SendHeloFirst : Replies.NeedMail);
        }

        if (_bdatStarted)
        {
            return Error(Replies.DataAfterBdat);
        }

        if (_envelope.Body == BodyType.BinaryMime)
        {
            // RFC 3030 3: BINARYMIME content can only be sent with BDAT.
            return Error(Replies.BodyBinaryNeedsBdat);
        }

        BeginMessage();
        _decoder = new DataDecoder(Limits.MaxMessageSize, Limits.MaxDataLine);
        _state = SessionState.Data;

        // Here, not at the next read: data pipelined behind DATA is counted for the deadline.
        StartDataPhase();
        return Reply(Replies.StartData);
    }

    /// <summary>Feeds buffered input to the decoder; true when the terminating dot was seen.</summary>
    private bool ProcessData(ref SequenceReader<byte> reader)
    {
        while (!reader.End)
        {
            var span = reader.UnreadSpan;
            var ended = _decoder.Decode(span, this, out var consumed);
            TraceData(span[..consumed]);
            reader.Advance(consumed);
            _dataBytes += consumed;
            if (ended)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>BDAT size [LAST] (RFC 3030 2): the chunk is exactly size octets, no transparency.</summary>
    private SessionAction Bdat(ReadOnlySpan<byte> arg)
    {
        var space = arg.IndexOf((byte)' ');
        var sizeText = space < 0 ? arg : arg[..space];
        var last = false;
        if (space >= 0)
        {
            if (!Ascii.EqualsIgnoreCase(Ascii.TrimSpaces(arg[(space + 1)..]), "LAST"u8))
            {
                return Error(Replies.BdatSyntax);
            }

            last = true;
        }

        if (!Ascii.TryParseUInt64(sizeText, out var size) || size > long.MaxValue)
        {
            // Without a valid size the chunk cannot be skipped: the session is out of sync.
            if (Error(Replies.BdatSyntax) == SessionAction.None)
            {
                WriteClosing("421 4.5.0 "u8, "BDAT size unreadable, closing connection"u8);
            }

            return SessionAction.Close;
        }

        _bdatRemaining = (long)size;
        _bdatLast = last;
        _bdatDiscard = false;
        _pendingBdatError = null;
        if (_state is not SessionState.Rcpt)
        {
            // The chunk still arrives and must be read past (RFC 3030 2: the reply follows the data).
            _bdatDiscard = true;
            _pendingBdatError = _state is SessionState.Mail ? ReplyId.NeedRcpt : _state == SessionState.Connected ? ReplyId.SendHeloFirst : ReplyId.NeedMail;
        }
        else if (!_bdatStarted)
        {
            BeginMessage();
            _bdatStarted = true;
            _bdatSize = 0;
            _bdatProblems = DataProblems.None;
            _bdatPreviousCr = false;
        }

        if (!_dataPhase)
        {
            // One data deadline for all the chunks of a message (a chunk to be discarded has its own):
            // a fresh budget per chunk would let `BDAT 1` every few minutes hold the connection.
            StartDataPhase();
        }

        _stateBeforeBdat = _state;
        _state = SessionState.Bdat;
        return _bdatRemaining == 0 ? EndChunk() : SessionAction.None;
    }

    private ReplyId? _pendingBdatError;
    private SessionState _stateBeforeBdat;

    private SessionAction ProcessBdat(ref SequenceReader<byte> reader)
    {
        while (_bdatRemaining > 0 && !reader.End)
        {
            var span = reader.UnreadSpan;
            if (span.Length > _bdatRemaining)
            {
                span = span[..(int)_bdatRemaining];
            }

            if (!_bdatDiscard)
            {
                CheckChunk(span);
                _bdatSize += span.Length;
                if (_bdatSize > Limits.MaxMessageSize)
                {
                    _bdatProblems |= DataProblems.TooBig;
                }

                if (_bdatProblems == DataProblems.None)
                {
                    _message!.Write(span);
                }

                TraceData(span);
            }

            reader.Advance(span.Length);
            _bdatRemaining -= span.Length;
            _dataBytes += span.Length;
        }

        return _bdatRemaining == 0 ? EndChunk() : SessionAction.None;
    }

    /// <summary>Bare CR / bare LF inside a chunk (checked across chunk boundaries), and 8-bit content.</summary>
    private void CheckChunk(ReadOnlySpan<byte> span)
    {
        if (span.IsEmpty)
        {
            return;
        }

        if (_bdatPreviousCr && span[0] != '\n')
        {
            _bdatProblems |= DataProblems.BareLineEnding;
        }

        var i = 0;
        while (true)
        {
            var idx = span[i..].IndexOfAny((byte)'\r', (byte)'\n');
            if (idx < 0)
            {
                break;
            }

            var at = i + idx;
            if (span[at] == '\n')
            {
                if (at == 0 ? !_bdatPreviousCr : span[at - 1] != '\r')
                {
                    _bdatProblems |= DataProblems.BareLineEnding;
                }
            }
            else if (at + 1 < span.Length && span[at + 1] != '\n')
            {
                _bdatProblems |= DataProblems.BareLineEnding;
            }

            i = at + 1;
            if (i >= span.Length)
            {
                break;
            }
        }

        _bdatPreviousCr = span[^1] == '\r';
        if (!_envelope.EightBitData && span.IndexOfAnyInRange((byte)0x80, (byte)0xFF) >= 0)
        {
            _envelope.EightBitData = true;
        }
    }

    private SessionAction EndChunk()
    {
        if (_pendingBdatError is { } error)
        {
            _pendingBdatError = null;
            _state = _stateBeforeBdat;
            _dataPhase = false;
            return Error(ReplyFor(error));
        }

        if (_bdatLast)
        {
            if (_bdatPreviousCr)
            {
                _bdatProblems |= DataProblems.BareLineEnding;
            }

            return SessionAction.Commit;
        }

        _state = SessionState.Rcpt;
        Span<byte> reply = stackalloc byte[64];
        "250 2.0.0 "u8.CopyTo(reply);
        _bdatSize.TryFormat(reply[10..], out var n, default, System.Globalization.CultureInfo.InvariantCulture);
        " octets received\r\n"u8.CopyTo(reply[(10 + n)..]);
        return Reply(reply[..(10 + n + 18)]);
    }

    private void BeginMessage()
    {
        _message = _server.Store.Begin(_envelope);
        WriteReceivedHeader(_message);
    }

    /// <summary>End of DATA / BDAT LAST: refuse on a problem, else commit and answer 250 only when durable.</summary>
    // Pooled state machine: one commit per message must not allocate a Task.
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<SessionAction> CommitAsync()
    {
        var problems = _state == SessionState.Bdat ? _bdatProblems : _decoder.Problems;
        var size = _state == SessionState.Bdat ? _bdatSize : _decoder.Size;
        if (_state == SessionState.Data)
        {
            _envelope.EightBitData = _decoder.EightBit;
        }

        _verb = _state == SessionState.Bdat ? SmtpVerb.Bdat : SmtpVerb.Data;
        _state = SessionState.Greeted;
        _bdatStarted = false;
        _dataPhase = false;
        var message = _message!;
        _message = null;
        using (message)
        {
            if (problems != DataProblems.None)
            {
                // One reply for the most fundamental problem; the message is discarded.
                var (reply, reason) = (problems & DataProblems.TooBig) != 0 ? (ReplyId.SizeExceedsLimit, RejectReason.TooBig)
                    : (problems & DataProblems.BareLineEnding) != 0 ? (ReplyId.BareLineEnding, RejectReason.BareLineEnding)
                    : (ReplyId.DataLineTooLong, RejectReason.LineTooLong);
                _server.Metrics.Rejected(reason);
                SmtpServerLog.Rejected(_server.Log, Cid, reason.ToString());
                _envelope.Reset();
                return Error(ReplyFor(reply));
            }

            var started = Stopwatch.GetTimestamp();
            StoreStatus status;
            try
            {
                status = await message.CommitAsync(_envelope, CancellationToken.None);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                SmtpServerLog.StoreFailed(_server.Log, e, Cid);
                status = StoreStatus.TemporaryFailure;
            }

            _server.Metrics.CommitLatency.Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
            if (status == StoreStatus.EnvelopeTooLarge)
            {
                _server.Metrics.Rejected(RejectReason.TooManyRecipients);
                SmtpServerLog.Rejected(_server.Log, Cid, nameof(StoreStatus.EnvelopeTooLarge));
                _envelope.Reset();
                return Error(Replies.EnvelopeTooLarge);
            }

            if (status != StoreStatus.Stored)
            {
                _server.Metrics.Rejected(RejectReason.StoreFailure);
                _envelope.Reset();
                return Reply(Replies.StoreTemporaryFailure);
            }

            _messages++;
            _junk = 0;
            _helloSeen = false;
            _server.Metrics.Accepted.Inc();
            _server.Metrics.BytesReceived.Inc(size);
            LogAccepted(message, size);
            WriteAccepted(message.Id);
            _envelope.Reset();
            return SessionAction.None;
        }
    }

    private void WriteAccepted(ReadOnlySpan<byte> id)
    {
        _writer.Write("250 2.0.0 OK id="u8);
        _writer.Write(id);
        _writer.Write("\r\n"u8);
        _server.Metrics.Command(_verb, (byte)'2');
    }

    private void LogAccepted(IMessageWriter message, long size)
    {
        if (_server.Log.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Information))
        {
            SmtpServerLog.Accepted(
                _server.Log,
                Cid,
                System.Text.Encoding.ASCII.GetString(message.Id),
                System.Text.Encoding.UTF8.GetString(_envelope.Sender),
                _envelope.RecipientCount,
                size,
                _envelope.Tls);
        }
    }

    private void TraceData(ReadOnlySpan<byte> data)
    {
        if (!data.IsEmpty && _server.Log.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Trace))
        {
            SmtpServerLog.Data(_server.Log, Cid, new Observability.Logging.LogData(data.ToArray()));
        }
    }

    private static ReadOnlySpan<byte> ReplyFor(ReplyId id) => id switch
    {
        ReplyId.NeedRcpt => Replies.NeedRcpt,
        ReplyId.NeedMail => Replies.NeedMail,
        ReplyId.SendHeloFirst => Replies.SendHeloFirst,
        ReplyId.SizeExceedsLimit => Replies.SizeExceedsLimit,
        ReplyId.BareLineEnding => Replies.BareLineEnding,
        _ => Replies.DataLineTooLong,
    };

    /// <summary>Replies decided before they can be sent (spans cannot be stored in fields).</summary>
    private enum ReplyId : byte
    {
        NeedRcpt,
        NeedMail,
        SendHeloFirst,
        SizeExceedsLimit,
        BareLineEnding,
        DataLineTooLong,
    }
}
