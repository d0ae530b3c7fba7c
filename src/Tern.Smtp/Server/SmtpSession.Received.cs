using System.Buffers;
using System.Globalization;
using System.Text;

namespace Tern.Smtp.Server;

/// <summary>The Received trace header (RFC 5321 4.4) prepended to every accepted message.</summary>
internal sealed partial class SmtpSession
{

    /// <summary>
    /// <c>Received: from HELO ([IP]) by HOST (Tern) with PROTOCOL [(requiretls)] id ID
    /// (using TLSv1.3 with cipher X) for &lt;RCPT&gt;; DATE</c>. The protocol name follows RFC 3848 /
    /// RFC 6531 (ESMTP, ESMTPS, ESMTPSA, UTF8SMTPS...).
    /// </summary>
    private void WriteReceivedHeader(IMessageWriter message)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(2048);
        try
        {
            var w = new SpanWriter(buffer);
            w.Write("Received: from "u8);
            w.Write(_helo.AsSpan(0, _heloLength));
            w.Write(" (["u8);
            w.WriteAscii(Remote.Address);
            w.Write("])\r\n\tby "u8);
            w.Write(_server.Hostname);
            w.Write(" (Tern) with "u8);
            w.Write(_envelope.SmtpUtf8 ? "UTF8SMTP"u8 : _esmtp ? "ESMTP"u8 : "SMTP"u8);
            if (_envelope.Tls)
            {
                w.Write("S"u8);
            }

            if (_envelope.AuthenticatedUser is not null)
            {
                w.Write("A"u8);
            }

            if (_envelope.RequireTls)
            {
                w.Write(" (requiretls)"u8);
            }

            w.Write(" id "u8);
            w.Write(message.Id);
            if (_envelope.Tls)
            {
                w.Write("\r\n\t(using "u8);
                w.WriteAscii(TlsVersionName(_tlsProtocol));
                w.Write(" with cipher "u8);
                w.WriteAscii(_tlsCipherName);
                w.Write(")"u8);
            }

            if (_envelope.RecipientCount == 1)
            {
                // "for" only with a single recipient: listing several would disclose Bcc recipients.
                w.Write("\r\n\tfor <"u8);
                w.Write(_envelope.Recipient(0));
                w.Write(">"u8);
            }

            w.Write("; "u8);
            w.WriteDate(_server.Clock.GetUtcNow());
            w.Write("\r\n"u8);
            message.Write(w.Written);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Append-only writer over a span; truncates silently at the end (the header is bounded).</summary>
    private ref struct SpanWriter(Span<byte> buffer)
    {
        private readonly Span<byte> _buffer = buffer;
        private int _n;

        public readonly ReadOnlySpan<byte> Written => _buffer[.._n];

        public void Write(ReadOnlySpan<byte> data)
        {
            var take = Math.Min(data.Length, _buffer.Length - _n);
            data[..take].CopyTo(_buffer[_n..]);
            _n += take;
        }

        public void WriteAscii(string s)
        {
            var take = Math.Min(s.Length, _buffer.Length - _n);
            _n += Encoding.ASCII.GetBytes(s.AsSpan(0, take), _buffer[_n..]);
        }

        public void WriteAscii(System.Net.IPAddress address)
        {
            if (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6)
            {
                Write("IPv6:"u8);
            }

            Span<char> chars = stackalloc char[64];
            if (address.TryFormat(chars, out var n))
            {
                WriteAscii(chars[..n]);
            }
        }

        /// <summary>RFC 5322 3.3 date-time, in UTC: "Sat, 28 Nov 2026 18:42:07 +0000".</summary>
        public void WriteDate(DateTimeOffset t)
        {
            Span<char> chars = stackalloc char[Tern.Shared.MailDate.MaxLength];
            WriteAscii(chars[..Tern.Shared.MailDate.Format(t.ToUniversalTime(), chars)]);
        }

        private void WriteAscii(scoped ReadOnlySpan<char> chars)
        {
            var take = Math.Min(chars.Length, _buffer.Length - _n);
            _n += Encoding.ASCII.GetBytes(chars[..take], _buffer[_n..]);
        }
    }
}
