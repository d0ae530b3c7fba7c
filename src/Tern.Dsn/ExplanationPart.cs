using System.Buffers;
using System.Text;

namespace Tern.Dsn;

/// <summary>
/// The human-readable first part (RFC 6522 3, RFC 3464 6.1): what happened to each recipient and the
/// remote server's reply, every line verbatim, indented by four spaces.
/// </summary>
internal sealed class ExplanationPart
{
    private const string Indent = "    ";

    /// <summary>Content-Type and Content-Transfer-Encoding lines, each with its CRLF.</summary>
    public required string Headers { get; init; }

    public required ArrayBufferWriter<byte> Body { get; init; }

    /// <summary>The body is sent as 8bit UTF-8.</summary>
    public bool EightBit { get; init; }

    /// <summary>
    /// Writes the text, then picks the encoding: 7bit US-ASCII when it is plain ASCII with short
    /// lines; 8bit UTF-8 when it has UTF-8 and SMTPUTF8 was used; quoted-printable UTF-8 otherwise
    /// (non-ASCII without SMTPUTF8, a reply line longer than 998 octets, control characters), which
    /// keeps every reply line verbatim once decoded.
    /// </summary>
    public static ExplanationPart Build(DsnRequest request, OriginalPart original)
    {
        var text = Encoding.UTF8.GetBytes(Compose(request, original));
        var body = new ArrayBufferWriter<byte>(text.Length + 256);
        var plain = MimeEncoding.IsLineSafe(text) && !MimeEncoding.HasControls(text);
        var eight = MimeEncoding.Has8Bit(text);
        if (plain && !eight)
        {
            body.Write(text);
            return new ExplanationPart { Headers = "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n", Body = body };
        }

        if (plain && request.SmtpUtf8)
        {
            body.Write(text);
            return new ExplanationPart
            {
                Headers = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n",
                Body = body,
                EightBit = true,
            };
        }

        body.WriteQuotedPrintable(text);
        return new ExplanationPart { Headers = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n", Body = body };
    }

    internal static string Compose(DsnRequest request, OriginalPart original)
    {
        var t = new StringBuilder(1024);
        t.Append("This is the mail system at host ").Append(request.ReportingMta).Append(".\r\n\r\n");
        switch (request.Kind)
        {
            case DsnKind.Failure:
                t.Append("I'm sorry to have to inform you that your message could not\r\n")
                    .Append("be delivered to one or more recipients. Delivery has been given up;\r\n")
                    .Append("the details, with the reply of the remote server, are below.\r\n");
                break;
            case DsnKind.Delay:
                t.Append("Your message has not been delivered yet to one or more recipients.\r\n")
                    .Append("Delivery is still being retried: you do not need to send it again.\r\n")
                    .Append("The details, with the reply of the remote server, are below.\r\n");
                break;
            default:
                t.Append("Your message was successfully delivered to the destination(s)\r\n")
                    .Append("listed below. If a message was delivered to a mailbox, you will\r\n")
                    .Append("receive no further notifications for it.\r\n");
                break;
        }

        foreach (var r in request.Recipients)
        {
            t.Append("\r\n");
            Recipient(t, r);
        }

        t.Append("\r\n");
        Line(t, "Queue ID: ", request.QueueId);
        Line(t, "Sender: ", "<" + request.Sender + ">");
        Line(t, "Arrival date: ", Tern.Shared.MailDate.Format(request.ArrivalDate));
        if (!string.IsNullOrEmpty(request.EnvelopeId))
        {
            Line(t, "Envelope ID: ", DsnBuilder.EnvelopeIdValue(request.EnvelopeId));
        }

        switch (original.What)
        {
            case OriginalPart.Returned.Message:
                t.Append("\r\nThe original message is attached.\r\n");
                break;
            case OriginalPart.Returned.Headers:
                t.Append("\r\nThe headers of the original message are attached.\r\n");
                break;
            case OriginalPart.Returned.HeadersInsteadOfMessage:
                t.Append("\r\nThe original message could not be attached unchanged (a line is\r\n")
                    .Append("longer than 998 octets, or CR and LF are not paired); its headers\r\n")
                    .Append("are attached instead.\r\n");
                break;
            default:
                break;
        }

        return t.ToString();
    }

    private static void Recipient(StringBuilder t, DsnRecipient r)
    {
        t.Append('<').Append(DsnBuilder.Sanitize(r.FinalRecipient)).Append(">: ").Append(r.Action switch
        {
            DsnAction.Failed => "delivery failed and has been given up.",
            DsnAction.Delayed => "not delivered yet; delivery will be retried.",
            DsnAction.Delivered => "delivered.",
            DsnAction.Relayed => "relayed to a server that does not send delivery notifications;\r\n    no further notification will follow.",
            _ => "delivered and forwarded to further addresses.",
        }).Append("\r\n");

        if (!string.IsNullOrEmpty(r.OriginalRecipient))
        {
            Line(t, "Original recipient: ", DsnBuilder.OriginalRecipientValue(r.OriginalRecipient, global: true));
        }

        Line(t, "Status: ", DsnBuilder.StatusCode(r));
        var remote = r.RemoteMtaName is { Length: > 0 } || r.RemoteMtaAddress is not null;
        if (remote)
        {
            var name = r.RemoteMtaName is { Length: > 0 } n ? DsnBuilder.Sanitize(n) : null;
            var ip = r.RemoteMtaAddress is { } a ? DsnBuilder.AddressLiteral(a) : null;
            Line(t, "Remote server: ", name is null ? ip! : ip is null ? name : name + " " + ip);
        }

        if (r.LastAttemptDate is { } last)
        {
            Line(t, "Last attempt: ", Tern.Shared.MailDate.Format(last));
        }

        if (r.Action == DsnAction.Delayed && r.WillRetryUntil is { } until)
        {
            Line(t, "Will retry until: ", Tern.Shared.MailDate.Format(until));
        }

        var lines = DsnBuilder.ReplyLines(r.DiagnosticCode);
        if (lines.Count == 0)
        {
            return;
        }

        t.Append(remote ? "The remote server replied:\r\n" : "Reason:\r\n");
        foreach (var line in lines)
        {
            // Verbatim: a CR or other control character inside a line makes the part quoted-printable.
            t.Append(Indent).Append(line).Append("\r\n");
        }
    }

    private static void Line(StringBuilder t, string label, string value) =>
        t.Append(label).Append(DsnBuilder.Sanitize(value)).Append("\r\n");
}
