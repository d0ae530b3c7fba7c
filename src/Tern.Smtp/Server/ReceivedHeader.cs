using System.Net;
using System.Text;

namespace Tern.Smtp.Server;

/// <summary>What a Received trace header (RFC 5321 4.4) says about one accepted message.</summary>
public readonly ref struct ReceivedFields
{
    /// <summary>The name the client gave (HELO/EHLO); empty: the client's address literal stands for it.</summary>
    public ReadOnlySpan<byte> Helo { get; init; }

    public required IPAddress Client { get; init; }

    /// <summary>This server's name.</summary>
    public ReadOnlySpan<byte> Hostname { get; init; }

    /// <summary>The protocol's base name (SMTP, ESMTP, UTF8SMTP, HTTP); <see cref="Tls"/> and <see cref="Authenticated"/> add RFC 3848's S and A.</summary>
    public ReadOnlySpan<byte> Protocol { get; init; }

    public bool Tls { get; init; }

    public bool Authenticated { get; init; }

    /// <summary>REQUIRETLS was used (RFC 8689 4.2: "(requiretls)" after the protocol).</summary>
    public bool RequireTls { get; init; }

    /// <summary>The queue id.</summary>
    public ReadOnlySpan<byte> Id { get; init; }

    /// <summary>"TLSv1.3" and the cipher suite's name, written when <see cref="Tls"/> is set.</summary>
    public string TlsVersion { get; init; }

    public string TlsCipher { get; init; }

    /// <summary>The recipient for "for &lt;...&gt;": only when there is exactly one (listing several would disclose Bcc recipients).</summary>
    public ReadOnlySpan<byte> SingleRecipient { get; init; }

    public DateTimeOffset Date { get; init; }
}

/// <summary>
/// The Received trace header Tern prepends to every accepted message, whichever way it came in:
/// <c>Received: from HELO ([IP]) by HOST (Tern) with PROTOCOL [(requiretls)] id ID (using TLSv1.3
/// with cipher X) for &lt;RCPT&gt;; DATE</c>. The protocol name follows RFC 3848 / RFC 6531
/// (ESMTP, ESMTPS, ESMTPSA, UTF8SMTPS...).
/// </summary>
public static class ReceivedHeader
{
    /// <summary>Room for any header this writes; longer input is cut (the header is bounded).</summary>
    public const int MaxLength = 2048;

    /// <summary>Writes the header with its CRLF into <paramref name="destination"/>; returns its length.</summary>
    public static int Write(Span<byte> destination, scoped in ReceivedFields f)
    {
        var w = new SpanWriter(destination);
        w.Write("Received: from "u8);
        if (f.Helo.IsEmpty)
        {
            w.Write("["u8);
            w.WriteAscii(f.Client);
            w.Write("]"u8);
        }
        else
        {
            w.Write(f.Helo);
            w.Write(" (["u8);
            w.WriteAscii(f.Client);
            w.Write("])"u8);
        }

        w.Write("\r\n\tby "u8);
        w.Write(f.Hostname);
        w.Write(" (Tern) with "u8);
        w.Write(f.Protocol);
        if (f.Tls)
        {
            w.Write("S"u8);
        }

        if (f.Authenticated)
        {
            w.Write("A"u8);
        }

        if (f.RequireTls)
        {
            w.Write(" (requiretls)"u8);
        }

        w.Write(" id "u8);
        w.Write(f.Id);
        if (f.Tls)
        {
            w.Write("\r\n\t(using "u8);
            w.WriteAscii(f.TlsVersion ?? string.Empty);
            w.Write(" with cipher "u8);
            w.WriteAscii(f.TlsCipher ?? string.Empty);
            w.Write(")"u8);
        }

        if (!f.SingleRecipient.IsEmpty)
        {
            w.Write("\r\n\tfor <"u8);
            w.Write(f.SingleRecipient);
            w.Write(">"u8);
        }

        w.Write("; "u8);
        w.WriteDate(f.Date);
        w.Write("\r\n"u8);
        return w.Written.Length;
    }

    /// <summary>Append-only writer over a span; truncates silently at the end (the header is bounded).</summary>
    private ref struct SpanWriter(Span<byte> buffer)
    {
        private readonly Span<byte> _buffer = buffer;
        private int _n;

        public readonly ReadOnlySpan<byte> Written => _buffer[.._n];

        public void Write(scoped ReadOnlySpan<byte> data)
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

        public void WriteAscii(IPAddress address)
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
