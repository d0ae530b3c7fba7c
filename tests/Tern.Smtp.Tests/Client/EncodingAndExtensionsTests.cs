using System.Text;
using Tern.Smtp.Client;

namespace Tern.Smtp.Tests.Client;

/// <summary>Dot-stuffing and line-end repair of outgoing content; EHLO keyword parsing.</summary>
public sealed class EncodingAndExtensionsTests
{
    [Theory]
    [InlineData("", ".\r\n")]
    [InlineData("a\r\n", "a\r\n.\r\n")]
    [InlineData("a", "a\r\n.\r\n")]
    [InlineData(".\r\n", "..\r\n.\r\n")]
    [InlineData("a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n.\r\n")]
    [InlineData("..x\r\n.", "...x\r\n..\r\n.\r\n")]
    [InlineData("a.b\r\n", "a.b\r\n.\r\n")]
    [InlineData("a\nb\r\n", "a\r\nb\r\n.\r\n")]
    [InlineData("a\rb\r\n", "a\r\nb\r\n.\r\n")]
    [InlineData("a\n.\n", "a\r\n..\r\n.\r\n")]
    [InlineData("a\r", "a\r\n.\r\n")]
    [InlineData("\r\r\n", "\r\n\r\n.\r\n")]
    public void Data_is_dot_stuffed_and_crlf_only(string input, string expected)
    {
        Assert.Equal(expected, EncodeAll(input, outputSize: 4096));
    }

    [Fact]
    public void Encoding_resumes_across_small_output_buffers()
    {
        var input = string.Concat(Enumerable.Range(0, 200).Select(i => i % 3 == 0 ? $".line {i}\r\n" : i % 7 == 0 ? $"bare lf {i}\n" : $"line {i}\r\n"));
        var expected = EncodeAll(input, outputSize: 1 << 16);
        for (var size = 2; size < 12; size++)
        {
            Assert.Equal(expected, EncodeAll(input, size));
        }

        Assert.DoesNotContain("\r\n.l", expected, StringComparison.Ordinal);
        Assert.Equal(0, CountBare(expected));
    }

    [Theory]
    [InlineData("a\r\nb\r\n", false)]
    [InlineData("", false)]
    [InlineData("a\nb", true)]
    [InlineData("a\rb", true)]
    [InlineData("a\r", true)]
    [InlineData("\n", true)]
    public void Bare_line_ends_are_found(string input, bool bare) =>
        Assert.Equal(bare, DataEncoding.HasBareLineEnd(Encoding.ASCII.GetBytes(input)));

    [Fact]
    public void Ehlo_keywords_are_recognised()
    {
        var e = SmtpExtensions.Parse(
        [
            "mx.example.net greets you",
            "pipelining",
            "8BITMIME",
            "SMTPUTF8",
            "SIZE 35882577",
            "STARTTLS",
            "REQUIRETLS",
            "ENHANCEDSTATUSCODES",
            "CHUNKING",
            "BINARYMIME",
            "DSN",
            "AUTH PLAIN login SCRAM-SHA-256",
            "AUTH=CRAM-MD5 PLAIN",
            "LIMITS RCPTMAX=50 MAILMAX=10 RCPTDOMAINMAX=5",
            "",
        ]);
        Assert.True(e.Pipelining && e.EightBitMime && e.SmtpUtf8 && e.Size && e.StartTls && e.RequireTls);
        Assert.True(e.EnhancedStatusCodes && e.Chunking && e.BinaryMime && e.Dsn);
        Assert.Equal(35882577, e.MaxSize);
        Assert.Equal(["PLAIN", "LOGIN", "SCRAM-SHA-256", "CRAM-MD5"], e.AuthMechanisms);
        Assert.Equal(50, e.RcptMax);
        Assert.Equal(10, e.MailMax);
    }

    [Fact]
    public void The_first_line_is_not_a_keyword_and_unknown_ones_are_ignored()
    {
        var e = SmtpExtensions.Parse(["PIPELINING is my name", "XFORWARD NAME ADDR", "SIZE"]);
        Assert.False(e.Pipelining);
        Assert.True(e.Size);
        Assert.Equal(0, e.MaxSize);
    }

    [Theory]
    [InlineData("LIMITS RCPTMAX=0 MAILMAX=3", 0, 3)]
    [InlineData("LIMITS RCPTMAX=1234567 MAILMAX=3", 0, 3)]
    [InlineData("LIMITS RCPTMAX=x", 0, 0)]
    [InlineData("LIMITS RCPTMAX MAILMAX=3", 0, 0)]
    [InlineData("LIMITS mailmax=7", 0, 7)]
    public void Limits_follow_rfc_9422(string line, int rcptMax, int mailMax)
    {
        var e = SmtpExtensions.Parse(["host", line]);
        Assert.Equal(rcptMax, e.RcptMax);
        Assert.Equal(mailMax, e.MailMax);
    }

    private static string EncodeAll(string input, int outputSize)
    {
        var data = Encoding.ASCII.GetBytes(input);
        var output = new List<byte>();
        var buffer = new byte[outputSize];
        var position = 0;
        var lineStart = true;
        var repaired = false;
        while (position < data.Length)
        {
            var n = DataEncoding.Encode(data, ref position, ref lineStart, buffer, stuffDots: true, ref repaired);
            Assert.True(n > 0 || buffer.Length < 2);
            output.AddRange(buffer.AsSpan(0, n).ToArray());
        }

        var end = new byte[DataEncoding.MaxFinish];
        output.AddRange(end.AsSpan(0, DataEncoding.Finish(lineStart, end)).ToArray());
        Assert.Equal(DataEncoding.HasBareLineEnd(data), repaired);
        return Encoding.ASCII.GetString(output.ToArray());
    }

    private static int CountBare(string s)
    {
        var n = 0;
        for (var i = 0; i < s.Length; i++)
        {
            if ((s[i] == '\r' && (i + 1 >= s.Length || s[i + 1] != '\n')) || (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')))
            {
                n++;
            }
        }

        return n;
    }
}
