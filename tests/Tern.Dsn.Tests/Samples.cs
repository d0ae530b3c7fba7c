using System.Net;
using System.Text;
using MimeKit;

namespace Tern.Dsn.Tests;

/// <summary>Requests and parsing helpers shared by the tests.</summary>
internal static class Samples
{
    public static readonly DateTimeOffset Arrival = new(2026, 3, 3, 9, 15, 0, TimeSpan.FromHours(1));
    public static readonly DateTimeOffset Attempt = new(2026, 3, 3, 10, 4, 5, TimeSpan.Zero);
    public static readonly DateTimeOffset Now = new(2026, 3, 3, 10, 4, 6, TimeSpan.Zero);

    public const string Reply =
        "550-5.7.1 [192.0.2.10] The IP you're using to send mail is not authorized to\r\n" +
        "550-5.7.1 send email directly to our servers. Please use the SMTP relay at your\r\n" +
        "550-5.7.1 service provider instead.  Learn more at\r\n" +
        "550 5.7.1  https://support.example.net/mail/?p=NotAuthorizedError x1si.123 - gsmtp";

    public const string Headers =
        "Received: from client.example.org ([192.0.2.77])\r\n" +
        "\tby mta.example.org (Tern) with ESMTPS id 01M8HZX7Y5V96DBCEMYNVE69H2\r\n" +
        "From: Alice <alice@example.org>\r\n" +
        "To: Bob <bob@example.net>\r\n" +
        "Subject: Lunch\r\n" +
        "Message-ID: <lunch.42@example.org>\r\n" +
        "Date: Tue, 3 Mar 2026 09:14:59 +0100\r\n";

    public const string Body = "Shall we have lunch at noon?\r\n\r\n-- \r\nAlice\r\n";

    public static byte[] Original(string headers = Headers, string body = Body) => Encoding.UTF8.GetBytes(headers + "\r\n" + body);

    public static DsnRecipient Failed(string address = "bob@example.net") => new()
    {
        FinalRecipient = address,
        OriginalRecipient = "rfc822;" + address,
        Action = DsnAction.Failed,
        Status = "5.7.1",
        RemoteMtaName = "mx1.example.net",
        RemoteMtaAddress = IPAddress.Parse("198.51.100.25"),
        DiagnosticCode = Reply,
        LastAttemptDate = Attempt,
    };

    public static DsnRequest Failure(params DsnRecipient[] recipients) => new()
    {
        ReportingMta = "mta.example.org",
        QueueId = "01M8HZX7Y5V96DBCEMYNVE69H2",
        Sender = "alice@example.org",
        EnvelopeId = "QQ+2B314159",
        ArrivalDate = Arrival,
        Kind = DsnKind.Failure,
        Recipients = recipients.Length == 0 ? [Failed()] : recipients,
        OriginalMessage = Original(),
        Date = Now,
    };

    public static MimeMessage Parse(byte[] dsn)
    {
        using var stream = new MemoryStream(dsn);
        return MimeMessage.Load(stream);
    }

    public static MultipartReport Report(MimeMessage message) => Assert.IsType<MultipartReport>(message.Body);

    public static MessageDeliveryStatus Status(MimeMessage message) =>
        Assert.IsType<MessageDeliveryStatus>(Report(message)[1]);

    public static string Text(MimeMessage message) => Assert.IsType<TextPart>(Report(message)[0]).Text;

    /// <summary>Every line of the DSN, split at CRLF; fails on a bare CR or LF.</summary>
    public static List<byte[]> Lines(byte[] dsn)
    {
        var lines = new List<byte[]>();
        var start = 0;
        for (var i = 0; i < dsn.Length; i++)
        {
            if (dsn[i] == '\n')
            {
                Assert.True(i > 0 && dsn[i - 1] == '\r', $"bare LF at {i}");
                lines.Add(dsn[start..(i - 1)]);
                start = i + 1;
            }
            else if (dsn[i] == '\r')
            {
                Assert.True(i + 1 < dsn.Length && dsn[i + 1] == '\n', $"bare CR at {i}");
            }
        }

        Assert.Equal(dsn.Length, start);
        return lines;
    }

    public static string Ascii(byte[] dsn) => Encoding.UTF8.GetString(dsn);
}
