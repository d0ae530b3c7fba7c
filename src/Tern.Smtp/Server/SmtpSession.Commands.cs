using System.Buffers;
using System.Net;
using Tern.Smtp.Protocol;

namespace Tern.Smtp.Server;

/// <summary>Command handlers (RFC 5321 4.1.1, with the extensions' rules).</summary>
internal sealed partial class SmtpSession
{
    private SessionAction HandleCommand(ReadOnlySpan<byte> line)
    {
        var verb = SmtpCommandParser.ParseVerb(line, out var arg);
        _verb = verb;
        TraceCommand(verb, line);
        return verb switch
        {
            SmtpVerb.Ehlo => Hello(arg, extended: true),
            SmtpVerb.Helo => Hello(arg, extended: false),
            SmtpVerb.Mail => Mail(arg),
            SmtpVerb.Rcpt => Rcpt(arg),
            SmtpVerb.Data => Data(arg),
            SmtpVerb.Bdat => Bdat(arg),
            SmtpVerb.Rset => Junk() ?? Rset(arg),
            SmtpVerb.Noop => Junk() ?? Reply(Replies.Ok),
            SmtpVerb.Quit => Quit(),
            SmtpVerb.Vrfy => Junk() ?? (arg.IsEmpty ? Error(Replies.SyntaxError) : Reply(Replies.Vrfy)),
            SmtpVerb.Expn => Error(Replies.ExpnRefused),
            SmtpVerb.Help => Junk() ?? Reply(Replies.Help),
            SmtpVerb.StartTls => StartTls(arg),
            SmtpVerb.Auth => Auth(arg),
            _ => Error(Replies.UnknownCommand),
        };
    }

    /// <summary>
    /// NOOP, RSET, VRFY, HELP and a repeated HELO/EHLO move no mail: past MaxJunkCommands since the
    /// last accepted message, each also counts as an error, so a client looping on them (a pipelined flood, a slowloris
    /// keeping its connection alive) is cut by the error limit (as Postfix's smtpd_junk_command_limit).
    /// </summary>
    private SessionAction? Junk()
    {
        if (++_junk <= Limits.MaxJunkCommands)
        {
            return null;
        }

        // Counted, and answered as usual by the caller unless the error limit closes the session.
        if (++_errors > Limits.MaxErrors)
        {
            SmtpServerLog.Closing(_server.Log, Cid, "too many errors");
            WriteClosing("421 4.7.0 "u8, Replies.TooManyErrorsText);
            return SessionAction.Close;
        }

        return null;
    }

    private void TraceCommand(SmtpVerb verb, ReadOnlySpan<byte> line)
    {
        if (!_server.Log.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Trace))
        {
            return;
        }

        // AUTH lines carry credentials; so may unknown lines (base64 a client pipelined after a
        // refused AUTH): both are logged as secrets, shown only at traceauth.
        if (verb is SmtpVerb.Auth or SmtpVerb.Unknown || _auth is not null)
        {
            SmtpServerLog.SecretCommand(_server.Log, Cid, "AUTH", new Observability.Logging.LogSecret(System.Text.Encoding.UTF8.GetString(line)));
        }
        else
        {
            SmtpServerLog.Command(_server.Log, Cid, System.Text.Encoding.UTF8.GetString(line));
        }
    }

    private SessionAction Hello(ReadOnlySpan<byte> arg, bool extended)
    {
        // A second HELO/EHLO without an accepted message between is junk too: alternating it with
        // MAIL would otherwise loop forever past the junk limit. The EHLO required after STARTTLS
        // (RFC 3207 4.2) is not a repeat: TLS forgets the first.
        if (_helloSeen && Junk() is { } close)
        {
            return close;
        }

        // RFC 5321 4.1.1.1: a domain or address literal. Accept any sane token: clients send bare
        // host names and worse; refuse only the empty or binary ones.
        var name = arg;
        var space = name.IndexOf((byte)' ');
        if (space >= 0)
        {
            name = name[..space];
        }

        // Invalid UTF-8 is refused too: the name goes into the Received header, where RFC 6532 3.2
        // allows only valid UTF-8 (a U-label EHLO name, RFC 6531 3.7.1, remains fine).
        if (name.IsEmpty || name.Length > _helo.Length || name.IndexOfAnyInRange((byte)0, (byte)32) >= 0 || name.Contains((byte)127)
            || !System.Text.Unicode.Utf8.IsValid(name))
        {
            return Error(Replies.HeloNeedsDomain);
        }

        // EHLO/HELO in a transaction resets it (RFC 5321 4.1.4).
        ResetTransaction();
        _helloSeen = true;
        name.CopyTo(_helo);
        _heloLength = name.Length;
        _esmtp = extended;
        _state = SessionState.Greeted;
        return Reply(!extended ? _listener.Replies.Helo
            : !_envelope.Tls ? _listener.Replies.EhloPlain
            : _saslChannel.Binding is not null ? _listener.Replies.EhloTlsWithBinding
            : _listener.Replies.EhloTls);
    }

    private SessionAction Mail(ReadOnlySpan<byte> arg)
    {
        if (_state == SessionState.Connected)
        {
            return Error(Replies.SendHeloFirst);
        }

        if (_state != SessionState.Greeted)
        {
            return Error(Replies.NestedMail);
        }

        if (RequiresAuth && _envelope.AuthenticatedUser is null)
        {
            _server.Metrics.Rejected(RejectReason.AuthRequired);
            return Error(_envelope.Tls || _listener.Options.Certificate is null ? Replies.AuthRequired : Replies.EncryptionRequired);
        }

        var error = MailParameters.ParseMailFrom(arg, chunkingOffered: _esmtp, out var mail);
        if (error != ArgumentError.None)
        {
            return Error(error switch
            {
                ArgumentError.PathSyntax => Replies.BadSender,
                ArgumentError.PathTooLong => Replies.PathTooLong,
                ArgumentError.NeedsSmtpUtf8 => Replies.NeedsSmtpUtf8,
                ArgumentError.UnknownParameter => Replies.UnknownParameter,
                _ => Replies.SyntaxError,
            });
        }

        if (!_esmtp && (mail.Size >= 0 || mail.Body != BodyType.Unspecified || mail.SmtpUtf8 || mail.RequireTls || mail.Ret != DsnReturn.Unspecified || mail.EnvIdLength > 0 || mail.AuthLength > 0))
        {
            // Parameters are ESMTP: after HELO they are not allowed (RFC 5321 4.1.1.11).
            return Error(Replies.EhloOnly);
        }

        if (mail.Size > Limits.MaxMessageSize)
        {
            _server.Metrics.Rejected(RejectReason.TooBig);
            return Error(Replies.SizeExceedsLimit);
        }

        if (mail.RequireTls && !_envelope.Tls)
        {
            // RFC 8689 2: REQUIRETLS is only valid over TLS.
            return Error(Replies.RequireTlsNeedsTls);
        }

        if (_envelope.AuthenticatedUser is { } user && _server.Options.Authentication?.MaySendAs is { } maySendAs && !maySendAs(user, mail.Path.Mailbox(arg)))
        {
            return Error(Replies.SenderNotAllowed);
        }

        if (!_server.Store.HasRoom(mail.Size))
        {
            // The store's disk is below its free-space reserve, or the declared size does not fit:
            // a temporary refusal (RFC 3463 4.3.1), the client tries again later. Asked after every
            // permanent check, so a 452 never hides a 5xx the client must not retry.
            _server.Metrics.Rejected(RejectReason.StoreFailure);
            return Reply(Replies.StoreTemporaryFailure);
        }

        _envelope.SetSender(mail.Path.Mailbox(arg), in mail, arg.Slice(mail.EnvIdStart, mail.EnvIdLength));
        _state = SessionState.Mail;
        return Reply(Replies.SenderOk);
    }

    private SessionAction Rcpt(ReadOnlySpan<byte> arg)
    {
        if (_state is not (SessionState.Mail or SessionState.Rcpt))
        {
            return Error(_state == SessionState.Connected ? Replies.SendHeloFirst : Replies.NeedMail);
        }

        var error = MailParameters.ParseRcptTo(arg, _envelope.SmtpUtf8, out var rcpt);
        if (error != ArgumentError.None)
        {
            return Error(error switch
            {
                ArgumentError.PathSyntax => Replies.BadRecipient,
                ArgumentError.PathTooLong => Replies.PathTooLong,
                ArgumentError.NeedsSmtpUtf8 => Replies.NeedsSmtpUtf8,
                ArgumentError.UnknownParameter => Replies.UnknownParameter,
                _ => Replies.SyntaxError,
            });
        }

        if (_envelope.RecipientCount >= Limits.MaxRecipients)
        {
            // Not counted as a client error: a 452 tells the client to send the rest in another transaction.
            _server.Metrics.Rejected(RejectReason.TooManyRecipients);
            return Reply(Replies.TooManyRecipients);
        }

        var relay = MayRelay(arg, in rcpt.Path);
        if (relay != RelayDecision.Allowed)
        {
            _server.Metrics.Rejected(RejectReason.RelayDenied);
            if (_server.Log.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Information))
            {
                SmtpServerLog.RelayDenied(_server.Log, Cid, Remote, System.Text.Encoding.UTF8.GetString(rcpt.Path.Mailbox(arg)));
            }

            return Error(relay == RelayDecision.RoutingCharacters ? Replies.RoutingCharacters : Replies.RelayDenied);
        }

        _envelope.AddRecipient(rcpt.Path.Mailbox(arg), rcpt.Notify, arg.Slice(rcpt.OrcptStart, rcpt.OrcptLength));
        _state = SessionState.Rcpt;
        return Reply(Replies.RecipientOk);
    }

    private SessionAction Rset(ReadOnlySpan<byte> arg)
    {
        if (!arg.IsEmpty)
        {
            return Error(Replies.NoArguments);
        }

        ResetTransaction();
        if (_state != SessionState.Connected)
        {
            _state = SessionState.Greeted;
        }

        return Reply(Replies.ResetOk);
    }

    private SessionAction Quit()
    {
        _state = SessionState.Quit;
        _writer.Write(_listener.Replies.Bye.AsSpan());
        _server.Metrics.Command(SmtpVerb.Quit, (byte)'2');
        return SessionAction.Close;
    }

    private SessionAction StartTls(ReadOnlySpan<byte> arg)
    {
        if (!arg.IsEmpty)
        {
            return Error(Replies.NoArguments);
        }

        if (_envelope.Tls)
        {
            return Error(Replies.TlsAlreadyActive);
        }

        if (_listener.Options.Certificate is null || !_esmtp)
        {
            return Error(_esmtp ? Replies.StartTlsNotOffered : Replies.EhloOnly);
        }

        if (InTransaction)
        {
            return Error(Replies.NotInTransaction);
        }

        Reply(Replies.ReadyForTls);
        return SessionAction.StartTls;
    }

    /// <summary>Submission listeners require AUTH before MAIL; relay listeners decide per recipient.</summary>
    private bool RequiresAuth => _listener.Options.Kind != ListenerKind.Relay;

    private RelayDecision MayRelay(ReadOnlySpan<byte> arg, in SmtpPath path)
    {
        if (_envelope.AuthenticatedUser is not null || IsTrustedNetwork(Remote.Address))
        {
            return RelayDecision.Allowed;
        }

        // <Postmaster> without a domain is ours (RFC 5321 4.5.1).
        if (path.DomainOffset < 0)
        {
            return RelayDecision.Allowed;
        }

        var domain = path.Domain(arg);
        if (path.IsAddressLiteral || !IsAcceptDomain(domain))
        {
            return RelayDecision.Denied;
        }

        // The classic relay tricks (user%other@ours, host!user@ours, "user@other"@ours) would make a
        // downstream server route elsewhere: refuse them from untrusted clients.
        return path.HasRoutingCharacters ? RelayDecision.RoutingCharacters : RelayDecision.Allowed;
    }

    private bool IsTrustedNetwork(IPAddress address)
    {
        foreach (var n in _server.Options.RelayNetworks)
        {
            if (n.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Accepted domains are configured in lower-case A-label form; U-label recipients are converted to compare.</summary>
    private bool IsAcceptDomain(ReadOnlySpan<byte> domain)
    {
        foreach (var d in _server.Options.AcceptDomains)
        {
            if (Idna.EqualsNormalized(domain, d))
            {
                return true;
            }
        }

        return false;
    }

    private void ResetTransaction()
    {
        _message?.Dispose();
        _message = null;
        _dataPhase = false;
        _envelope.Reset();
        _bdatLast = false;
        _bdatStarted = false;
        _bdatSize = 0;
        _bdatProblems = DataProblems.None;
        _bdatPreviousCr = false;
    }

    private SessionAction Reply(ReadOnlySpan<byte> reply)
    {
        _writer.Write(reply);
        _server.Metrics.Command(_verb, reply[0]);
        return SessionAction.None;
    }

    /// <summary>A failed command: counted towards the error limit (RFC 5321 does not set one; 421 after too many).</summary>
    private SessionAction Error(ReadOnlySpan<byte> reply)
    {
        Reply(reply);
        if (++_errors > Limits.MaxErrors)
        {
            SmtpServerLog.Closing(_server.Log, Cid, "too many errors");
            WriteClosing("421 4.7.0 "u8, Replies.TooManyErrorsText);
            return SessionAction.Close;
        }

        return SessionAction.None;
    }

    private enum RelayDecision : byte
    {
        Allowed,
        Denied,
        RoutingCharacters,
    }
}
