using System.Buffers;
using System.Buffers.Text;
using Tern.Sasl;
using Tern.Smtp.Protocol;

namespace Tern.Smtp.Server;

/// <summary>AUTH (RFC 4954): SASL exchanges as 334 challenges and base64 lines.</summary>
internal sealed partial class SmtpSession
{
    private SaslServer? _auth;
    private SaslChannel _saslChannel = SaslChannel.Plaintext;
    private TimeSpan _pendingDelay;

    private SessionAction Auth(ReadOnlySpan<byte> arg)
    {
        var options = _server.Options.Authentication;
        if (options is null)
        {
            return Error(Replies.AuthNotAvailable);
        }

        if (!_esmtp)
        {
            return Error(_state == SessionState.Connected ? Replies.SendHeloFirst : Replies.EhloOnly);
        }

        if (_envelope.AuthenticatedUser is not null)
        {
            return Error(Replies.AlreadyAuthenticated);
        }

        if (InTransaction)
        {
            return Error(Replies.NotInTransaction);
        }

        if (!_envelope.Tls && !_server.Options.AllowAuthWithoutTls)
        {
            return Error(Replies.EncryptionRequiredForAuth);
        }

        if (_server.AuthFailures.Failures(Remote.Address) >= options.MaxFailuresPerIp)
        {
            return TooManyAuthFailures();
        }

        var space = arg.IndexOf((byte)' ');
        var mechanism = space < 0 ? arg : arg[..space];
        var initial = space < 0 ? default : Ascii.TrimSpaces(arg[(space + 1)..]);
        if (mechanism.IsEmpty || mechanism.Length > 32 || !options.Mechanisms.TryCreate(System.Text.Encoding.ASCII.GetString(mechanism), _saslChannel, out var sasl))
        {
            return Error(Replies.UnknownMechanism);
        }

        try
        {
            options.BeforeAuthentication?.Invoke();
        }
        catch (Exception e)
        {
            SmtpServerLog.AuthRefreshFailed(_server.Log, Cid, e.Message);
        }

        if (space < 0)
        {
            return AuthStep(sasl, sasl.Start());
        }

        // RFC 4954 4: "=" is an empty initial response.
        if (initial.Length == 1 && initial[0] == '=')
        {
            return AuthStep(sasl, sasl.Step(default));
        }

        return DecodeAndStep(sasl, initial);
    }

    /// <summary>A client line during an AUTH exchange: base64 of the next response, or "*" to cancel.</summary>
    private SessionAction AuthResponse(ReadOnlySpan<byte> line)
    {
        var sasl = _auth!;
        if (line.Length == 1 && line[0] == '*')
        {
            _auth = null;
            sasl.Abort();
            return Error(Replies.AuthCancelled);
        }

        return DecodeAndStep(sasl, line);
    }

    private SessionAction DecodeAndStep(SaslServer sasl, ReadOnlySpan<byte> base64)
    {
        var max = Base64.GetMaxDecodedFromUtf8Length(base64.Length);
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(max, 1));
        try
        {
            if (Base64.DecodeFromUtf8(base64, buffer, out var consumed, out var written) != OperationStatus.Done || consumed != base64.Length)
            {
                _auth = null;
                sasl.Abort();
                return Error(Replies.AuthBadBase64);
            }

            var step = sasl.Step(buffer.AsSpan(0, written));
            return AuthStep(sasl, step);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer, clearArray: true);
        }
    }

    private SessionAction AuthStep(SaslServer sasl, SaslServerStep step)
    {
        _verb = SmtpVerb.Auth;
        switch (step.Status)
        {
            case SaslStatus.Continue:
                _auth = sasl;
                WriteChallenge(step.Challenge);
                _server.Metrics.Command(SmtpVerb.Auth, (byte)'3');
                return SessionAction.None;

            case SaslStatus.Success:
                _auth = null;
                _envelope.AuthenticatedUser = step.Username;
                _server.Metrics.Auth(sasl.Mechanism, success: true);
                SmtpServerLog.Authenticated(_server.Log, Cid, sasl.Mechanism, step.Username ?? string.Empty);
                return Reply(Replies.AuthSucceeded);

            default:
                _auth = null;
                return AuthFailed(sasl, step.Failure);
        }
    }

    private SessionAction AuthFailed(SaslServer sasl, SaslFailure failure)
    {
        _server.Metrics.Auth(sasl.Mechanism, success: false);
        SmtpServerLog.AuthFailed(_server.Log, Cid, Remote, sasl.Mechanism, sasl.AttemptedUsername ?? string.Empty, failure.ToString());
        switch (failure)
        {
            case SaslFailure.EncryptionRequired:
                return Error(Replies.EncryptionRequiredForAuth);
            case SaslFailure.Aborted:
                return Error(Replies.AuthCancelled);
            case SaslFailure.Malformed:
                return Error(Replies.AuthBadBase64);
        }

        // Same reply for every credential problem: a probe cannot tell which accounts exist.
        var options = _server.Options.Authentication!;
        var failures = _server.AuthFailures.Record(Remote.Address);
        if (failures >= options.MaxFailuresPerIp)
        {
            Reply(Replies.AuthInvalid);
            return TooManyAuthFailures();
        }

        _pendingDelay = options.FailureDelay * Math.Min(failures, 5);
        var action = Error(Replies.AuthInvalid);
        return action == SessionAction.None && _pendingDelay > TimeSpan.Zero ? SessionAction.Delay : action;
    }

    private SessionAction TooManyAuthFailures()
    {
        SmtpServerLog.Closing(_server.Log, Cid, "too many authentication failures");
        WriteClosing("421 4.7.0 "u8, Replies.TooManyAuthFailuresText);
        return SessionAction.Close;
    }

    private void WriteChallenge(byte[]? challenge)
    {
        var data = challenge ?? [];
        var length = Base64.GetMaxEncodedToUtf8Length(data.Length);
        var span = _writer.GetSpan(length + 6);
        "334 "u8.CopyTo(span);
        Base64.EncodeToUtf8(data, span[4..], out _, out var written);
        "\r\n"u8.CopyTo(span[(4 + written)..]);
        _writer.Advance(4 + written + 2);
    }
}
