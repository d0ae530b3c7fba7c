using System.Buffers;
using Microsoft.Extensions.Logging;
using Tern.Smtp.Protocol;

namespace Tern.Smtp.Client;

/// <summary>Mail transactions (RFC 5321 3.3): MAIL, RCPT..., DATA or BDAT, pipelined when offered (RFC 2920).</summary>
public sealed partial class SmtpClientSession
{
    /// <summary>Written between flushes while sending content: each flush is one "data block" of RFC 5321 4.5.3.2.5.</summary>
    private const int DataFlushSize = 64 * 1024;

    /// <summary>
    /// RCPTs of an envelope sent ahead at most. Its write is flushed before any reply is read: the replies to a few
    /// thousand commands could fill both sides' socket buffers and stall a server that stops reading to answer.
    /// </summary>
    private const int MaxRecipientsAhead = 100;

    /// <summary>
    /// Sends <paramref name="message"/> to all its recipients: one transaction, or several on this
    /// connection when the server's RCPTMAX, the configured maximum or a 452 to a later RCPT
    /// (RFC 5321 4.5.3.1.10) limit a transaction. Every recipient gets a result.
    /// </summary>
    public Task<SmtpTransactionResult> SendAsync(SmtpMessage message, CancellationToken cancel = default) => SendAsync(message, next: null, maxTransactions: 0, cancel);

    /// <summary>
    /// Sends <paramref name="message"/> like <see cref="SendAsync(SmtpMessage, CancellationToken)"/>, and may send
    /// the envelope of <paramref name="next"/> (MAIL, RCPT, DATA) in the same write as this message's end of data:
    /// RFC 2920 section 3.1 lets the message content open a group of pipelined commands, so the next transaction
    /// costs one round trip instead of two. It is sent ahead only when the server offers PIPELINING and the whole
    /// of <paramref name="next"/> fits one DATA transaction that nothing here would refuse.
    /// <see cref="SmtpTransactionResult.NextSentAhead"/> says whether it was; if so, the next call on this session
    /// must be <c>SendAsync(next, ...)</c> with that same instance. Anything else (another message, RSET, QUIT)
    /// closes the connection: the server may be waiting for that message's content, and no command leaves the
    /// data phase without delivering it.
    /// </summary>
    /// <param name="maxTransactions">The caller's limit of transactions on this connection: <paramref name="next"/> goes ahead only when
    /// its MAIL stays within it (0: only the server's MAILMAX limits).</param>
    public async Task<SmtpTransactionResult> SendAsync(SmtpMessage message, SmtpMessage? next, int maxTransactions, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.Recipients.Count == 0)
        {
            throw new ArgumentException("a message needs at least one recipient", nameof(message));
        }

        var ahead = TakeAhead(message);
        if (_state != State.Ready)
        {
            // A message whose envelope went ahead was lost with the connection at MAIL, like a
            // pooled connection that turns out closed: the caller may try it on a new one.
            var failure = _failure ?? NotOpen();
            return SmtpTransactionResult.Failed(message, ahead ? failure with { Stage = SmtpStage.Mail } : failure);
        }

        var eightBit = ahead ? _aheadEightBit : EightBit(message);
        if (!ahead && CheckBeforeMail(message, eightBit) is { } refused)
        {
            return SmtpTransactionResult.Failed(message, refused);
        }

        using var registration = Register(cancel);
        try
        {
            _aheadLimit = maxTransactions;
            var result = await SendCoreAsync(message, eightBit, next, ahead);
            if (_ahead is null)
            {
                return result;
            }

            if (_state == State.Ready)
            {
                return result with { NextSentAhead = true };
            }

            _ahead = null;
            return result;
        }
        finally
        {
            Disarm();
        }
    }

    private static bool EightBit(SmtpMessage message) =>
        message.EightBit || message.BodyType == BodyType.EightBitMime || message.Content.Span.IndexOfAnyInRange((byte)0x80, (byte)0xFF) >= 0;

    /// <summary>
    /// True when <paramref name="message"/> is the one whose envelope went ahead. An envelope sent ahead
    /// for another message leaves the server in a transaction this session cannot end: the connection is
    /// dropped (the server discards a transaction whose content never came, RFC 5321 section 3.3).
    /// </summary>
    private bool TakeAhead(SmtpMessage? message)
    {
        if (_ahead is not { } ahead)
        {
            return false;
        }

        _ahead = null;
        if (ReferenceEquals(ahead, message))
        {
            return true;
        }

        Break(new SmtpFailure(SmtpStage.Mail, SmtpOutcome.TemporaryFailure,
            SmtpReply.Local(421, new EnhancedStatusCode(4, 4, 2), "the envelope sent ahead was not followed by its message"), SmtpFailureKind.ConnectionLost));
        return false;
    }

    /// <summary>
    /// Whether the whole of <paramref name="next"/> can go ahead as one pipelined DATA transaction: PIPELINING,
    /// not BDAT, room under MAILMAX, its recipients within one transaction's limit, and none of the refusals
    /// <see cref="CheckBeforeMail"/> or the address checks would make before a command is sent.
    /// </summary>
    private bool CanSendAhead(SmtpMessage next, out bool eightBit)
    {
        eightBit = false;
        var e = Info.Extensions;
        if (!e.Pipelining || next.BodyType == BodyType.BinaryMime || (_options.PreferChunking && e.Chunking)
            || (e.MailMax > 0 && _mailCommands >= e.MailMax) || (_aheadLimit > 0 && _mailCommands >= _aheadLimit)
            || next.Recipients.Count == 0 || next.Recipients.Count > Math.Min(RecipientLimit, MaxRecipientsAhead))
        {
            return false;
        }

        for (var i = 0; i < next.Recipients.Count; i++)
        {
            // By index: foreach over the interface would allocate an enumerator per message.
            if (HasControl(next.Recipients[i].Address))
            {
                return false;
            }
        }

        eightBit = EightBit(next);
        return CheckBeforeMail(next, eightBit) is null;
    }

    /// <summary>Recipients in one transaction at most: ours, or the server's RCPTMAX when lower.</summary>
    private int RecipientLimit => Info.Extensions.RcptMax > 0 ? Math.Min(_options.MaxRecipientsPerTransaction, Info.Extensions.RcptMax) : _options.MaxRecipientsPerTransaction;

    private static SmtpFailure NotOpen() => new(
        SmtpStage.Connect,
        SmtpOutcome.TemporaryFailure,
        SmtpReply.Local(421, new EnhancedStatusCode(4, 4, 2), "the session is not open"),
        SmtpFailureKind.ConnectionLost);

    private static SmtpFailure Policy(int code, EnhancedStatusCode status, string text) => new(
        SmtpStage.Mail,
        code >= 500 ? SmtpOutcome.PermanentFailure : SmtpOutcome.TemporaryFailure,
        SmtpReply.Local(code, status, text),
        SmtpFailureKind.Policy);

    /// <summary>What can be decided from the EHLO reply alone, before any command is sent.</summary>
    private SmtpFailure? CheckBeforeMail(SmtpMessage message, bool eightBit)
    {
        var e = Info.Extensions;
        if (message.RequireTls)
        {
            // RFC 8689 4.1: only over TLS with a verified certificate (PKIX or DANE) to a server
            // that offers REQUIRETLS; otherwise 5.7.30. Another MX may qualify: the delivery layer
            // makes this final only when none does.
            var verified = Info.Tls && Info.Verification is { } v && (v.PkixValid || v.DaneValid == true);
            if (!verified || !e.RequireTls)
            {
                var why = !Info.Tls ? "no TLS" : !verified ? "the server's certificate is not verified" : "the server does not offer REQUIRETLS";
                return Policy(550, new EnhancedStatusCode(5, 7, 30), "REQUIRETLS support required, " + why);
            }
        }

        if (message.BodyType == BodyType.BinaryMime && !(e.Chunking && e.BinaryMime))
        {
            // RFC 3030 3: binary content goes only with BDAT to a server offering BINARYMIME.
            return Policy(554, new EnhancedStatusCode(5, 6, 3), "binary (BINARYMIME) content and the server does not offer CHUNKING and BINARYMIME");
        }

        if (message.SmtpUtf8 && !e.SmtpUtf8)
        {
            // RFC 6531 forbids sending it to a server without SMTPUTF8. Like mox, Tern defers rather
            // than bounces: another MX of the domain, or this one later (a filtering front end, a
            // server farm being upgraded), may offer it. Postfix bounces at once with 5.6.7.
            // X.6.7 when an address needs it, else X.6.9 (the RFC 6531/6533 codes).
            var address = !Ascii7(message.Sender) || message.Recipients.Any(r => !Ascii7(r.Address));
            return Policy(451, new EnhancedStatusCode(4, 6, (short)(address ? 7 : 9)), "the message needs SMTPUTF8 and the server does not offer it");
        }

        if (eightBit && !e.EightBitMime && _options.Strict8BitMime)
        {
            // RFC 6152 3: 8-bit content needs 8BITMIME. Lenient mode sends it anyway (most servers take it).
            return Policy(554, new EnhancedStatusCode(5, 6, 3), "8-bit message and the server does not offer 8BITMIME");
        }

        if (e.MaxSize > 0 && message.Content.Length > e.MaxSize)
        {
            // RFC 1870 6: a message over the declared maximum will not be accepted.
            return Policy(552, new EnhancedStatusCode(5, 3, 4), $"message size {message.Content.Length} exceeds the server's limit of {e.MaxSize}");
        }

        return HasControl(message.Sender)
            ? Policy(553, new EnhancedStatusCode(5, 1, 7), "sender address has control characters")
            : null;
    }

    private static bool Ascii7(string s) => !s.AsSpan().ContainsAnyExceptInRange('\0', '\x7f');

    /// <summary>CR, LF or other controls in an address would end the command early (command injection).</summary>
    private static bool HasControl(string s) => s.AsSpan().ContainsAnyInRange('\0', '\x1f') || s.Contains('\x7f', StringComparison.Ordinal);

    /// <param name="next">A message whose envelope may go with this one's end of data.</param>
    /// <param name="ahead">This message's envelope already went with the previous message's end of data.</param>
    private async Task<SmtpTransactionResult> SendCoreAsync(SmtpMessage message, bool eightBit, SmtpMessage? next, bool ahead)
    {
        var results = new SmtpRecipientResult?[message.Recipients.Count];
        var pending = new List<int>(results.Length);
        for (var i = 0; i < results.Length; i++)
        {
            if (HasControl(message.Recipients[i].Address))
            {
                results[i] = new SmtpRecipientResult(message.Recipients[i], SmtpOutcome.PermanentFailure, SmtpStage.Rcpt,
                    SmtpReply.Local(553, new EnhancedStatusCode(5, 1, 3), "recipient address has control characters"), SmtpFailureKind.Policy);
            }
            else
            {
                pending.Add(i);
            }
        }

        SmtpFailure? failure = null;
        var transactions = 0;
        var useBdat = message.BodyType == BodyType.BinaryMime || (_options.PreferChunking && Info.Extensions.Chunking);
        while (pending.Count > 0)
        {
            SmtpFailure? stop = null;
            if (_state != State.Ready)
            {
                stop = _failure ?? NotOpen();
            }
            else if (ahead)
            {
                // Its MAIL is sent and counted already (MAILMAX was checked then); no RSET is due.
            }
            else if (!CanSend)
            {
                // RFC 9422 section 5 (MAILMAX): no more transactions on this connection; the rest
                // can go on a new one at once.
                stop = Policy(451, new EnhancedStatusCode(4, 5, 3), $"the server's limit of {Info.Extensions.MailMax} transactions per connection is reached");
            }
            else if (_needRset && await RsetAsync() is { } rsetFailure)
            {
                stop = rsetFailure;
            }

            if (stop is not null)
            {
                Fill(message, results, pending, stop);
                failure ??= stop;
                break;
            }

            var batch = pending.GetRange(0, Math.Min(RecipientLimit, pending.Count));
            pending.RemoveRange(0, batch.Count);
            transactions++;
            var outcome = await TransactionAsync(message, eightBit, useBdat, batch, results, pending.Count == 0 ? next : null, ahead);
            ahead = false;
            failure = outcome.Failure ?? failure;
            if (outcome.StopWith is { } stopWith)
            {
                Fill(message, results, pending, stopWith);
                break;
            }

            if (outcome.Deferred.Count > 0)
            {
                SmtpClientLog.RecipientsDeferred(_log, _cid, outcome.Deferred.Count, outcome.DeferredCode);
                pending.InsertRange(0, outcome.Deferred);
            }
        }

        // The message as a whole failed only when nobody got it.
        if (results.Any(r => r!.Outcome == SmtpOutcome.Delivered))
        {
            failure = null;
        }
        else if (failure is null && results[^1] is { } last)
        {
            failure = new SmtpFailure(last.Stage, last.Outcome, last.Reply, last.Kind);
        }

        return new SmtpTransactionResult(results!, failure, transactions);
    }

    private static void Fill(SmtpMessage message, SmtpRecipientResult?[] results, IEnumerable<int> indices, SmtpFailure failure)
    {
        foreach (var i in indices)
        {
            results[i] ??= new SmtpRecipientResult(message.Recipients[i], failure.Outcome, failure.Stage, failure.Reply, failure.Kind);
        }
    }

    /// <summary>
    /// RSET (RFC 5321 4.1.1.5) on an idle session, to find out before reusing it whether the
    /// server still listens (an idle connection may have been closed by its timeout). False when
    /// the session cannot send (see <see cref="Failure"/>); then close it with <see cref="QuitAsync"/>.
    /// </summary>
    public async Task<bool> ResetAsync(CancellationToken cancel = default)
    {
        TakeAhead(null);
        if (_state != State.Ready)
        {
            return false;
        }

        using var registration = Register(cancel);
        try
        {
            return await RsetAsync() is null && CanSend;
        }
        finally
        {
            Disarm();
        }
    }

    /// <summary>RSET before a transaction when the last one did not end with the reply to its data (RFC 5321 4.1.1.5).</summary>
    private async Task<SmtpFailure?> RsetAsync()
    {
        WriteCommand("RSET"u8);
        var status = await CommandAsync(_options.Timeouts.Command);
        if (status != IoStatus.Ok)
        {
            return IoFailure(status, SmtpStage.Rset);
        }

        if (_parser.Current.Class != 2)
        {
            // Out of step, or closing: nothing more goes on this connection.
            var failure = new SmtpFailure(SmtpStage.Rset, SmtpOutcome.TemporaryFailure, _parser.ToReply(), SmtpFailureKind.Reply);
            Break(failure);
            return failure;
        }

        _needRset = false;
        return null;
    }

    /// <summary>What one transaction left to do.</summary>
    /// <param name="Failure">The transaction's own result when it delivered nothing (MAIL refused, the last RCPT refusal, the data refused, a lost connection).</param>
    /// <param name="StopWith">Non-null: nothing more can be tried on this connection; the recipients not tried yet get this.</param>
    /// <param name="Deferred">Recipients refused with 452/552 after another was accepted: for the next transaction.</param>
    /// <param name="DeferredCode">The code that deferred them (for the log).</param>
    private sealed record TransactionOutcome(SmtpFailure? Failure, SmtpFailure? StopWith, List<int> Deferred, int DeferredCode)
    {
        public static TransactionOutcome Stop(SmtpFailure failure) => new(failure, failure, [], 0);

        public static TransactionOutcome Done(Batch batch, SmtpFailure? failure) => new(failure, null, batch.Deferred, batch.DeferredCode);
    }

    /// <summary>Bookkeeping of one transaction's recipients.</summary>
    private sealed class Batch(SmtpMessage message, List<int> indices, SmtpRecipientResult?[] results)
    {
        public List<int> Indices { get; } = indices;

        public List<int> Accepted { get; } = [];

        public List<int> Deferred { get; } = [];

        public int DeferredCode { get; set; }

        /// <summary>The last RCPT refusal: the transaction's result when nobody was accepted.</summary>
        public SmtpFailure? LastRefusal { get; set; }

        public void Set(int index, SmtpOutcome outcome, SmtpStage stage, SmtpReply reply, SmtpFailureKind kind) =>
            results[index] = new SmtpRecipientResult(message.Recipients[index], outcome, stage, reply, kind);

        /// <summary>
        /// The transaction is lost: every recipient of it without a reply of its own (accepted
        /// ones, deferred ones, those not answered yet) gets <paramref name="failure"/>.
        /// </summary>
        public TransactionOutcome Lose(SmtpFailure failure)
        {
            foreach (var i in Indices)
            {
                if (results[i] is null || Accepted.Contains(i))
                {
                    Set(i, failure.Outcome, failure.Stage, failure.Reply, failure.Kind);
                }
            }

            Deferred.Clear();
            return TransactionOutcome.Stop(failure);
        }

        public void Delivered(SmtpReply reply)
        {
            foreach (var i in Accepted)
            {
                Set(i, SmtpOutcome.Delivered, SmtpStage.DataEnd, reply, SmtpFailureKind.Reply);
            }
        }

        /// <summary>The data was refused: the accepted recipients get the refusal; deferred ones stay for the next transaction.</summary>
        public void Refused(SmtpFailure failure)
        {
            foreach (var i in Accepted)
            {
                Set(i, failure.Outcome, failure.Stage, failure.Reply, failure.Kind);
            }
        }
    }

    /// <param name="next">A message whose envelope may go with this transaction's end of data (it is the message's last).</param>
    /// <param name="ahead">The envelope (MAIL, every RCPT of <paramref name="indices"/>, DATA) was sent already.</param>
    private async Task<TransactionOutcome> TransactionAsync(SmtpMessage message, bool eightBit, bool useBdat, List<int> indices, SmtpRecipientResult?[] results, SmtpMessage? next, bool ahead)
    {
        var batch = new Batch(message, indices, results);
        _needRset = true;

        TransactionOutcome? outcome;
        if (ahead)
        {
            outcome = await AheadRepliesAsync(batch);
        }
        else if (Info.Extensions.Pipelining)
        {
            // RFC 2920 3.1: MAIL, every RCPT and DATA go in one group; the replies come in order.
            WriteEnvelope(message, eightBit, indices, data: !useBdat);

            // Written while the replies are read, so that a long recipient list cannot deadlock
            // against a server that answers before reading everything. Nothing else is written
            // until this flush is over.
            var flush = FlushAsync(_options.Timeouts.Mail);
            var (decided, endEmptyData) = await PipelinedRepliesAsync(batch, useBdat);
            var flushed = await flush;
            if (endEmptyData && _state != State.Broken)
            {
                await EndEmptyDataAsync();
            }

            if (decided is not null)
            {
                if (flushed != IoStatus.Ok)
                {
                    IoFailure(flushed, SmtpStage.Mail);
                }

                return decided;
            }

            if (flushed != IoStatus.Ok)
            {
                return batch.Lose(IoFailure(flushed, SmtpStage.Data));
            }

            outcome = null;
        }
        else
        {
            WriteMail(message, eightBit);
            _mailCommands++;
            outcome = await LockStepCommandsAsync(message, batch, useBdat);
        }

        if (outcome is not null)
        {
            return outcome;
        }

        outcome = useBdat ? await SendBdatAsync(message, batch) : await SendDataAsync(message, batch, next);
        return outcome ?? TransactionOutcome.Done(batch, null);
    }

    /// <summary>MAIL, the RCPTs of <paramref name="indices"/> and (unless BDAT follows) DATA, written as one pipelined group.</summary>
    /// <param name="indices">The recipients (by index) this transaction carries; null: all of them.</param>
    private void WriteEnvelope(SmtpMessage message, bool eightBit, List<int>? indices, bool data)
    {
        WriteMail(message, eightBit);
        _mailCommands++;
        var count = indices?.Count ?? message.Recipients.Count;
        for (var j = 0; j < count; j++)
        {
            WriteRcpt(message, message.Recipients[indices?[j] ?? j]);
        }

        if (data)
        {
            WriteCommand("DATA"u8);
        }
    }

    /// <summary>
    /// The replies to an envelope that went ahead with the previous message's end of data: read like
    /// any pipelined group's. Its write was flushed with that message's content, and nothing of this
    /// message's was written since, so there is nothing to wait for but the replies.
    /// </summary>
    private async Task<TransactionOutcome?> AheadRepliesAsync(Batch batch)
    {
        var (decided, endEmptyData) = await PipelinedRepliesAsync(batch, useBdat: false);
        if (endEmptyData && _state != State.Broken)
        {
            await EndEmptyDataAsync();
        }

        return decided;
    }

    /// <summary>
    /// Reads the replies to a pipelined MAIL, RCPTs and DATA. Outcome null: the content is to be
    /// sent (some recipient accepted, and 354 to DATA or BDAT next). endEmptyData: DATA got 354
    /// although nobody was accepted; the caller sends "." once its flush is over.
    /// </summary>
    private async Task<(TransactionOutcome? Outcome, bool EndEmptyData)> PipelinedRepliesAsync(Batch batch, bool useBdat)
    {
        var status = await ReadReplyAsync(_options.Timeouts.Mail);
        if (status != IoStatus.Ok)
        {
            return (batch.Lose(IoFailure(status, SmtpStage.Mail)), false);
        }

        if (_parser.Current.Class != 2)
        {
            // The MAIL refusal decides, whatever follows. Outlook, for one, answers 550 to MAIL
            // from a blocklisted address and closes: the RCPT and DATA replies never come, and
            // that must not turn the permanent 550 into a temporary "connection lost".
            var refused = ReplyFailure(SmtpStage.Mail, _parser.ToReply());
            var dataAccepted = await DrainAsync(batch.Indices.Count + (useBdat ? 0 : 1), dataLast: !useBdat);
            return (batch.Lose(refused), dataAccepted);
        }

        for (var k = 0; k < batch.Indices.Count; k++)
        {
            status = await ReadReplyAsync(_options.Timeouts.Rcpt);
            if (status != IoStatus.Ok)
            {
                return (batch.Lose(IoFailure(status, SmtpStage.Rcpt)), false);
            }

            if (RcptReply(batch, batch.Indices[k]) is { } closing)
            {
                return (batch.Lose(closing), false);
            }
        }

        if (useBdat)
        {
            return (batch.Accepted.Count > 0 ? null : TransactionOutcome.Done(batch, batch.LastRefusal), false);
        }

        status = await ReadReplyAsync(_options.Timeouts.DataInitiation);
        if (status != IoStatus.Ok)
        {
            var lost = IoFailure(status, SmtpStage.Data);
            if (batch.Accepted.Count == 0 && batch.LastRefusal is { } refusal)
            {
                // Every RCPT was refused and the server hung up instead of answering DATA: the
                // last RCPT reply is what happened, not the lost connection (mail-behaviour.md).
                return (new TransactionOutcome(refusal, lost, [], 0), false);
            }

            return (batch.Lose(lost), false);
        }

        var code = _parser.Current.Code;
        if (batch.Accepted.Count == 0)
        {
            // RFC 2920 3.1: a server may accept DATA with no valid recipient; "." alone then
            // keeps the session in step and delivers nothing.
            return (TransactionOutcome.Done(batch, batch.LastRefusal), code == 354);
        }

        return (code == 354 ? null : DataRefused(batch), false);
    }

    /// <summary>MAIL, then RCPT by RCPT, then DATA, each waiting for its reply.</summary>
    private async Task<TransactionOutcome?> LockStepCommandsAsync(SmtpMessage message, Batch batch, bool useBdat)
    {
        var status = await CommandAsync(_options.Timeouts.Mail);
        if (status != IoStatus.Ok)
        {
            return batch.Lose(IoFailure(status, SmtpStage.Mail));
        }

        if (_parser.Current.Class != 2)
        {
            return batch.Lose(ReplyFailure(SmtpStage.Mail, _parser.ToReply()));
        }

        for (var k = 0; k < batch.Indices.Count; k++)
        {
            var index = batch.Indices[k];
            WriteRcpt(message, message.Recipients[index]);
            status = await CommandAsync(_options.Timeouts.Rcpt);
            if (status != IoStatus.Ok)
            {
                return batch.Lose(IoFailure(status, SmtpStage.Rcpt));
            }

            if (RcptReply(batch, index) is { } closing)
            {
                return batch.Lose(closing);
            }

            if (batch.Deferred.Count > 0)
            {
                // The server's recipient limit is reached: the rest wait for the next transaction unasked.
                batch.Deferred.AddRange(batch.Indices.Skip(k + 1));
                break;
            }
        }

        if (batch.Accepted.Count == 0)
        {
            return TransactionOutcome.Done(batch, batch.LastRefusal);
        }

        if (useBdat)
        {
            return null;
        }

        WriteCommand("DATA"u8);
        status = await CommandAsync(_options.Timeouts.DataInitiation);
        if (status != IoStatus.Ok)
        {
            return batch.Lose(IoFailure(status, SmtpStage.Data));
        }

        return _parser.Current.Code == 354 ? null : DataRefused(batch);
    }

    /// <summary>
    /// One RCPT reply. Returns a failure only for 421 (the server is closing; everything still
    /// open fails with it).
    /// </summary>
    private SmtpFailure? RcptReply(Batch batch, int index)
    {
        var reply = _parser.Current;
        if (reply.Class == 2)
        {
            batch.Accepted.Add(index);
            return null;
        }

        if (reply.Code == 421)
        {
            return ReplyFailure(SmtpStage.Rcpt, _parser.ToReply());
        }

        if (reply.Code is 452 or 552 && batch.Accepted.Count > 0)
        {
            // RFC 5321 4.5.3.1.10: "too many recipients" is 452 (552 in RFC 821, to be read as
            // 452). After an accepted recipient it is the server's limit, not the mailbox's: the
            // rest go in a new transaction. Before one it is an ordinary temporary failure, which
            // also keeps this from looping.
            batch.Deferred.Add(index);
            batch.DeferredCode = reply.Code;
            return null;
        }

        var failure = ReplyFailure(SmtpStage.Rcpt, _parser.ToReply());
        batch.Set(index, failure.Outcome, SmtpStage.Rcpt, failure.Reply, SmtpFailureKind.Reply);
        batch.LastRefusal = failure;
        return null;
    }

    /// <summary>DATA refused although recipients were accepted: they get the refusal.</summary>
    private TransactionOutcome DataRefused(Batch batch)
    {
        var refused = ReplyFailure(SmtpStage.Data, _parser.ToReply());
        if (_state == State.Broken)
        {
            return batch.Lose(refused);
        }

        batch.Refused(refused);
        return TransactionOutcome.Done(batch, refused);
    }

    /// <summary>"." alone after a 354 that nobody should have got: the empty message ends the DATA phase.</summary>
    private async Task EndEmptyDataAsync()
    {
        if (_log.IsEnabled(LogLevel.Trace))
        {
            SmtpClientLog.Command(_log, _cid, ".");
        }

        _writer.Write(".\r\n"u8);
        var status = await CommandAsync(_options.Timeouts.DataTermination);
        if (status != IoStatus.Ok)
        {
            IoFailure(status, SmtpStage.DataEnd);
        }
    }

    /// <summary>
    /// After a refused MAIL in a pipelined group: reads the replies still due (RCPTs, DATA) so the
    /// session stays in step. True when DATA got 354 (then "." is due). A server that hangs up
    /// instead just ends the session; a 421 to MAIL ends it at once.
    /// </summary>
    private async Task<bool> DrainAsync(int replies, bool dataLast)
    {
        for (var k = 0; k < replies && _state != State.Broken; k++)
        {
            var status = await ReadReplyAsync(_options.Timeouts.Rcpt);
            if (status != IoStatus.Ok)
            {
                IoFailure(status, SmtpStage.Rcpt);
                return false;
            }

            if (dataLast && k == replies - 1 && _parser.Current.Code == 354)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The content after 354: dot-stuffed, CRLF only, then "." (RFC 5321 4.1.1.4), then the final reply.</summary>
    /// <param name="next">A message whose envelope may go in the same write as the final ".".</param>
    private async Task<TransactionOutcome?> SendDataAsync(SmtpMessage message, Batch batch, SmtpMessage? next)
    {
        if (_log.IsEnabled(LogLevel.Trace))
        {
            SmtpClientLog.Data(_log, _cid, new Observability.Logging.LogData(message.Content));
        }

        var position = 0;
        var lineStart = true;
        var repaired = false;
        var unflushed = 0;
        var length = message.Content.Length;
        IoStatus status;
        while (position < length)
        {
            var written = DataEncoding.Encode(message.Content.Span, ref position, ref lineStart, _writer.GetSpan(16 * 1024), stuffDots: true, ref repaired);
            _writer.Advance(written);
            unflushed += written;
            if (unflushed >= DataFlushSize)
            {
                unflushed = 0;
                status = await FlushAsync(_options.Timeouts.DataBlock);
                if (status != IoStatus.Ok)
                {
                    return await DataWriteFailedAsync(batch, status);
                }
            }
        }

        _writer.Advance(DataEncoding.Finish(lineStart, _writer.GetSpan(DataEncoding.MaxFinish)));
        if (repaired)
        {
            SmtpClientLog.LineEndsRepaired(_log, _cid);
        }

        // RFC 2920 3.1: the content may open a group; the next message's MAIL, RCPTs and DATA end it.
        // Not when recipients wait for another transaction of this message (a 452 deferred them).
        if (next is not null && batch.Deferred.Count == 0 && CanSendAhead(next, out var nextEightBit))
        {
            WriteEnvelope(next, nextEightBit, indices: null, data: true);
            _ahead = next;
            _aheadEightBit = nextEightBit;
        }

        status = await FlushAsync(_options.Timeouts.DataBlock);
        if (status != IoStatus.Ok)
        {
            return await DataWriteFailedAsync(batch, status);
        }

        return await FinalReplyAsync(batch, _options.Timeouts.DataTermination);
    }

    /// <summary>The server stopped taking the content: it may have said why before closing (e.g. 552, 421).</summary>
    private async Task<TransactionOutcome> DataWriteFailedAsync(Batch batch, IoStatus status)
    {
        var error = _ioError;
        if (status is IoStatus.Closed or IoStatus.Error && await ReadReplyAsync(_options.Timeouts.DataBlock) == IoStatus.Ok && _parser.Current.Class != 2)
        {
            var refused = ReplyFailure(SmtpStage.DataEnd, _parser.ToReply());
            Break(refused);
            return batch.Lose(refused);
        }

        _ioError = error;
        return batch.Lose(IoFailure(status, SmtpStage.DataEnd));
    }

    /// <summary>The reply after the data: it decides for every accepted recipient.</summary>
    private async Task<TransactionOutcome?> FinalReplyAsync(Batch batch, TimeSpan timeout)
    {
        var status = await ReadReplyAsync(timeout);
        if (status != IoStatus.Ok)
        {
            // The message may have been delivered all the same (RFC 1047): retrying is the safe side.
            return batch.Lose(IoFailure(status, SmtpStage.DataEnd));
        }

        // RFC 5321 4.1.1.4: with the reply to the data the transaction is over, whatever it says.
        _needRset = false;
        var reply = _parser.ToReply();
        if (reply.Class == 2)
        {
            batch.Delivered(reply);
            return null;
        }

        var refused = ReplyFailure(SmtpStage.DataEnd, reply);
        if (_state == State.Broken)
        {
            return batch.Lose(refused);
        }

        batch.Refused(refused);
        return TransactionOutcome.Done(batch, refused);
    }

    /// <summary>
    /// BDAT (RFC 3030 2): the content in chunks, each answered. Binary content goes as is; other
    /// content gets bare line ends repaired first (rare: the spool's content is CRLF already).
    /// </summary>
    private async Task<TransactionOutcome?> SendBdatAsync(SmtpMessage message, Batch batch)
    {
        var content = message.Content;
        byte[]? repairedCopy = null;
        try
        {
            if (message.BodyType != BodyType.BinaryMime && DataEncoding.HasBareLineEnd(content.Span))
            {
                repairedCopy = ArrayPool<byte>.Shared.Rent(2 * content.Length);
                var position = 0;
                var lineStart = true;
                var repaired = false;
                var n = DataEncoding.Encode(content.Span, ref position, ref lineStart, repairedCopy, stuffDots: false, ref repaired);
                content = repairedCopy.AsMemory(0, n);
                SmtpClientLog.LineEndsRepaired(_log, _cid);
            }

            if (_log.IsEnabled(LogLevel.Trace))
            {
                SmtpClientLog.Data(_log, _cid, new Observability.Logging.LogData(content));
            }

            var offset = 0;
            while (true)
            {
                var size = Math.Min(_options.ChunkSize, content.Length - offset);
                var last = offset + size == content.Length;
                BeginCommand("BDAT "u8);
                Append(size);
                if (last)
                {
                    Append(" LAST"u8);
                }

                EndCommand();
                _writer.Write(content.Span.Slice(offset, size));
                offset += size;
                var status = await FlushAsync(_options.Timeouts.DataBlock);
                if (status != IoStatus.Ok)
                {
                    return await DataWriteFailedAsync(batch, status);
                }

                if (last)
                {
                    return await FinalReplyAsync(batch, _options.Timeouts.DataTermination);
                }

                status = await ReadReplyAsync(_options.Timeouts.DataBlock);
                if (status != IoStatus.Ok)
                {
                    return batch.Lose(IoFailure(status, SmtpStage.Data));
                }

                if (_parser.Current.Class != 2)
                {
                    // A refused chunk ends the transaction; RSET comes before the next (RFC 3030 4).
                    return DataRefused(batch);
                }
            }
        }
        finally
        {
            if (repairedCopy is not null)
            {
                ArrayPool<byte>.Shared.Return(repairedCopy);
            }
        }
    }

    /// <summary>MAIL FROM with the parameters the server offers and the message needs.</summary>
    private void WriteMail(SmtpMessage message, bool eightBit)
    {
        var e = Info.Extensions;
        BeginCommand("MAIL FROM:<"u8);
        Append(message.Sender);
        Append(">"u8);
        if (e.Size)
        {
            // RFC 1870 3: the size of the content as stored (before dot-stuffing).
            Append(" SIZE="u8);
            Append(message.Content.Length);
        }

        if (message.BodyType == BodyType.BinaryMime)
        {
            Append(" BODY=BINARYMIME"u8);
        }
        else if (eightBit && e.EightBitMime)
        {
            // RFC 6152: always declared when the content is 8-bit (mox sends 7BIT here: not copied).
            Append(" BODY=8BITMIME"u8);
        }

        if (message.SmtpUtf8)
        {
            Append(" SMTPUTF8"u8);
        }

        if (message.RequireTls)
        {
            Append(" REQUIRETLS"u8);
        }

        if (e.Dsn)
        {
            // RFC 3461 4.3, 4.4: only to a server that offers DSN.
            if (message.Ret != DsnReturn.Unspecified)
            {
                Append(message.Ret == DsnReturn.Full ? " RET=FULL"u8 : " RET=HDRS"u8);
            }

            if (IsXtext(message.EnvelopeId, utf8: false))
            {
                Append(" ENVID="u8);
                Append(message.EnvelopeId);
            }
        }

        EndCommand();
    }

    private void WriteRcpt(SmtpMessage message, SmtpRecipient recipient)
    {
        BeginCommand("RCPT TO:<"u8);
        Append(recipient.Address);
        Append(">"u8);
        if (Info.Extensions.Dsn)
        {
            // RFC 3461 4.1, 4.2.
            var notify = recipient.Notify;
            if (notify != DsnNotify.Unspecified)
            {
                Append(" NOTIFY="u8);
                if ((notify & DsnNotify.Never) != 0)
                {
                    Append("NEVER"u8);
                }
                else
                {
                    var first = true;
                    if ((notify & DsnNotify.Success) != 0)
                    {
                        Append("SUCCESS"u8);
                        first = false;
                    }

                    if ((notify & DsnNotify.Failure) != 0)
                    {
                        Append(first ? "FAILURE"u8 : ",FAILURE"u8);
                        first = false;
                    }

                    if ((notify & DsnNotify.Delay) != 0)
                    {
                        Append(first ? "DELAY"u8 : ",DELAY"u8);
                    }
                }
            }

            // ORCPT is "addr-type;xtext"; with SMTPUTF8 the utf-8 address type may carry UTF-8 (RFC 6533 3).
            if (recipient.OriginalRecipient.Contains(';', StringComparison.Ordinal) && IsXtext(recipient.OriginalRecipient, message.SmtpUtf8))
            {
                Append(" ORCPT="u8);
                Append(recipient.OriginalRecipient);
            }
        }

        EndCommand();
    }

    /// <summary>Printable, no spaces (RFC 3461 4: xtext): anything else would break the command, so the parameter is left out.</summary>
    private static bool IsXtext(string value, bool utf8)
    {
        if (value.Length == 0)
        {
            return false;
        }

        foreach (var c in value)
        {
            if (c is <= ' ' or '\x7f' || (c > '\x7f' && !utf8))
            {
                return false;
            }
        }

        return true;
    }
}
