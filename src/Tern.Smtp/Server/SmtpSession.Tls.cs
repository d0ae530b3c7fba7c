using System.Net.Security;
using System.Security.Authentication;
using Tern.Sasl;

namespace Tern.Smtp.Server;

/// <summary>STARTTLS (RFC 3207) and implicit TLS (RFC 8314): the connection's pipes are swapped for pipes over SslStream.</summary>
internal sealed partial class SmtpSession
{
    private SslProtocols _tlsProtocol;
    private string _tlsCipherName = string.Empty;

    private async Task<bool> StartTlsAsync()
    {
        await _writer.FlushAsync();

        // RFC 3207 5 / CVE-2011-0411: anything the client pipelined after STARTTLS was sent in the
        // clear and must not be executed after the handshake.
        if (_reader.TryRead(out var leftover))
        {
            if (!leftover.Buffer.IsEmpty)
            {
                SmtpServerLog.StartTlsInjection(_server.Log, Cid, Remote, leftover.Buffer.Length);
            }

            _reader.AdvanceTo(leftover.Buffer.End);
        }

        await _reader.CompleteAsync();
        await _writer.CompleteAsync();

        var certificate = _listener.Options.Certificate!;
        var ssl = new SslStream(_stream, leaveInnerStreamOpen: false);
        // .NET's OpenSSL server context sets SSL_OP_CIPHER_SERVER_PREFERENCE: the server's cipher order wins.
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = certificate.Context,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            ClientCertificateRequired = false,
            AllowRenegotiation = false,
            EncryptionPolicy = EncryptionPolicy.RequireEncryption,
        };

        _timer.Change(Limits.TlsHandshakeTimeout, Timeout.InfiniteTimeSpan);
        using var handshakeTimeout = new CancellationTokenSource(Limits.TlsHandshakeTimeout);

        // The handshake's key exchange and signature take CPU: off the socket's completion thread, which
        // the host lets run reads inline and which serves other connections too.
        await Task.Yield();
        try
        {
            await ssl.AuthenticateAsServerAsync(options, handshakeTimeout.Token);
        }
        catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException or System.Net.Sockets.SocketException)
        {
            _server.Metrics.TlsFailed();
            SmtpServerLog.TlsFailed(_server.Log, Cid, Remote, e.Message);
            await ssl.DisposeAsync();

            // Nothing can be said in the clear any more; the connection is closed.
            _stream = Stream.Null;
            (_reader, _writer) = CreatePipes(_stream);
            return false;
        }

        _stream = ssl;
        (_reader, _writer) = CreatePipes(ssl);
        _tlsProtocol = ssl.SslProtocol;
        // Named once per connection: the Received header of every message uses it.
        _tlsCipherName = ssl.NegotiatedCipherSuite.ToString();
        var version = TlsVersionName(_tlsProtocol);
        _server.Metrics.TlsEstablished(version);
        if (_server.Log.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Debug))
        {
            SmtpServerLog.TlsEstablished(_server.Log, Cid, version, _tlsCipherName);
        }

        // RFC 3207 4.2: forget everything learned before TLS; the client starts with EHLO again.
        ResetTransaction();
        _envelope.AuthenticatedUser = null;
        _auth = null;
        _state = SessionState.Connected;
        _heloLength = 0;
        _helloSeen = false;
        _esmtp = false;
        _envelope.Tls = true;

        // tls-unique on TLS 1.2, tls-server-end-point on TLS 1.3 (.NET has no exporter): -PLUS mechanisms need one.
        var plus = _tlsProtocol != SslProtocols.Tls13 || (_server.Options.Authentication?.PlusOnTls13 ?? true);
        _saslChannel = SaslChannel.Tls(plus ? Tern.Sasl.ChannelBindings.ChannelBinding.FromSslStream(ssl) : null);
        return true;
    }

    internal static string TlsVersionName(SslProtocols p) => p switch
    {
        SslProtocols.Tls13 => "TLSv1.3",
        SslProtocols.Tls12 => "TLSv1.2",
        _ => "other",
    };
}
