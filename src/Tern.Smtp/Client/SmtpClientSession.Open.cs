using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Tern.Sasl;
using Tern.Sasl.ChannelBindings;
using Tern.Smtp.Client.Tls;

namespace Tern.Smtp.Client;

/// <summary>Opening a session: greeting, EHLO (or HELO), STARTTLS (RFC 3207) or implicit TLS (RFC 8314), AUTH (RFC 4954).</summary>
public sealed partial class SmtpClientSession
{
    private TlsVerification? _verification;

    /// <summary>
    /// Greeting, EHLO, TLS and AUTH as the options say. Null when the session is ready to send;
    /// otherwise why not (then call <see cref="QuitAsync"/>, and see <see cref="SmtpTransactionResult.Failed"/>
    /// to fail a message with it).
    /// </summary>
    /// <exception cref="InvalidOperationException">Called twice.</exception>
    public async Task<SmtpFailure?> OpenAsync(CancellationToken cancel = default)
    {
        if (_state != State.New)
        {
            throw new InvalidOperationException("OpenAsync was called already");
        }

        using var registration = Register(cancel);
        try
        {
            var failure = await OpenCoreAsync();
            if (failure is null)
            {
                _state = State.Ready;
                return null;
            }

            Fail(failure);
            return failure;
        }
        finally
        {
            Disarm();
        }
    }

    private async Task<SmtpFailure?> OpenCoreAsync()
    {
        if (_options.TlsMode == SmtpTlsMode.Implicit && await HandshakeAsync(implicitTls: true) is { } tlsFailure)
        {
            return tlsFailure;
        }

        // RFC 5321 3.1 and 4.3.2: 220, or 554 (no service here; the client should QUIT).
        var status = await ReadReplyAsync(_options.Timeouts.Greeting);
        if (status != IoStatus.Ok)
        {
            return IoFailure(status, SmtpStage.Greeting);
        }

        var greeting = _parser.ToReply();
        Info = Info with { Greeting = greeting };
        if (greeting.Code != 220)
        {
            // A 5xx greeting is a permanent answer from this host; Postfix (smtp_skip_5xx_greeting)
            // then tries the next MX: that choice is the delivery layer's.
            return ReplyFailure(SmtpStage.Greeting, greeting);
        }

        if (await HelloAsync() is { } helloFailure)
        {
            return helloFailure;
        }

        if (_options.TlsMode is SmtpTlsMode.Opportunistic or SmtpTlsMode.Required && !Info.Tls &&
            (Info.Extensions.StartTls || _options.TlsMode == SmtpTlsMode.Required) &&
            await StartTlsAsync() is { } startTlsFailure)
        {
            return startTlsFailure;
        }

        if (_options.Auth is { } auth && await AuthenticateAsync(auth) is { } authFailure)
        {
            return authFailure;
        }

        return null;
    }

    /// <summary>EHLO; HELO when EHLO gets a 5xx (RFC 5321 3.2: a server without ESMTP answers 500/502).</summary>
    private async Task<SmtpFailure?> HelloAsync()
    {
        BeginCommand("EHLO "u8);
        Append(_options.LocalHostname);
        EndCommand();
        var status = await CommandAsync(_options.Timeouts.Command);
        if (status != IoStatus.Ok)
        {
            return IoFailure(status, SmtpStage.Ehlo);
        }

        var reply = _parser.Current;
        if (reply.Class == 2)
        {
            var extensions = SmtpExtensions.Parse(reply);
            Info = Info with
            {
                Esmtp = true,
                Extensions = extensions,
                StartTlsOffered = Info.Tls ? Info.StartTlsOffered : extensions.StartTls,
            };
            return null;
        }

        if (reply.Class != 5)
        {
            return ReplyFailure(SmtpStage.Ehlo, _parser.ToReply());
        }

        SmtpClientLog.HeloFallback(_log, _cid, reply.Code);
        BeginCommand("HELO "u8);
        Append(_options.LocalHostname);
        EndCommand();
        status = await CommandAsync(_options.Timeouts.Command);
        if (status != IoStatus.Ok)
        {
            return IoFailure(status, SmtpStage.Ehlo);
        }

        if (_parser.Current.Class != 2)
        {
            return ReplyFailure(SmtpStage.Ehlo, _parser.ToReply());
        }

        Info = Info with { Esmtp = false, Extensions = SmtpExtensions.None };
        return null;
    }

    /// <summary>STARTTLS (RFC 3207), the handshake, and EHLO again (RFC 3207 4.2: forget what was said before TLS).</summary>
    private async Task<SmtpFailure?> StartTlsAsync()
    {
        WriteCommand("STARTTLS"u8);
        var status = await CommandAsync(_options.Timeouts.Command);
        if (status != IoStatus.Ok)
        {
            return IoFailure(status, SmtpStage.StartTls);
        }

        if (_parser.Current.Code != 220)
        {
            var refused = _parser.ToReply();
            if (refused.Code != 421 && _options.TlsMode == SmtpTlsMode.Opportunistic)
            {
                // Opportunistic: the connection is still in step, in plaintext.
                Info = Info with { StartTlsRefused = refused };
                SmtpClientLog.StartTlsRefused(_log, _cid, refused.Code);
                return null;
            }

            // TLS is required: whatever the code, another attempt (or another MX) may do better.
            var failure = ReplyFailure(SmtpStage.StartTls, refused, softBounce: true);
            Info = Info with { StartTlsRefused = refused };
            return failure;
        }

        // Bytes behind the 220 were sent in the clear and would be taken as the server's first
        // words under TLS (the client side of CVE-2011-0411): refuse the server.
        if (_reader.TryRead(out var leftover))
        {
            var injected = !leftover.Buffer.IsEmpty;
            _reader.AdvanceTo(leftover.Buffer.Start);
            if (injected)
            {
                var reply = SmtpReply.Local(421, new EnhancedStatusCode(4, 7, 0), "server sent data after its STARTTLS reply (command injection)");
                var failure = new SmtpFailure(SmtpStage.StartTls, SmtpOutcome.TemporaryFailure, reply, SmtpFailureKind.Protocol);
                Info = Info with { TlsError = "data after the STARTTLS reply" };
                Break(failure);
                return failure;
            }
        }

        if (await HandshakeAsync(implicitTls: false) is { } tlsFailure)
        {
            return tlsFailure;
        }

        // A TLS alert on this first read is reported as a TLS failure (IoFailure).
        return await HelloAsync();
    }

    /// <summary>The TLS handshake on the connection; the pipes are made again over the SslStream.</summary>
    private async Task<SmtpFailure?> HandshakeAsync(bool implicitTls)
    {
        var tls = _options.Tls!;
        await _reader.CompleteAsync();
        await _writer.CompleteAsync();
        var ssl = new SslStream(_stream, leaveInnerStreamOpen: false);
        _stream = ssl;
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = tls.ServerName,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            AllowRenegotiation = false,

            // The verifier decides, with its own revocation policy; no CRL fetches in the handshake.
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = ValidateCertificate,
        };

        try
        {
            _io.CancelAfter(_options.Timeouts.TlsHandshake);
            await ssl.AuthenticateAsClientAsync(options, _io.Token);
        }
        catch (Exception e) when (IsIoException(e))
        {
            var status = IoFailure(e);
            string error = _verification is { Accepted: false } v
                ? "certificate not accepted: " + RejectionReasons(v, tls)
                : "TLS handshake failed: " + _ioError;
            Info = Info with { Verification = _verification, TlsError = error, ImplicitTls = implicitTls };
            SmtpClientLog.TlsFailed(_log, _cid, error);
            (_reader, _writer) = CreatePipes(Stream.Null);
            if (status is IoStatus.Timeout or IoStatus.SessionTimeout or IoStatus.Cancelled)
            {
                return IoFailure(status, SmtpStage.StartTls);
            }

            var reply = SmtpReply.Local(421, new EnhancedStatusCode(4, 7, 5), error);
            var failure = new SmtpFailure(SmtpStage.StartTls, SmtpOutcome.TemporaryFailure, reply, SmtpFailureKind.Tls);
            Break(failure);
            return failure;
        }

        (_reader, _writer) = CreatePipes(ssl);
        _firstReadAfterHandshake = true;
        _saslChannel = SaslChannel.Tls(ChannelBinding.FromSslStream(ssl));
        Info = Info with
        {
            Tls = true,
            ImplicitTls = implicitTls,
            TlsProtocol = ssl.SslProtocol,
            CipherSuite = ssl.NegotiatedCipherSuite,
            Verification = _verification,
        };
        if (_log.IsEnabled(LogLevel.Debug))
        {
            var verified = _verification is { } v ? $"pkix={v.PkixValid} dane={v.DaneValid?.ToString() ?? "none"}" : "unknown";
            SmtpClientLog.TlsEstablished(_log, _cid, Info.TlsVersionName, ssl.NegotiatedCipherSuite.ToString(), verified);
        }

        return null;
    }

    /// <summary>
    /// Why a certificate was refused: the errors of the verifications that were required (under DANE
    /// alone a PKIX error is no reason, and naming it would hide the real one); both when neither says.
    /// </summary>
    private static string RejectionReasons(TlsVerification v, ClientTlsOptions tls)
    {
        var required = new[] { tls.VerifyPkix ? v.PkixError : null, tls.VerifyDane ? v.DaneError : null }.Where(e => !string.IsNullOrEmpty(e)).ToList();
        return string.Join("; ", required.Count > 0 ? required : new[] { v.PkixError, v.DaneError }.Where(e => !string.IsNullOrEmpty(e)));
    }

    /// <summary>
    /// Both verifications run on every handshake (TlsVerifier) so that both can be reported; the
    /// options decide whether a failed one stops the handshake.
    /// </summary>
    private bool ValidateCertificate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        var options = _options.Tls!;
        if (certificate is null)
        {
            _verification = new TlsVerification(false, "no certificate", null, options.Tlsa.Count > 0 ? "no certificate" : null, false);
            return false;
        }

        try
        {
            var leaf = certificate as X509Certificate2 ?? new X509Certificate2(certificate);
            _verification = TlsVerifier.Verify(leaf, chain, options, _trustStore);
        }
        catch (CryptographicException e)
        {
            _verification = new TlsVerification(false, e.Message, options.Tlsa.Count > 0 ? false : null, options.Tlsa.Count > 0 ? e.Message : null, options.IgnoreVerificationErrors);
        }

        return _verification.Accepted;
    }

    /// <summary>AUTH (RFC 4954) with a Tern.Sasl client: 334 challenges in base64, 235 success.</summary>
    private async Task<SmtpFailure?> AuthenticateAsync(SmtpClientAuthOptions auth)
    {
        var offered = Info.Extensions.AuthMechanisms;
        var verified = Info.Verification is { } v && (v.PkixValid || v.DaneValid == true);
        var mechanism = SaslClientFactory.Choose(offered, _saslChannel, auth.Mechanisms, verified);
        if (mechanism is null)
        {
            var why = offered.Count == 0 ? "the server offers no AUTH" : "no usable AUTH mechanism among " + string.Join(' ', offered);
            var reply = SmtpReply.Local(451, new EnhancedStatusCode(4, 7, 0), why);
            return new SmtpFailure(SmtpStage.Auth, SmtpOutcome.TemporaryFailure, reply, SmtpFailureKind.Policy);
        }

        var sasl = SaslClientFactory.Create(mechanism, auth.Username, auth.Password, _saslChannel, offered);
        var step = sasl.Start();
        BeginCommand("AUTH "u8);
        Append(mechanism);
        if (step.Response is { } initial)
        {
            // RFC 4954 4: an initial response; "=" stands for an empty one.
            Append(" "u8);
            if (initial.Length == 0)
            {
                Append("="u8);
            }
            else
            {
                AppendBase64(initial);
            }
        }

        EndCommand(secret: true);
        while (true)
        {
            var status = await CommandAsync(_options.Timeouts.Command);
            if (status != IoStatus.Ok)
            {
                return IoFailure(status, SmtpStage.Auth);
            }

            var reply = _parser.Current;
            if (reply.Code == 235)
            {
                // For SCRAM the server must have proved it knows the password too.
                var done = sasl.Complete();
                if (done.Status != SaslStatus.Success)
                {
                    return AuthAborted(done.Failure);
                }

                Info = Info with { AuthMechanism = mechanism };
                SmtpClientLog.Authenticated(_log, _cid, mechanism);
                return null;
            }

            if (reply.Code != 334)
            {
                return ReplyFailure(SmtpStage.Auth, _parser.ToReply(), softBounce: auth.SoftBounce);
            }

            if (sasl.IsComplete || reply.LineCount != 1 || !TryDecodeChallenge(reply.Line(0), out var challenge))
            {
                return await CancelAuthAsync(SaslFailure.Malformed);
            }

            step = sasl.Step(challenge);
            if (step.Status == SaslStatus.Failure)
            {
                return await CancelAuthAsync(step.Failure);
            }

            BeginCommand(default);
            AppendBase64(step.Response ?? []);
            EndCommand(secret: true);
        }
    }

    private static bool TryDecodeChallenge(ReadOnlySpan<byte> text, out byte[] challenge)
    {
        var buffer = new byte[System.Buffers.Text.Base64.GetMaxDecodedFromUtf8Length(text.Length)];
        if (System.Buffers.Text.Base64.DecodeFromUtf8(text, buffer, out var consumed, out var written) != System.Buffers.OperationStatus.Done || consumed != text.Length)
        {
            challenge = [];
            return false;
        }

        challenge = buffer.AsSpan(0, written).ToArray();
        return true;
    }

    /// <summary>RFC 4954 4: "*" cancels the exchange; the server answers 501.</summary>
    private async Task<SmtpFailure> CancelAuthAsync(SaslFailure why)
    {
        WriteCommand("*"u8);
        var status = await CommandAsync(_options.Timeouts.Command);
        if (status != IoStatus.Ok)
        {
            return IoFailure(status, SmtpStage.Auth);
        }

        return AuthAborted(why);
    }

    private static SmtpFailure AuthAborted(SaslFailure why)
    {
        var reply = SmtpReply.Local(451, new EnhancedStatusCode(4, 7, 0), "authentication abandoned: " + why);
        return new SmtpFailure(SmtpStage.Auth, SmtpOutcome.TemporaryFailure, reply, SmtpFailureKind.Protocol);
    }
}
