using System.Net;
using System.Text;
using MimeKit;
using MimeKit.Utils;
using static Tern.Dsn.Tests.Samples;

namespace Tern.Dsn.Tests;

public class DsnBuilderTests
{
    private static readonly string[] ReplyLines = Reply.Split("\r\n");

    /// <summary>Builds, checks CRLF-only and the 998-octet limit, and parses with MimeKit.</summary>
    private static (byte[] Bytes, MimeMessage Message, DsnTraits Traits) BuildAndParse(DsnRequest request)
    {
        var bytes = DsnBuilder.Build(request, out var traits);
        foreach (var line in Lines(bytes))
        {
            Assert.True(line.Length <= 998, $"line of {line.Length} octets");
        }

        Assert.Equal(traits.EightBit, bytes.Any(b => b > 127));
        return (bytes, Parse(bytes), traits);
    }

    [Fact]
    public void Failure_is_a_multipart_report_with_three_parts()
    {
        var (_, message, traits) = BuildAndParse(Failure());

        Assert.Equal("\"Mail Delivery System\" <MAILER-DAEMON@mta.example.org>", message.Headers[HeaderId.From]);
        Assert.Equal("MAILER-DAEMON@mta.example.org", Assert.IsType<MailboxAddress>(message.From.Single()).Address);
        Assert.Equal("alice@example.org", Assert.IsType<MailboxAddress>(message.To.Single()).Address);
        Assert.Equal("Undelivered Mail Returned to Sender", message.Subject);
        Assert.Equal(Now, message.Date);
        Assert.Equal("01M8HZX7Y5V96DBCEMYNVE69H2.dsn-failure.19cb327a5f0@mta.example.org", message.MessageId);
        Assert.Equal("auto-replied", message.Headers["Auto-Submitted"]);
        Assert.Equal("1.0", message.Headers[HeaderId.MimeVersion]);
        Assert.Equal("lunch.42@example.org", message.InReplyTo);
        Assert.Equal("lunch.42@example.org", message.References.Single());

        var report = Report(message);
        Assert.Equal("delivery-status", report.ReportType);
        Assert.Equal(3, report.Count);
        Assert.True(report[0].ContentType.IsMimeType("text", "plain"));
        Assert.True(report[1].ContentType.IsMimeType("message", "delivery-status"));

        // No RET: headers only (text/rfc822-headers), as Postfix and mox do.
        Assert.True(report[2].ContentType.IsMimeType("text", "rfc822-headers"));
        Assert.Equal(new DsnTraits(false, false), traits);
    }

    [Fact]
    public void Per_message_fields()
    {
        var (_, message, _) = BuildAndParse(Failure());
        var fields = Status(message).StatusGroups[0];

        // ENVID "QQ+2B314159" is xtext for "QQ+314159" (RFC 3461 4).
        Assert.Equal("QQ+314159", fields["Original-Envelope-Id"]);
        Assert.Equal("dns; mta.example.org", fields["Reporting-MTA"]);
        Assert.True(DateUtils.TryParse(fields["Arrival-Date"], out DateTimeOffset arrival));
        Assert.Equal(Arrival, arrival);
        Assert.Equal("Tue, 3 Mar 2026 09:15:00 +0100", fields["Arrival-Date"]);
    }

    [Fact]
    public void Per_recipient_fields()
    {
        var (_, message, _) = BuildAndParse(Failure());
        var groups = Status(message).StatusGroups;
        Assert.Equal(2, groups.Count);
        var r = groups[1];

        Assert.Equal("rfc822;bob@example.net", r["Original-Recipient"]);
        Assert.Equal("rfc822; bob@example.net", r["Final-Recipient"]);
        Assert.Equal("failed", r["Action"]);
        Assert.Equal("5.7.1", r["Status"]);
        Assert.Equal("dns; mx1.example.net (198.51.100.25)", r["Remote-MTA"]);
        Assert.Equal("Tue, 3 Mar 2026 10:04:05 +0000", r["Last-Attempt-Date"]);
        Assert.Null(r["Will-Retry-Until"]);
        Assert.StartsWith("smtp; 550-5.7.1 [192.0.2.10]", r["Diagnostic-Code"]!, StringComparison.Ordinal);
    }

    [Fact]
    public void The_full_reply_is_in_the_text_and_in_Diagnostic_Code()
    {
        var (bytes, message, _) = BuildAndParse(Failure());

        // The human-readable part: every line verbatim, indented, in order.
        var text = Text(message);
        Assert.Contains(string.Concat(ReplyLines.Select(l => "    " + l + "\r\n")), text.ReplaceLineEndings("\r\n"), StringComparison.Ordinal);
        Assert.Contains("mx1.example.net [198.51.100.25]", text, StringComparison.Ordinal);

        // Diagnostic-Code: each reply line on its own folded line; unfolded, the lines joined by a space.
        Assert.Equal("smtp; " + string.Join(" ", ReplyLines), Status(message).StatusGroups[1]["Diagnostic-Code"]);
        var raw = Ascii(bytes);
        Assert.Contains("Diagnostic-Code: smtp; " + string.Join("\r\n ", ReplyLines) + "\r\n", raw, StringComparison.Ordinal);
    }

    [Fact]
    public void RET_HDRS_returns_the_headers()
    {
        var (_, message, _) = BuildAndParse(Failure() with { Ret = DsnRet.Headers });
        var part = Report(message)[2];
        Assert.True(part.ContentType.IsMimeType("text", "rfc822-headers"));
        var headers = Assert.IsType<MessagePart>(part, exactMatch: false);
        Assert.Equal("Lunch", headers.Message!.Subject);
        Assert.Contains("The headers of the original message are attached.", Text(message), StringComparison.Ordinal);
    }

    [Fact]
    public void RET_FULL_returns_the_message_byte_for_byte()
    {
        var original = Original();
        var (bytes, message, traits) = BuildAndParse(Failure() with { Ret = DsnRet.Full });
        var part = Assert.IsType<MessagePart>(Report(message)[2]);
        Assert.True(part.ContentType.IsMimeType("message", "rfc822"));
        Assert.Equal("Lunch", part.Message!.Subject);
        Assert.Equal(Body, BodyOf(part.Message));
        Assert.True(bytes.AsSpan().IndexOf(original) > 0);
        Assert.Contains("The original message is attached.", Text(message), StringComparison.Ordinal);
        Assert.Equal(new DsnTraits(false, false), traits);
    }

    [Fact]
    public void RET_FULL_with_an_8bit_body_is_message_rfc822_8bit()
    {
        var body = "Grüße aus Köln\r\n";
        var request = Failure() with { Ret = DsnRet.Full, OriginalMessage = Original(Headers + "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n", body) };
        var (_, message, traits) = BuildAndParse(request);
        var part = Assert.IsType<MessagePart>(Report(message)[2]);
        Assert.True(part.ContentType.IsMimeType("message", "rfc822"));
        Assert.Equal(ContentEncoding.EightBit, Assert.IsType<TextPart>(part.Message!.Body).ContentTransferEncoding);
        Assert.Equal("8bit", part.Headers[HeaderId.ContentTransferEncoding]);
        Assert.Equal(Encoding.UTF8.GetBytes(body), RawBodyOf(part.Message));
        Assert.Equal(new DsnTraits(false, true), traits);
    }

    [Fact]
    public void RET_FULL_applies_to_failures_only()
    {
        var delay = Failure() with
        {
            Ret = DsnRet.Full,
            Kind = DsnKind.Delay,
            Recipients = [Failed() with { Action = DsnAction.Delayed, Status = "4.7.1", WillRetryUntil = Now.AddDays(5) }],
        };
        var (_, message, _) = BuildAndParse(delay);
        Assert.True(Report(message)[2].ContentType.IsMimeType("text", "rfc822-headers"));
    }

    [Fact]
    public void A_message_that_cannot_be_embedded_returns_its_headers()
    {
        var request = Failure() with { Ret = DsnRet.Full, OriginalMessage = Original(body: new string('x', 2000) + "\r\n") };
        var (_, message, _) = BuildAndParse(request);
        Assert.True(Report(message)[2].ContentType.IsMimeType("text", "rfc822-headers"));
        Assert.Contains("its headers\r\nare attached instead.", Text(message).ReplaceLineEndings("\r\n"), StringComparison.Ordinal);
    }

    [Fact]
    public void Delay_has_Will_Retry_Until()
    {
        var until = new DateTimeOffset(2026, 3, 8, 9, 15, 0, TimeSpan.Zero);
        var request = Failure() with
        {
            Kind = DsnKind.Delay,
            Recipients = [Failed() with { Action = DsnAction.Delayed, Status = "4.4.1", DiagnosticCode = "421 4.4.1 Try again later", WillRetryUntil = until }],
        };
        var (_, message, _) = BuildAndParse(request);
        Assert.Equal("Delayed Mail (still being retried)", message.Subject);
        var r = Status(message).StatusGroups[1];
        Assert.Equal("delayed", r["Action"]);
        Assert.Equal("4.4.1", r["Status"]);
        Assert.Equal("Sun, 8 Mar 2026 09:15:00 +0000", r["Will-Retry-Until"]);
        Assert.Equal("smtp; 421 4.4.1 Try again later", r["Diagnostic-Code"]);
        Assert.Contains("Will retry until: Sun, 8 Mar 2026 09:15:00 +0000", Text(message), StringComparison.Ordinal);
        Assert.Contains("MAILER-DAEMON", message.From.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Will_Retry_Until_only_for_delayed()
    {
        var (_, message, _) = BuildAndParse(Failure(Failed() with { WillRetryUntil = Now.AddDays(1) }));
        Assert.Null(Status(message).StatusGroups[1]["Will-Retry-Until"]);
    }

    [Fact]
    public void Success_for_NOTIFY_SUCCESS()
    {
        Assert.True(DsnPolicy.ShouldNotify(DsnKind.Success, DsnNotify.Success, senderIsNull: false));
        var request = Failure() with
        {
            Kind = DsnKind.Success,
            Ret = DsnRet.Full,
            Recipients =
            [
                new DsnRecipient
                {
                    FinalRecipient = "bob@example.net",
                    Action = DsnAction.Delivered,
                    Status = "2.0.0",
                    RemoteMtaName = "mx1.example.net",
                    DiagnosticCode = "250 2.0.0 OK 1709460245 x1si.123 - gsmtp",
                    LastAttemptDate = Attempt,
                },
                new DsnRecipient { FinalRecipient = "carol@example.com", Action = DsnAction.Relayed, RemoteMtaName = "mx.example.com" },
            ],
        };
        var (_, message, _) = BuildAndParse(request);
        Assert.Equal("Successful Mail Delivery Report", message.Subject);
        var groups = Status(message).StatusGroups;
        Assert.Equal(3, groups.Count);
        Assert.Equal("delivered", groups[1]["Action"]);
        Assert.Equal("2.0.0", groups[1]["Status"]);
        Assert.Equal("dns; mx1.example.net", groups[1]["Remote-MTA"]);
        Assert.Null(groups[1]["Original-Recipient"]);
        Assert.Equal("relayed", groups[2]["Action"]);
        Assert.Equal("2.0.0", groups[2]["Status"]);
        Assert.Null(groups[2]["Diagnostic-Code"]);

        // RET=FULL is for failures: a success DSN returns the headers.
        Assert.True(Report(message)[2].ContentType.IsMimeType("text", "rfc822-headers"));
        Assert.Equal("<bob@example.net>: delivered.", Text(message).ReplaceLineEndings("\n").Split('\n').Single(l => l.StartsWith("<bob", StringComparison.Ordinal)));
    }

    [Fact]
    public void SMTPUTF8_uses_the_global_types_and_utf8_addresses()
    {
        var request = Failure(Failed("bøb@exämple.net")) with
        {
            Sender = "ålice@exämple.org",
            SmtpUtf8 = true,
            OriginalMessage = Original(Headers.Replace("Subject: Lunch", "Subject: Mittagessen für zwei", StringComparison.Ordinal)),
        };
        var (bytes, message, traits) = BuildAndParse(request);
        Assert.Equal(new DsnTraits(true, true), traits);
        Assert.Equal("ålice@exämple.org", Assert.IsType<MailboxAddress>(message.To.Single()).Address);

        var report = Report(message);
        Assert.True(report[1].ContentType.IsMimeType("message", "global-delivery-status"));
        var raw = Ascii(bytes);
        Assert.Contains("Final-Recipient: utf-8; bøb@exämple.net\r\n", raw, StringComparison.Ordinal);
        Assert.Contains("Original-Recipient: rfc822;bøb@exämple.net\r\n", raw, StringComparison.Ordinal);
        var status = Assert.IsType<MessageDeliveryStatus>(report[1]);
        Assert.Equal("utf-8; bøb@exämple.net", status.StatusGroups[1]["Final-Recipient"]);

        // UTF-8 headers: message/global-headers (RFC 6533 6.3), 8bit.
        Assert.True(report[2].ContentType.IsMimeType("message", "global-headers"));
        Assert.Contains("Subject: Mittagessen für zwei\r\n", raw, StringComparison.Ordinal);

        // The text says it in UTF-8, 8bit.
        Assert.Equal(ContentEncoding.EightBit, Assert.IsType<TextPart>(report[0]).ContentTransferEncoding);
        Assert.Contains("<bøb@exämple.net>: delivery failed", Text(message), StringComparison.Ordinal);
    }

    [Fact]
    public void SMTPUTF8_RET_FULL_with_UTF8_headers_is_message_global()
    {
        var original = Original(Headers.Replace("Subject: Lunch", "Subject: Mittagessen für zwei", StringComparison.Ordinal), "Bis gleich!\r\n");
        var request = Failure() with { SmtpUtf8 = true, Ret = DsnRet.Full, OriginalMessage = original };
        var (bytes, message, traits) = BuildAndParse(request);
        Assert.Equal(new DsnTraits(true, true), traits);

        // All addresses are ASCII: the report stays message/delivery-status.
        var report = Report(message);
        Assert.True(report[1].ContentType.IsMimeType("message", "delivery-status"));
        Assert.True(report[2].ContentType.IsMimeType("message", "global"));
        Assert.Equal("8bit", report[2].Headers[HeaderId.ContentTransferEncoding]);
        Assert.True(bytes.AsSpan().IndexOf(original) > 0);
    }

    [Fact]
    public void Write_and_Build_give_the_same_bytes()
    {
        var request = Failure() with { Ret = DsnRet.Full };
        var writer = new System.Buffers.ArrayBufferWriter<byte>(16);
        var traits = DsnBuilder.Write(request, writer);
        Assert.Equal(DsnBuilder.Build(request, out var built), writer.WrittenSpan.ToArray());
        Assert.Equal(built, traits);
    }

    [Fact]
    public void SMTPUTF8_without_any_UTF8_keeps_the_plain_types()
    {
        var (_, message, traits) = BuildAndParse(Failure() with { SmtpUtf8 = true });
        Assert.True(Report(message)[1].ContentType.IsMimeType("message", "delivery-status"));
        Assert.Equal(new DsnTraits(false, false), traits);
    }

    [Fact]
    public void Without_SMTPUTF8_everything_is_7bit()
    {
        // Cannot happen through Tern's SMTP server, but the builder must not leak 8-bit anyway.
        var request = Failure(Failed("bøb+x@exämple.net") with { OriginalRecipient = "utf-8;bøb\\x{2B}x@exämple.net", DiagnosticCode = "550 5.1.1 Unbekannter Empfänger" })
            with
        { OriginalMessage = Original(Headers + "X-Note: grüße\r\n") };
        var (bytes, message, traits) = BuildAndParse(request);
        Assert.Equal(new DsnTraits(false, false), traits);
        Assert.DoesNotContain(bytes, b => b > 127);

        var report = Report(message);
        Assert.True(report[1].ContentType.IsMimeType("message", "delivery-status"));
        var r = Status(message).StatusGroups[1];
        Assert.Equal("utf-8; b\\x{F8}b\\x{2B}x@ex\\x{E4}mple.net", r["Final-Recipient"]);
        Assert.Equal("utf-8;b\\x{F8}b\\x{2B}x@ex\\x{E4}mple.net", r["Original-Recipient"]);
        Assert.Equal("smtp; 550 5.1.1 Unbekannter Empf?nger", r["Diagnostic-Code"]);

        // The text part keeps the reply verbatim through quoted-printable.
        var text = Assert.IsType<TextPart>(report[0]);
        Assert.Equal(ContentEncoding.QuotedPrintable, text.ContentTransferEncoding);
        Assert.Contains("    550 5.1.1 Unbekannter Empfänger", text.Text, StringComparison.Ordinal);

        // 8-bit headers without SMTPUTF8: base64 text/rfc822-headers.
        Assert.True(report[2].ContentType.IsMimeType("text", "rfc822-headers"));
        Assert.Equal(ContentEncoding.Base64, Assert.IsType<MimePart>(report[2], exactMatch: false).ContentTransferEncoding);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_5000_character_reply_line_keeps_lines_within_998_octets(bool withSpaces)
    {
        var sb = new StringBuilder("550 5.7.1 ");
        var random = new Random(7);
        while (sb.Length < 5000)
        {
            sb.Append((char)('a' + random.Next(26)));
            if (withSpaces && random.Next(9) == 0)
            {
                sb.Append(' ');
            }
        }

        var longLine = sb.ToString();
        var reply = "550-5.7.1 first line\r\n" + longLine + "\r\n";
        var (_, message, _) = BuildAndParse(Failure(Failed() with { DiagnosticCode = reply }));

        Assert.Contains("    " + longLine + "\r\n", Text(message).ReplaceLineEndings("\r\n"), StringComparison.Ordinal);
        var diagnostic = Status(message).StatusGroups[1]["Diagnostic-Code"];
        if (withSpaces)
        {
            // Folded at white space only: unfolding gives the line back exactly.
            Assert.Equal("smtp; 550-5.7.1 first line " + longLine, diagnostic);
        }
        else
        {
            // No white space to fold at: forced breaks add a space each.
            Assert.Equal("smtp; 550-5.7.1 first line " + longLine, RemoveForcedSpaces(diagnostic!, longLine));
        }
    }

    [Fact]
    public void Every_line_ends_in_CRLF()
    {
        var reply = "550-5.1.1 bare\rCR and\r\n550-5.1.1 LF only\n550 5.1.1 end";
        var request = Failure(Failed() with { DiagnosticCode = reply }) with { Ret = DsnRet.Full };
        var (_, message, _) = BuildAndParse(request);

        // The bare CR stays verbatim in the (quoted-printable) text, and out of the report fields.
        var text = Assert.IsType<TextPart>(Report(message)[0]);
        Assert.Equal(ContentEncoding.QuotedPrintable, text.ContentTransferEncoding);
        Assert.Contains("    550-5.1.1 bare\rCR and\r\n    550-5.1.1 LF only\r\n    550 5.1.1 end\r\n", Decoded(text), StringComparison.Ordinal);
        Assert.Equal("smtp; 550-5.1.1 bare?CR and 550-5.1.1 LF only 550 5.1.1 end", Status(message).StatusGroups[1]["Diagnostic-Code"]);
    }

    [Fact]
    public void The_boundary_is_not_in_the_content()
    {
        var first = DsnBuilder.Build(Failure() with { Ret = DsnRet.Full });
        var boundary = Parse(first).Body!.ContentType.Boundary!;
        Assert.StartsWith("=_", boundary, StringComparison.Ordinal);
        Assert.Equal(5, Count(first, boundary));

        // An original that contains exactly that boundary gets another one.
        var request = Failure() with { Ret = DsnRet.Full, OriginalMessage = Original(body: "--" + boundary + "\r\n--" + boundary + "--\r\n") };
        var (bytes, message, _) = BuildAndParse(request);
        var other = message.Body!.ContentType.Boundary!;
        Assert.NotEqual(boundary, other);
        Assert.Equal(5, Count(bytes, other));
        Assert.Equal(3, Report(message).Count);
        Assert.Equal("--" + boundary + "\r\n--" + boundary + "--\r\n", BodyOf(Assert.IsType<MessagePart>(Report(message)[2]).Message!));
    }

    [Fact]
    public void Values_cannot_break_out_of_their_field()
    {
        var request = Failure(Failed("bob@example.net\r\nBcc: eve@example.com") with { RemoteMtaName = "mx\r\nX-Evil: 1" }) with
        {
            Sender = "alice@example.org\r\nX-Evil: 1",
        };
        var (_, message, _) = BuildAndParse(request);
        Assert.Null(message.Headers["X-Evil"]);
        Assert.Null(message.Headers["Bcc"]);
        var r = Status(message).StatusGroups[1];
        Assert.Null(r["Bcc"]);
        Assert.Null(r["X-Evil"]);
        // RFC 3464 2.3.2: the address exactly, except CR and LF, which a DSN field cannot carry.
        Assert.Equal("utf-8; bob@example.net\\x{0D}\\x{0A}Bcc:\\x{20}eve@example.com", r["Final-Recipient"]);
        Assert.Equal("dns; mx??X-Evil:?1 (198.51.100.25)", r["Remote-MTA"]);
    }

    [Fact]
    public void Xtext_in_ORCPT_and_ENVID_is_decoded()
    {
        var request = Failure(Failed() with { OriginalRecipient = "rfc822;bob+2Btag@example.net" }) with { EnvelopeId = "id+3Dabc+2B1" };
        var (_, message, _) = BuildAndParse(request);
        var groups = Status(message).StatusGroups;
        Assert.Equal("id=abc+1", groups[0]["Original-Envelope-Id"]);
        Assert.Equal("rfc822;bob+tag@example.net", groups[1]["Original-Recipient"]);
    }

    [Fact]
    public void Optional_fields_are_left_out()
    {
        var request = Failure(new DsnRecipient { FinalRecipient = "bob@example.net", Action = DsnAction.Failed, DiagnosticCode = "No MX or A record for example.net", DiagnosticType = "X-Tern" })
            with
        { EnvelopeId = string.Empty, OriginalMessage = ReadOnlyMemory<byte>.Empty };
        var (_, message, _) = BuildAndParse(request);
        var groups = Status(message).StatusGroups;
        Assert.Null(groups[0]["Original-Envelope-Id"]);
        Assert.Null(groups[1]["Original-Recipient"]);
        Assert.Null(groups[1]["Remote-MTA"]);
        Assert.Null(groups[1]["Last-Attempt-Date"]);
        Assert.Equal("5.0.0", groups[1]["Status"]);
        Assert.Equal("X-Tern; No MX or A record for example.net", groups[1]["Diagnostic-Code"]);
        Assert.Equal(2, Report(message).Count);
        Assert.Null(message.InReplyTo);
        Assert.Contains("Reason:\r\n    No MX or A record for example.net", Text(message).ReplaceLineEndings("\r\n"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("5.1.1", "5.1.1")]
    [InlineData("4.7.650", "4.7.650")]
    [InlineData("", "5.0.0")]
    [InlineData("550", "5.0.0")]
    [InlineData("5.1.1.1", "5.0.0")]
    [InlineData("6.1.1", "5.0.0")]
    [InlineData("5.1.1 (x)", "5.0.0")]
    public void Status_is_an_enhanced_code(string given, string expected)
    {
        var (_, message, _) = BuildAndParse(Failure(Failed() with { Status = given }));
        Assert.Equal(expected, Status(message).StatusGroups[1]["Status"]);
    }

    [Fact]
    public void Remote_MTA_with_an_address_only()
    {
        var (_, message, _) = BuildAndParse(Failure(Failed() with { RemoteMtaName = null, RemoteMtaAddress = IPAddress.Parse("2001:db8::25") }));
        Assert.Equal("dns; [IPv6:2001:db8::25]", Status(message).StatusGroups[1]["Remote-MTA"]);
    }

    [Fact]
    public void Several_recipients_each_get_a_group()
    {
        var (_, message, _) = BuildAndParse(Failure(Failed("a@example.net"), Failed("b@example.net") with { DiagnosticCode = "550 5.1.1 No such user" }));
        var groups = Status(message).StatusGroups;
        Assert.Equal(3, groups.Count);
        Assert.Equal("rfc822; a@example.net", groups[1]["Final-Recipient"]);
        Assert.Equal("rfc822; b@example.net", groups[2]["Final-Recipient"]);
        Assert.Equal("smtp; 550 5.1.1 No such user", groups[2]["Diagnostic-Code"]);
    }

    [Theory]
    [InlineData(DsnKind.Delay, DsnAction.Delayed, "4.7.1", "451")]
    [InlineData(DsnKind.Success, DsnAction.Relayed, "2.6.0", "250")]
    [InlineData(DsnKind.Failure, DsnAction.Failed, "4.4.7", "421")]
    public void Every_kind_keeps_every_line_of_a_multi_line_reply_verbatim(DsnKind kind, DsnAction action, string status, string code)
    {
        // Odd but legal replies: an indented line, trailing spaces, a tab, an empty line in the middle.
        string[] lines =
        [
            $"{code}-{status} first line",
            $"{code}-    indented continuation   ",
            $"{code}-a\ttab",
            string.Empty,
            $"{code} {status} last line",
        ];
        var reply = string.Join("\r\n", lines);
        var request = Failure(Failed() with { Action = action, Status = status, DiagnosticCode = reply, WillRetryUntil = Now.AddDays(4) }) with { Kind = kind, Ret = DsnRet.Full };
        var (bytes, message, _) = BuildAndParse(request);

        var text = Text(message).ReplaceLineEndings("\r\n");
        Assert.Contains(string.Concat(lines.Select(l => "    " + l + "\r\n")), text, StringComparison.Ordinal);
        Assert.Contains("mx1.example.net [198.51.100.25]", text, StringComparison.Ordinal);

        var r = Status(message).StatusGroups[1];
        Assert.Equal(DsnBuilder.ActionName(action), r["Action"]);
        Assert.Equal(status, r["Status"]);
        Assert.Equal("dns; mx1.example.net (198.51.100.25)", r["Remote-MTA"]);
        Assert.Equal(kind == DsnKind.Delay ? "Sat, 7 Mar 2026 10:04:06 +0000" : null, r["Will-Retry-Until"]);

        // Diagnostic-Code: every non-empty line, each on its own folded line.
        var nonEmpty = lines.Where(l => l.Length > 0).ToArray();
        Assert.Contains("Diagnostic-Code: smtp; " + string.Join("\r\n ", nonEmpty) + "\r\n", Ascii(bytes), StringComparison.Ordinal);

        // The original: the whole message for a failure with RET=FULL, the headers otherwise.
        Assert.Equal(kind == DsnKind.Failure ? "message/rfc822" : "text/rfc822-headers", Report(message)[2].ContentType.MimeType);
    }

    [Fact]
    public void The_null_sender_gets_no_DSN()
    {
        Assert.Throws<ArgumentException>(() => DsnBuilder.Build(Failure() with { Sender = string.Empty }));
        Assert.Throws<ArgumentException>(() => DsnBuilder.Build(Failure() with { Recipients = [] }));
        Assert.Throws<ArgumentException>(() => DsnBuilder.Build(Failure() with { ReportingMta = "mta example" }));
    }

    private static string Decoded(MimePart part)
    {
        using var stream = new MemoryStream();
        part.Content!.DecodeTo(stream);
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static string BodyOf(MimeMessage message) => Encoding.UTF8.GetString(RawBodyOf(message));

    private static byte[] RawBodyOf(MimeMessage message)
    {
        using var stream = new MemoryStream();
        Assert.IsType<MimePart>(message.Body, exactMatch: false).Content!.WriteTo(stream);
        return stream.ToArray();
    }

    private static int Count(byte[] haystack, string needle)
    {
        var n = 0;
        var span = haystack.AsSpan();
        var bytes = Encoding.ASCII.GetBytes(needle);
        for (var i = span.IndexOf(bytes); i >= 0; i = span.IndexOf(bytes))
        {
            n++;
            span = span[(i + bytes.Length)..];
        }

        return n;
    }

    /// <summary>Removes the spaces that forced breaks inserted into a line that had none.</summary>
    private static string RemoveForcedSpaces(string diagnostic, string line)
    {
        var at = diagnostic.IndexOf(line[..50], StringComparison.Ordinal);
        Assert.True(at > 0);
        return diagnostic[..at] + diagnostic[at..].Replace(" ", string.Empty, StringComparison.Ordinal).Insert(3, " ").Insert(9, " ");
    }
}
