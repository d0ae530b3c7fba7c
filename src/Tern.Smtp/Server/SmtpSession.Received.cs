using System.Buffers;

namespace Tern.Smtp.Server;

/// <summary>The Received trace header (RFC 5321 4.4) prepended to every accepted message.</summary>
internal sealed partial class SmtpSession
{
    /// <summary>Prepends the Received header (<see cref="ReceivedHeader"/>) for this session and transaction.</summary>
    private void WriteReceivedHeader(IMessageWriter message)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ReceivedHeader.MaxLength);
        try
        {
            var n = ReceivedHeader.Write(buffer, new ReceivedFields
            {
                Helo = _helo.AsSpan(0, _heloLength),
                Client = Remote.Address,
                Hostname = _server.Hostname,
                Protocol = _envelope.SmtpUtf8 ? "UTF8SMTP"u8 : _esmtp ? "ESMTP"u8 : "SMTP"u8,
                Tls = _envelope.Tls,
                Authenticated = _envelope.AuthenticatedUser is not null,
                RequireTls = _envelope.RequireTls,
                Id = message.Id,
                TlsVersion = _envelope.Tls ? TlsVersionName(_tlsProtocol) : string.Empty,
                TlsCipher = _tlsCipherName,
                SingleRecipient = _envelope.RecipientCount == 1 ? _envelope.Recipient(0) : default,
                Date = _server.Clock.GetUtcNow(),
            });
            message.Write(buffer.AsSpan(0, n));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
