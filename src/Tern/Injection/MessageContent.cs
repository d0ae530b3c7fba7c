using System.Buffers;
using MimeKit;

namespace Tern.Injection;

/// <summary>A refused request: the HTTP status, a stable code and a sentence for people.</summary>
internal sealed record Refusal(int Status, string Code, string Message);

/// <summary>What the header section of a message already has (RFC 6409 8: a submission server adds Date and Message-ID when missing).</summary>
internal readonly record struct HeaderFacts(bool HasDate, bool HasMessageId, bool EightBit);

/// <summary>
/// The message of an injection request as it is stored: a raw message checked and brought to CRLF
/// line ends, or a structured one assembled with MimeKit. Either way the result has CRLF line ends
/// only, no line over the limit, and a header section of header fields.
/// </summary>
internal static class MessageContent
{
    private static readonly SearchValues<byte> LineEnds = SearchValues.Create("\r\n"u8);

    /// <summary>Header fields the structured form sets itself, or that belong to the MIME structure.</summary>
    private static readonly HashSet<string> ReservedHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "From", "To", "Cc", "Bcc", "Reply-To", "Subject",
        "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "Content-ID",
    };

    /// <summary>
    /// Raw content as stored: bare LF becomes CRLF (JSON strings are usually written with \n), a bare
    /// CR is refused (it is not a line end in RFC 5322 and servers disagree on it), a line longer
    /// than <paramref name="maxLine"/> with its CRLF is refused (RFC 5321 4.5.3.1.6), and the last
    /// line gets a CRLF when it has none.
    /// </summary>
    public static Refusal? Normalise(ReadOnlySpan<byte> input, int maxLine, out byte[] output)
    {
        output = [];
        if (input.IsEmpty)
        {
            return new Refusal(400, "invalid_message", "the message is empty");
        }

        var extra = 2;
        for (var i = 0; i < input.Length; i++)
        {
            if (input[i] == '\n' && (i == 0 || input[i - 1] != '\r'))
            {
                extra++;
            }
        }

        var result = new byte[input.Length + extra];
        var n = 0;
        var line = 1;
        var rest = input;
        while (!rest.IsEmpty)
        {
            var end = rest.IndexOfAny(LineEnds);
            var text = end < 0 ? rest : rest[..end];
            if (text.Length + 2 > maxLine)
            {
                return new Refusal(400, "invalid_message", $"line {line} is longer than {maxLine} bytes with its CRLF (RFC 5321 4.5.3.1.6)");
            }

            text.CopyTo(result.AsSpan(n));
            n += text.Length;
            result[n++] = (byte)'\r';
            result[n++] = (byte)'\n';
            if (end < 0)
            {
                break;
            }

            if (rest[end] == '\r')
            {
                if (end + 1 >= rest.Length || rest[end + 1] != '\n')
                {
                    return new Refusal(400, "invalid_message", $"line {line} has a bare CR (lines end with CRLF or LF)");
                }

                end++;
            }

            rest = rest[(end + 1)..];
            line++;
        }

        output = n == result.Length ? result : result[..n];
        return null;
    }

    /// <summary>
    /// Checks that the header section (up to the first empty line) is made of header fields
    /// (RFC 5322 2.2: name, colon, value; continuation lines start with white space) and reports
    /// what it has. <paramref name="message"/> has CRLF line ends.
    /// </summary>
    public static Refusal? ScanHeaders(ReadOnlySpan<byte> message, out HeaderFacts facts)
    {
        facts = default;
        bool date = false, messageId = false, eightBit = false;
        var line = 1;
        while (!message.IsEmpty)
        {
            var end = message.IndexOf("\r\n"u8);
            var text = end < 0 ? message : message[..end];
            if (text.IsEmpty)
            {
                if (line == 1)
                {
                    // An empty first line ends a header section with no field in it: the text is all body.
                    return new Refusal(400, "invalid_message", "the message has no header section: it starts with an empty line, not a header field");
                }

                break;
            }

            if (text.IndexOfAnyInRange((byte)0x80, (byte)0xFF) >= 0)
            {
                eightBit = true;
            }

            if (text[0] is (byte)' ' or (byte)'\t')
            {
                if (line == 1)
                {
                    return new Refusal(400, "invalid_message", "the message starts with a continuation line, not a header field");
                }
            }
            else
            {
                var colon = text.IndexOf((byte)':');
                var name = colon < 0 ? default : text[..colon].TrimEnd((byte)' ');
                if (name.IsEmpty || name.IndexOfAnyExceptInRange((byte)33, (byte)126) >= 0)
                {
                    return new Refusal(400, "invalid_message", $"line {line} of the header section is not a header field (name: value); a message starts with its header fields, then an empty line, then the body");
                }

                date |= System.Text.Ascii.EqualsIgnoreCase(name, "Date"u8);
                messageId |= System.Text.Ascii.EqualsIgnoreCase(name, "Message-ID"u8);
            }

            if (end < 0)
            {
                break;
            }

            message = message[(end + 2)..];
            line++;
        }

        facts = new HeaderFacts(date, messageId, eightBit);
        return null;
    }

    /// <summary>
    /// Assembles a structured message: From/To/Cc/Reply-To/Subject, extra headers, a text and/or
    /// HTML part, attachments (inline ones, with a content id, go with the HTML into
    /// multipart/related). Bodies are encoded for 7-bit transport (quoted-printable or base64, as
    /// MimeKit judges best), so the message needs no 8BITMIME. Date and Message-ID are set unless
    /// the extra headers give them.
    /// </summary>
    public static Refusal? Assemble(StructuredMessage m, string messageId, DateTimeOffset date, out Assembled result)
    {
        result = default;
        if (ParseMailboxes(m.From, "message.from", out var from) is { } fromError)
        {
            return fromError;
        }

        if (from.Count != 1)
        {
            return Invalid("message.from", "needs exactly one address");
        }

        var message = new MimeMessage();

        // The parameterless constructor may preset Date and Message-Id; ours (or the caller's) go in below.
        message.Headers.RemoveAll(HeaderId.Date);
        message.Headers.RemoveAll(HeaderId.MessageId);
        message.From.Add(from[0]);
        var envelope = new List<MailboxAddress>();
        foreach (var (field, values, list) in new (string, string[]?, InternetAddressList?)[]
        {
            ("message.to", m.To, message.To),
            ("message.cc", m.Cc, message.Cc),
            ("message.bcc", m.Bcc, null),
            ("message.reply_to", m.ReplyTo, message.ReplyTo),
        })
        {
            foreach (var value in values ?? [])
            {
                if (ParseMailboxes(value, field, out var parsed) is { } error)
                {
                    return error;
                }

                list?.AddRange(parsed);
                if (field != "message.reply_to")
                {
                    envelope.AddRange(parsed);
                }
            }
        }

        if (m.Subject is { } subject)
        {
            if (HasLineBreak(subject))
            {
                return Invalid("message.subject", "must not contain CR, LF or NUL");
            }

            message.Subject = subject;
        }

        foreach (var (name, value) in m.Headers ?? [])
        {
            if (name.Length == 0 || name.AsSpan().IndexOfAnyExceptInRange((char)33, (char)126) >= 0 || name.Contains(':', StringComparison.Ordinal))
            {
                return Invalid("message.headers", $"\"{name}\" is not a header field name");
            }

            if (ReservedHeaders.Contains(name))
            {
                return Invalid("message.headers", $"{name} is set by the structured fields or the MIME structure, not in headers");
            }

            if (value is null || HasLineBreak(value))
            {
                return Invalid("message.headers", $"the value of {name} must be a string without CR, LF or NUL");
            }

            message.Headers.Add(name, value);
        }

        if (!message.Headers.Contains(HeaderId.Date))
        {
            message.Date = date;
        }

        if (!message.Headers.Contains(HeaderId.MessageId))
        {
            message.MessageId = messageId;
        }

        var body = new BodyBuilder { TextBody = m.Text, HtmlBody = m.Html };
        foreach (var (a, i) in (m.Attachments ?? []).Select((a, i) => (a, i)))
        {
            var field = $"message.attachments[{i}]";
            if (a.ContentBase64 is null)
            {
                return Invalid(field, "needs content_base64");
            }

            byte[] content;
            try
            {
                content = Convert.FromBase64String(a.ContentBase64);
            }
            catch (FormatException)
            {
                return Invalid(field, "content_base64 is not base64");
            }

            if (!ContentType.TryParse(a.ContentType ?? "application/octet-stream", out var type))
            {
                return Invalid(field, $"\"{a.ContentType}\" is not a content type such as application/pdf");
            }

            if (a.Filename is { } f && HasLineBreak(f))
            {
                return Invalid(field, "filename must not contain CR, LF or NUL");
            }

            if (a.ContentId is { } cid)
            {
                if (cid.Length == 0 || cid.AsSpan().IndexOfAnyExceptInRange((char)33, (char)126) >= 0 || cid.Contains('<', StringComparison.Ordinal) || cid.Contains('>', StringComparison.Ordinal))
                {
                    return Invalid(field, "content_id must be printable ASCII without spaces or angle brackets");
                }

                var part = body.LinkedResources.Add(a.Filename ?? cid, content, type);
                part.ContentId = cid;
            }
            else
            {
                body.Attachments.Add(a.Filename ?? "attachment", content, type);
            }
        }

        if (m.Text is null && m.Html is null && body.Attachments.Count == 0)
        {
            return Invalid("message", "needs text, html or attachments");
        }

        message.Body = body.ToMessageBody();
        message.Prepare(EncodingConstraint.SevenBit);

        // Addresses with a non-ASCII local part can only be written as UTF-8 (RFC 6532), which needs SMTPUTF8 on delivery.
        var international = message.From.Mailboxes.Concat(message.To.Mailboxes).Concat(message.Cc.Mailboxes).Concat(message.ReplyTo.Mailboxes)
            .Any(a => !System.Text.Ascii.IsValid(a.LocalPart));
        var options = FormatOptions.Default.Clone();
        options.NewLineFormat = NewLineFormat.Dos;
        options.International = international;
        using var stream = new MemoryStream();
        message.WriteTo(options, stream);
        result = new Assembled(stream.ToArray(), from[0].Address, envelope.Select(a => a.Address).Distinct(StringComparer.OrdinalIgnoreCase).ToList(), international);
        return null;
    }

    private static Refusal? ParseMailboxes(string? text, string field, out List<MailboxAddress> mailboxes)
    {
        mailboxes = [];
        if (text is null)
        {
            return Invalid(field, "is missing");
        }

        if (HasLineBreak(text) || !InternetAddressList.TryParse(text, out var list))
        {
            return Invalid(field, $"\"{text}\" is not an address list (RFC 5322 3.4)");
        }

        mailboxes.AddRange(list.Mailboxes);
        if (mailboxes.Count == 0)
        {
            return Invalid(field, $"\"{text}\" has no address");
        }

        return null;
    }

    private static bool HasLineBreak(string s) => s.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0;

    private static Refusal Invalid(string field, string why) => new(400, "invalid_message", $"{field} {why}");
}

/// <summary>An assembled message, the From address and the envelope recipients its To, Cc and Bcc give (without duplicates).</summary>
internal readonly record struct Assembled(byte[] Bytes, string From, List<string> Recipients, bool International);
