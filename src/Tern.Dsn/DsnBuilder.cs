using System.Buffers;
using System.Text;

namespace Tern.Dsn;

/// <summary>
/// Builds a DSN (RFC 3464) as the bytes of a message from <c>&lt;&gt;</c> to the original sender:
/// a multipart/report (RFC 6522) of report-type delivery-status with (1) a text/plain explanation
/// that quotes every line of the remote server's reply, (2) message/delivery-status, or
/// message/global-delivery-status (RFC 6533) when UTF-8 is allowed and needed, and (3) the original
/// headers or, for a failure with RET=FULL, the original message. CRLF line ends throughout, no line
/// longer than 998 octets, and raw UTF-8 only when <see cref="DsnRequest.SmtpUtf8"/> is set (or when
/// the sender's own address cannot be written otherwise). Pure: no clock, no I/O, no configuration.
/// </summary>
public static partial class DsnBuilder
{
    private static readonly SearchValues<char> HostSpecials = SearchValues.Create(" <>()[],;:\"\\@");

    /// <summary>Builds the DSN.</summary>
    /// <exception cref="ArgumentException">The sender is the null sender, there are no recipients, or a host name is unusable.</exception>
    public static byte[] Build(DsnRequest request) => Build(request, out _);

    /// <summary>Builds the DSN and says how it must be sent.</summary>
    /// <exception cref="ArgumentException">The sender is the null sender, there are no recipients, or a host name is unusable.</exception>
    public static byte[] Build(DsnRequest request, out DsnTraits traits)
    {
        ArgumentNullException.ThrowIfNull(request);
        var buffer = new ArrayBufferWriter<byte>(8192 + request.OriginalMessage.Length);
        traits = Write(request, buffer);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Writes the DSN into <paramref name="destination"/> and says how it must be sent.</summary>
    /// <exception cref="ArgumentException">The sender is the null sender, there are no recipients, or a host name is unusable.</exception>
    public static DsnTraits Write(DsnRequest request, IBufferWriter<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(destination);
        Validate(request);

        var original = OriginalPart.Choose(request);
        var status = new ArrayBufferWriter<byte>(1024);
        var global = WriteDeliveryStatus(request, status);
        var text = ExplanationPart.Build(request, original);

        var boundary = ChooseBoundary(request, text.Body.WrittenSpan, status.WrittenSpan, original.Content.Span);

        var sender = Sanitize(request.Sender);
        var senderUtf8 = Xtext.HasNonAscii(sender);
        var eightBit = senderUtf8 || text.EightBit || (global && MimeEncoding.Has8Bit(status.WrittenSpan)) || original.EightBit;
        var smtpUtf8 = senderUtf8 || global || original.Global;

        var w = destination;
        var mta = request.ReportingMta;
        w.WriteText($"From: \"Mail Delivery System\" <MAILER-DAEMON@{mta}>\r\n");
        w.WriteText($"To: <{sender}>\r\n");
        w.WriteText($"Subject: {Subject(request.Kind)}\r\n");
        w.WriteText($"Date: {Tern.Shared.MailDate.Format(request.Date)}\r\n");
        var domain = string.IsNullOrEmpty(request.MessageIdDomain) ? mta : request.MessageIdDomain;
        w.WriteText($"Message-ID: <{MessageIdLocalPart(request)}@{domain}>\r\n");
        if (FindMessageId(original.Header.Span) is { } inReplyTo)
        {
            // RFC 3834 3.1.5 (In-Reply-To, References) so that the DSN threads with the original.
            w.WriteText($"In-Reply-To: {inReplyTo}\r\nReferences: {inReplyTo}\r\n");
        }

        // RFC 3834 5: a DSN is an automatic response.
        w.Write("Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"u8);
        w.WriteText($"Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n");
        w.Write(eightBit ? "Content-Transfer-Encoding: 8bit\r\n"u8 : "Content-Transfer-Encoding: 7bit\r\n"u8);
        w.Write("\r\nThis is a MIME-encapsulated message.\r\n"u8);

        // (1) The human-readable explanation (RFC 6522 3).
        Delimiter(w, boundary);
        w.Write("Content-Description: Notification\r\n"u8);
        w.WriteText(text.Headers);
        w.Crlf();
        w.Write(text.Body.WrittenSpan);

        // (2) The machine-readable report (RFC 3464 2, RFC 6533 6.2).
        Delimiter(w, boundary);
        w.Write("Content-Description: Delivery report\r\n"u8);
        w.Write(global
            ? "Content-Type: message/global-delivery-status\r\nContent-Transfer-Encoding: 8bit\r\n"u8
            : "Content-Type: message/delivery-status\r\n"u8);
        w.Crlf();
        w.Write(status.WrittenSpan);

        // (3) The original message or its headers (RFC 3464 2, RFC 3461 4.3).
        if (original.ContentType is not null)
        {
            Delimiter(w, boundary);
            w.WriteText($"Content-Description: {original.Description}\r\nContent-Type: {original.ContentType}\r\n");
            if (original.TransferEncoding is not null)
            {
                w.WriteText($"Content-Transfer-Encoding: {original.TransferEncoding}\r\n");
            }

            w.Crlf();
            w.Write(original.Content.Span);
        }

        w.WriteText($"\r\n--{boundary}--\r\n");
        return new DsnTraits(smtpUtf8, eightBit);
    }

    /// <summary>The Subject for each kind, as Postfix words them.</summary>
    internal static string Subject(DsnKind kind) => kind switch
    {
        DsnKind.Failure => "Undelivered Mail Returned to Sender",
        DsnKind.Delay => "Delayed Mail (still being retried)",
        _ => "Successful Mail Delivery Report",
    };

    private static void Validate(DsnRequest request)
    {
        if (string.IsNullOrEmpty(request.Sender))
        {
            throw new ArgumentException("No DSN is sent to the null sender (RFC 3461 6.2).", nameof(request));
        }

        if (request.Recipients is null || request.Recipients.Count == 0)
        {
            throw new ArgumentException("A DSN reports on at least one recipient (RFC 3464 2.1).", nameof(request));
        }

        CheckHost(request.ReportingMta, nameof(DsnRequest.ReportingMta));
        if (!string.IsNullOrEmpty(request.MessageIdDomain))
        {
            CheckHost(request.MessageIdDomain, nameof(DsnRequest.MessageIdDomain));
        }
    }

    private static void CheckHost(string host, string name)
    {
        if (string.IsNullOrEmpty(host) || !Xtext.IsPrintableAscii(host) || host.AsSpan().IndexOfAny(HostSpecials) >= 0)
        {
            throw new ArgumentException($"{name} must be an ASCII host name (A-labels), not \"{host}\".", nameof(host));
        }
    }

    private static void Delimiter(IBufferWriter<byte> w, string boundary) => w.WriteText($"\r\n--{boundary}\r\n");

    /// <summary>
    /// A boundary (RFC 2046 5.1.1) that occurs nowhere in the parts. "=_" cannot start a
    /// quoted-printable escape nor appear in base64, so encoded content never collides with it.
    /// </summary>
    internal static string ChooseBoundary(DsnRequest request, ReadOnlySpan<byte> text, ReadOnlySpan<byte> status, ReadOnlySpan<byte> original)
    {
        var stem = $"=_Tern_DSN_{request.Date.ToUnixTimeMilliseconds():x}_";
        for (var n = 0; ; n++)
        {
            var boundary = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{stem}{n}");
            var bytes = Encoding.ASCII.GetBytes(boundary);
            if (text.IndexOf(bytes) < 0 && status.IndexOf(bytes) < 0 && original.IndexOf(bytes) < 0)
            {
                return boundary;
            }
        }
    }

    private static string MessageIdLocalPart(DsnRequest request)
    {
        var kind = request.Kind switch
        {
            DsnKind.Failure => "failure",
            DsnKind.Delay => "delay",
            _ => "success",
        };
        return string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"{SafeQueueId(request.QueueId)}.dsn-{kind}.{request.Date.ToUnixTimeMilliseconds():x}");
    }

    /// <summary>The queue id reduced to dot-atom text (letters, digits, '-', '_'), at most 64 characters.</summary>
    internal static string SafeQueueId(string id)
    {
        if (string.IsNullOrEmpty(id))
        {
            return "unknown";
        }

        var chars = id.Length > 64 ? id.AsSpan(0, 64).ToArray() : id.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (!char.IsAsciiLetterOrDigit(chars[i]) && chars[i] is not '-' and not '_')
            {
                chars[i] = '-';
            }
        }

        return new string(chars);
    }

    /// <summary>Replaces control characters (CR, LF...) so that a value cannot break out of its line.</summary>
    internal static string Sanitize(string value)
    {
        if (value.AsSpan().IndexOfAnyInRange('\0', '\x1F') < 0 && !value.Contains('\x7F', StringComparison.Ordinal))
        {
            return value;
        }

        var chars = value.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (chars[i] < ' ' || chars[i] == '\x7F')
            {
                chars[i] = '?';
            }
        }

        return new string(chars);
    }

    /// <summary>The original Message-ID when it is a plain msg-id, for In-Reply-To and References.</summary>
    internal static string? FindMessageId(ReadOnlySpan<byte> header)
    {
        var inField = false;
        var value = new StringBuilder();
        while (!header.IsEmpty)
        {
            var end = header.IndexOf("\r\n"u8);
            var line = end < 0 ? header : header[..end];
            header = end < 0 ? default : header[(end + 2)..];
            if (line.IsEmpty)
            {
                break;
            }

            if (line[0] is (byte)' ' or (byte)'\t')
            {
                if (inField)
                {
                    value.Append(Encoding.Latin1.GetString(line));
                }

                continue;
            }

            if (inField)
            {
                break;
            }

            var colon = line.IndexOf((byte)':');
            if (colon > 0 && Ascii.EqualsIgnoreCase(line[..colon].TrimEnd((byte)' '), "Message-ID"u8))
            {
                inField = true;
                value.Append(Encoding.Latin1.GetString(line[(colon + 1)..]));
            }
        }

        var id = value.ToString().Trim(' ', '\t');
        if (id.Length is < 3 or > 250 || id[0] != '<' || id[^1] != '>')
        {
            return null;
        }

        foreach (var c in id.AsSpan(1, id.Length - 2))
        {
            if (c is <= ' ' or > '~' or '<' or '>')
            {
                return null;
            }
        }

        return id;
    }
}
