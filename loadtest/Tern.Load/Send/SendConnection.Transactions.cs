using System.Diagnostics;
using System.Globalization;
using Tern.Load.Report;
using Tern.Smtp.Client;

namespace Tern.Load.Send;

/// <summary>
/// The mail transactions of a connection (RFC 5321 3.3). Three ways to send, chosen per connection
/// from the EHLO reply and the options:
/// <list type="bullet">
/// <item>No pipelining: each command waits for its reply.</item>
/// <item>Pipelining with DATA (RFC 2920): MAIL, RCPT... and DATA in one write, then the content and
/// its end-of-data line in one write. DATA must be the last command of a group (RFC 2920 3.1), so a
/// message's content waits for its own 354, which comes after the previous message's final reply:
/// with --window above 1 the next message's envelope is written before that final reply is read,
/// which is as deep as DATA allows (two messages in flight).</item>
/// <item>Pipelining with BDAT (RFC 3030 + 2920): MAIL, RCPT..., "BDAT n LAST" and the content in
/// one write, and up to --window messages written before the oldest's replies are read.</item>
/// </list>
/// Replies come in the order of the commands (RFC 2920 3.1), so the messages in flight are a FIFO
/// ring: the oldest is the one the next replies are about.
/// </summary>
internal sealed partial class SendConnection
{
    private readonly InFlight[] _ring;
    private readonly ContentDigest _digest = new();
    private int _head;
    private int _count;
    private int _window;
    private bool _pipelining;
    private bool _chunking;
    private bool _size;
    private bool _needRset;

    /// <summary>A message claimed but not sent yet; it survives a reconnect.</summary>
    private bool _hasHeld;
    private long _heldSeq;
    private long _heldDue;

    private void ConfigureTransactions(SmtpExtensions offered)
    {
        _pipelining = _settings.Pipelining switch
        {
            Toggle.On => offered.Pipelining ? true : throw new SendAbort(FailureKind.Protocol, $"--pipelining on: {_settings.Target} does not offer PIPELINING") { Fatal = true },
            Toggle.Off => false,
            _ => offered.Pipelining,
        };
        _chunking = _settings.Chunking && (offered.Chunking ? true : throw new SendAbort(FailureKind.Protocol, $"--chunking on: {_settings.Target} does not offer CHUNKING") { Fatal = true });
        _size = offered.Size;
        _window = !_pipelining ? 1 : _chunking ? _settings.Window : Math.Min(_settings.Window, 2);
        _head = 0;
        _count = 0;
        _needRset = false;
    }

    /// <summary>
    /// Sends messages until --per-connection of them are done here or the run has no more. One
    /// async method for the whole loop (its state machine is allocated once per connection), awaiting
    /// the stream directly: nested async helpers would each need a box per suspension.
    /// </summary>
    private async Task TransactAsync()
    {
        var sent = 0;
        var limit = _settings.PerConnection == 0 ? int.MaxValue : _settings.PerConnection;
        int code;
        while (true)
        {
            if (!_hasHeld && sent < limit && !_needRset && !_run.Stopping && _run.Schedule.TryClaim(out _heldSeq, out _heldDue))
            {
                _hasHeld = true;
            }

            // A message goes out when the window has room and, with others in flight, when it is already due:
            // waiting for it with replies unread would add the wait to their latency.
            if (_hasHeld && !_needRset && _count < _window && (_count == 0 || _heldDue <= Stopwatch.GetTimestamp()))
            {
                _hasHeld = false;
                if (_count == 0 && !await _run.Schedule.WaitUntilAsync(_heldDue))
                {
                    continue;
                }

                sent++;
                var seq = _heldSeq;
                var sizeClass = _run.Sizes.Pick(Weighted<int>.Mix((ulong)seq));
                _messages.Patch(sizeClass, seq);
                var slot = Push(seq, _heldDue, sizeClass);
                if (_ids is not null)
                {
                    // The buffer is patched again for the next message before this one's reply comes.
                    _ring[slot].Digest = _digest.Of(_messages.Content(sizeClass));
                }

                if (_pipelining && _chunking)
                {
                    // RFC 3030 + 2920: the whole message is one group; its replies are read when it is the oldest.
                    var n = EncodeMail(_cmd, sizeClass);
                    n += EncodeRecipients(_cmd.AsSpan(n), seq);
                    n += EncodeBdat(_cmd.AsSpan(n), sizeClass);
                    _ring[slot].EnvelopePending = true;
                    MarkSent(slot);
                    await Write(_messages.WithCommands(sizeClass, _cmd.AsSpan(0, n)));
                    IoDone();
                    continue;
                }

                if (_pipelining)
                {
                    // RFC 2920: MAIL, RCPT... and DATA as one group.
                    var n = EncodeMail(_cmd, sizeClass);
                    n += EncodeRecipients(_cmd.AsSpan(n), seq);
                    "DATA\r\n"u8.CopyTo(_cmd.AsSpan(n));
                    await Write(_cmd.AsMemory(0, n + 6));
                    IoDone();

                    // The previous message's final reply comes before this one's envelope replies.
                    while (_count > 1)
                    {
                        while (!TryTakeReply(out code))
                        {
                            Filled(await ReadMore());
                        }

                        CompleteOldest(code);
                    }

                    while (!TryTakeReply(out code))
                    {
                        Filled(await ReadMore());
                    }

                    OnMailReply(code);
                    for (var i = 0; i < _settings.Recipients; i++)
                    {
                        while (!TryTakeReply(out code))
                        {
                            Filled(await ReadMore());
                        }

                        OnRecipientReply(code);
                    }
                }
                else
                {
                    // One command at a time (RFC 5321 4.3): stop at the first step that fails.
                    await Write(_cmd.AsMemory(0, EncodeMail(_cmd, sizeClass)));
                    IoDone();
                    while (!TryTakeReply(out code))
                    {
                        Filled(await ReadMore());
                    }

                    OnMailReply(code);
                    if (code / 100 != 2)
                    {
                        CompleteOldest(code);
                        continue;
                    }

                    for (var i = 0; i < _settings.Recipients; i++)
                    {
                        await Write(_cmd.AsMemory(0, EncodeRecipient(_cmd, seq, i)));
                        IoDone();
                        while (!TryTakeReply(out code))
                        {
                            Filled(await ReadMore());
                        }

                        OnRecipientReply(code);
                    }

                    if (_ring[slot].Accepted == 0)
                    {
                        CompleteOldest(_ring[slot].RcptCode);
                        continue;
                    }

                    if (_chunking)
                    {
                        var block = _messages.WithCommands(sizeClass, _cmd.AsSpan(0, EncodeBdat(_cmd, sizeClass)));
                        MarkSent(slot);
                        await Write(block);
                        IoDone();
                        continue;
                    }

                    await Write(_run.DataCommand);
                    IoDone();
                }

                while (!TryTakeReply(out code))
                {
                    Filled(await ReadMore());
                }

                if (code != 354)
                {
                    CompleteOldest(code);
                    continue;
                }

                MarkSent(slot);
                await Write(_messages.DataWithEnd(sizeClass));
                IoDone();
                continue;
            }

            if (_count > 0)
            {
                // What is still owed for the oldest message: its envelope replies (pipelined BDAT) and its final reply.
                if (_ring[_head].EnvelopePending)
                {
                    _ring[_head].EnvelopePending = false;
                    while (!TryTakeReply(out code))
                    {
                        Filled(await ReadMore());
                    }

                    OnMailReply(code);
                    for (var i = 0; i < _settings.Recipients; i++)
                    {
                        while (!TryTakeReply(out code))
                        {
                            Filled(await ReadMore());
                        }

                        OnRecipientReply(code);
                    }
                }

                while (!TryTakeReply(out code))
                {
                    Filled(await ReadMore());
                }

                CompleteOldest(code);
            }
            else if (_needRset)
            {
                // RFC 5321 4.1.1.5: a transaction that failed after MAIL was accepted is reset before the next.
                await Write(_run.RsetCommand);
                IoDone();
                while (!TryTakeReply(out code))
                {
                    Filled(await ReadMore());
                }

                _needRset = false;
                if (code == 421)
                {
                    throw new SendAbort(FailureKind.Disconnect, "421 after RSET");
                }
            }
            else if (!_hasHeld)
            {
                return;
            }
        }
    }

    /// <summary>The oldest message's MAIL reply; a 421 ends it and the connection.</summary>
    private void OnMailReply(int code)
    {
        _ring[_head].MailCode = code;
        if (code == 421)
        {
            CompleteOldest(code);
        }
    }

    /// <summary>One RCPT reply of the oldest message.</summary>
    private void OnRecipientReply(int code)
    {
        ref var m = ref _ring[_head];
        if (code / 100 == 2)
        {
            m.Accepted++;
            return;
        }

        if (m.MailCode / 100 == 2 && code != 421)
        {
            // Refused recipients of a transaction that went on are counted apart (RFC 5321 3.3 lets the others through).
            _run.RecipientRejected();
        }

        if (m.RcptCode == 0)
        {
            m.RcptCode = code;
        }

        if (code == 421)
        {
            CompleteOldest(code);
        }
    }

    /// <summary>
    /// The oldest message's outcome, given its last reply: ok when MAIL was accepted, at least one
    /// RCPT was, and the final reply is 2xx; otherwise failed with the code that decided it. A 421
    /// means the server is closing (RFC 5321 3.8): the message fails with it and the connection ends.
    /// </summary>
    private void CompleteOldest(int code)
    {
        ref var m = ref _ring[_head];
        var mailOk = m.MailCode / 100 == 2;
        if (code == 421)
        {
            _run.Stats.RecordFailed(FailureKind.Reply, 421);
        }
        else if (!mailOk)
        {
            _run.Stats.RecordFailed(FailureKind.Reply, m.MailCode);
        }
        else if (m.Accepted == 0)
        {
            _run.Stats.RecordFailed(FailureKind.Reply, m.RcptCode != 0 ? m.RcptCode : code);
            _needRset = true;
        }
        else if (code / 100 != 2)
        {
            _run.Stats.RecordFailed(FailureKind.Reply, code);
            _needRset = true;
        }
        else
        {
            var micros = (long)Stopwatch.GetElapsedTime(m.Start).TotalMicroseconds;
            _run.Stats.RecordOk(micros, _messages.Length(m.SizeClass));
            if (_ids is { } ids)
            {
                var reply = _parser.Current;
                ids.Append(m.Seq, code, reply.LineCount > 0 ? reply.Line(0) : default, m.Digest);
            }
        }

        _head = (_head + 1) % _ring.Length;
        _count--;
        _run.Completed();
        if (code == 421)
        {
            throw new SendAbort(FailureKind.Disconnect, "the server is closing the connection (421)");
        }
    }

    /// <summary>Fails every message still in flight (the connection broke); returns how many.</summary>
    private int FailInFlight(FailureKind kind)
    {
        var failed = _count;
        for (; _count > 0; _count--)
        {
            _run.Stats.RecordFailed(kind);
            _run.Completed();
        }

        _head = 0;
        return failed;
    }

    private int Push(long seq, long due, int sizeClass)
    {
        var slot = (_head + _count) % _ring.Length;
        _ring[slot] = new InFlight { Seq = seq, Due = due, SizeClass = sizeClass };
        _count++;
        return slot;
    }

    /// <summary>
    /// The end of the message's data is about to be written: latency counts from now, or in the open
    /// model from when the message was due (so time spent waiting for a free session is not hidden).
    /// A message may go out up to a millisecond before it is due (shorter waits are not slept, see
    /// <see cref="MessageSchedule.WaitUntilAsync"/>); then it counts from now, never from a due time
    /// still ahead, which would understate the latency.
    /// </summary>
    private void MarkSent(int slot)
    {
        var now = Stopwatch.GetTimestamp();
        _ring[slot].Start = _settings.Model == LoadModel.Open && _settings.Rate > 0 ? Math.Min(_ring[slot].Due, now) : now;
    }

    /// <summary>MAIL FROM:&lt;from&gt; with SIZE=n when offered (RFC 1870 6).</summary>
    private int EncodeMail(Span<byte> to, int sizeClass)
    {
        var from = _run.MailFromPrefix;
        from.CopyTo(to);
        var n = from.Length;
        if (_size)
        {
            " SIZE="u8.CopyTo(to[n..]);
            n += 6;
            _messages.Length(sizeClass).TryFormat(to[n..], out var digits, default, CultureInfo.InvariantCulture);
            n += digits;
        }

        "\r\n"u8.CopyTo(to[n..]);
        return n + 2;
    }

    private int EncodeRecipients(Span<byte> to, long seq)
    {
        var n = 0;
        for (var i = 0; i < _settings.Recipients; i++)
        {
            n += EncodeRecipient(to[n..], seq, i);
        }

        return n;
    }

    /// <summary>RCPT TO:&lt;uSEQ@domain&gt; (uSEQ.i for the i-th further recipient), the domain picked by weight.</summary>
    private int EncodeRecipient(Span<byte> to, long seq, int index)
    {
        "RCPT TO:<u"u8.CopyTo(to);
        var n = 10;
        seq.TryFormat(to[n..], out var digits, default, CultureInfo.InvariantCulture);
        n += digits;
        if (index > 0)
        {
            to[n++] = (byte)'.';
            index.TryFormat(to[n..], out digits, default, CultureInfo.InvariantCulture);
            n += digits;
        }

        to[n++] = (byte)'@';
        var domain = _run.DomainBytes[_run.Domains.Pick(Weighted<string>.Mix((ulong)seq + (0x632BE59BD9B4E019UL * (ulong)(index + 1))))];
        domain.CopyTo(to[n..]);
        n += domain.Length;
        ">\r\n"u8.CopyTo(to[n..]);
        return n + 3;
    }

    /// <summary>"BDAT n LAST": the whole content in one chunk (RFC 3030 2).</summary>
    private int EncodeBdat(Span<byte> to, int sizeClass)
    {
        "BDAT "u8.CopyTo(to);
        var n = 5;
        _messages.Length(sizeClass).TryFormat(to[n..], out var digits, default, CultureInfo.InvariantCulture);
        n += digits;
        " LAST\r\n"u8.CopyTo(to[n..]);
        return n + 7;
    }

    /// <summary>A message on this connection whose outcome is not known yet.</summary>
    private struct InFlight
    {
        public long Seq;
        public long Due;

        /// <summary>When latency counts from (Stopwatch timestamp), set when the end of its data is written.</summary>
        public long Start;
        public int SizeClass;
        public int MailCode;
        public int RcptCode;
        public int Accepted;

        /// <summary>The body digest of its content (with --ids).</summary>
        public ulong Digest;

        /// <summary>Pipelined BDAT: its MAIL and RCPT replies are still to be read.</summary>
        public bool EnvelopePending;
    }
}
