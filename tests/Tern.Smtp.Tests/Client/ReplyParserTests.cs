using System.Buffers;
using System.Text;
using Tern.Smtp.Client;

namespace Tern.Smtp.Tests.Client;

/// <summary>SmtpReplyParser: RFC 5321 4.2 replies whole, byte by byte and split across segments; limits and errors as values.</summary>
public sealed class ReplyParserTests
{
    private const string Ehlo =
        "250-mx.example.net Hello\r\n" +
        "250-PIPELINING\r\n" +
        "250-SIZE 1000\r\n" +
        "250 8BITMIME\r\n";

    [Fact]
    public void Single_line_reply_with_enhanced_code()
    {
        var reply = ParseOne("250 2.1.5 Ok\r\n");
        Assert.Equal(250, reply.Code);
        Assert.Equal(new EnhancedStatusCode(2, 1, 5), reply.EnhancedCode);
        Assert.Equal(["2.1.5 Ok"], reply.Lines);
        Assert.Equal("2.1.5", reply.Status);
        Assert.False(reply.IsLocal);
    }

    [Fact]
    public void Multi_line_reply_keeps_every_line()
    {
        var reply = ParseOne("550-5.7.1 Service unavailable; client [192.0.2.1] blocked\r\n550-5.7.1 using zen.example; see\r\n550 5.7.1 https://example.net/lookup\r\n");
        Assert.Equal(550, reply.Code);
        Assert.Equal(new EnhancedStatusCode(5, 7, 1), reply.EnhancedCode);
        Assert.Equal(3, reply.Lines.Count);
        Assert.Equal("5.7.1 https://example.net/lookup", reply.Lines[2]);
        Assert.Equal("550-5.7.1 Service unavailable; client [192.0.2.1] blocked\r\n550-5.7.1 using zen.example; see\r\n550 5.7.1 https://example.net/lookup", reply.ToString());
    }

    [Fact]
    public void Bare_lf_and_code_alone_are_accepted()
    {
        var reply = ParseOne("250-first\n250\n");
        Assert.Equal(250, reply.Code);
        Assert.Equal(["first", ""], reply.Lines);
        Assert.Equal("250-first\r\n250", reply.ToString());
    }

    [Theory]
    [InlineData("250 5.1.1 class differs\r\n")]
    [InlineData("550 5.1 short\r\n")]
    [InlineData("550 5.1.1234 detail too long\r\n")]
    [InlineData("550 3.1.1 class 3\r\n")]
    [InlineData("550 5.1.1x glued\r\n")]
    [InlineData("550 User unknown\r\n")]
    public void Enhanced_code_only_when_it_is_one(string text) => Assert.Null(ParseOne(text).EnhancedCode);

    [Fact]
    public void Enhanced_code_with_three_digit_parts_and_alone()
    {
        Assert.Equal(new EnhancedStatusCode(4, 123, 999), ParseOne("451 4.123.999\r\n").EnhancedCode);
        Assert.Equal("4.123.999", ParseOne("451 4.123.999\r\n").Status);
        Assert.True(EnhancedStatusCode.TryParse("5.7.30", out var code));
        Assert.Equal(new EnhancedStatusCode(5, 7, 30), code);
        Assert.False(EnhancedStatusCode.TryParse("5.7.", out _));
    }

    [Theory]
    [InlineData("25 short\r\n")]
    [InlineData("2x0 letters\r\n")]
    [InlineData("150 class one\r\n")]
    [InlineData("650 class six\r\n")]
    [InlineData("250_underscore\r\n")]
    [InlineData("250-first\r\n251 other code\r\n")]
    [InlineData("\r\n")]
    public void Malformed_replies_are_errors(string text)
    {
        using var parser = new SmtpReplyParser();
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(text)));
        Assert.True(parser.TryParse(ref reader, out var error));
        Assert.Equal(SmtpReplyError.Malformed, error);
    }

    [Fact]
    public void Line_length_is_bounded_with_and_without_a_line_end()
    {
        using var parser = new SmtpReplyParser(new SmtpReplyLimits { MaxLineLength = 20 });
        var ok = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes("250 " + new string('x', 16) + "\r\n"));
        Assert.True(parser.TryParse(ref ok, out var error));
        Assert.Equal(SmtpReplyError.None, error);

        var tooLong = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes("250 " + new string('x', 17) + "\r\n"));
        Assert.True(parser.TryParse(ref tooLong, out error));
        Assert.Equal(SmtpReplyError.LineTooLong, error);

        // No line end yet: the parser does not wait for more than the limit.
        var endless = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes("250 " + new string('x', 100)));
        Assert.True(parser.TryParse(ref endless, out error));
        Assert.Equal(SmtpReplyError.LineTooLong, error);

        var partial = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes("250 " + new string('x', 16) + "\r"));
        Assert.False(parser.TryParse(ref partial, out error));
        Assert.Equal(SmtpReplyError.None, error);
    }

    [Fact]
    public void Line_count_is_bounded()
    {
        using var parser = new SmtpReplyParser(new SmtpReplyLimits { MaxLines = 3 });
        var three = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes("250-a\r\n250-b\r\n250 c\r\n"));
        Assert.True(parser.TryParse(ref three, out var error));
        Assert.Equal(SmtpReplyError.None, error);
        var four = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes("250-a\r\n250-b\r\n250-c\r\n250 d\r\n"));
        Assert.True(parser.TryParse(ref four, out error));
        Assert.Equal(SmtpReplyError.TooManyLines, error);
    }

    [Fact]
    public void Incomplete_reply_needs_more_and_keeps_its_lines()
    {
        using var parser = new SmtpReplyParser();
        var first = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes("250-one\r\n250-tw"));
        Assert.False(parser.TryParse(ref first, out var error));
        Assert.Equal(SmtpReplyError.None, error);
        Assert.Equal("250-tw", Encoding.ASCII.GetString(first.ToArray()));

        var rest = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes("250-two\r\n250 three\r\n"));
        Assert.True(parser.TryParse(ref rest, out error));
        Assert.Equal(["one", "two", "three"], parser.ToReply().Lines);
        Assert.True(rest.IsEmpty);
    }

    [Fact]
    public void Byte_at_a_time_gives_the_same_replies()
    {
        const string input = Ehlo + "354 End data with <CR><LF>.<CR><LF>\r\n" + "550-5.1.1 no\n550 5.1.1 such user\r\n" + "250 2.0.0 Ok\r\n";
        var whole = ParseAll(Encoding.ASCII.GetBytes(input), byteAtATime: false);
        var bytes = ParseAll(Encoding.ASCII.GetBytes(input), byteAtATime: true);
        Assert.Equal(4, whole.Count);
        Assert.Equal(whole.Select(r => r.ToString()), bytes.Select(r => r.ToString()));
        Assert.Equal(new EnhancedStatusCode(5, 1, 1), bytes[2].EnhancedCode);
        Assert.Equal(4, bytes[0].Lines.Count);
    }

    [Fact]
    public void Every_split_point_across_segments_gives_the_same_reply()
    {
        var data = Encoding.ASCII.GetBytes(Ehlo);
        for (var cut = 1; cut < data.Length; cut++)
        {
            using var parser = new SmtpReplyParser();
            var sequence = Segments.Split(data, cut);
            Assert.True(parser.TryParse(ref sequence, out var error), $"cut {cut}");
            Assert.Equal(SmtpReplyError.None, error);
            Assert.Equal(Ehlo.TrimEnd().Replace("\r\n", "|", StringComparison.Ordinal), parser.ToReply().ToString().Replace("\r\n", "|", StringComparison.Ordinal));
        }

        using var perByte = new SmtpReplyParser();
        var oneByteSegments = Segments.PerByte(data);
        Assert.True(perByte.TryParse(ref oneByteSegments, out var e));
        Assert.Equal(SmtpReplyError.None, e);
        Assert.Equal(["mx.example.net Hello", "PIPELINING", "SIZE 1000", "8BITMIME"], perByte.ToReply().Lines);
    }

    [Fact]
    public void View_reads_in_place_and_parser_is_reusable()
    {
        using var parser = new SmtpReplyParser();
        var input = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes("250-a\r\n250 b\r\n451 4.3.0 later\r\n"));
        Assert.True(parser.TryParse(ref input, out _));
        var view = parser.Current;
        Assert.Equal(250, view.Code);
        Assert.Equal(2, view.Class);
        Assert.Equal(2, view.LineCount);
        Assert.Equal("b"u8.ToArray(), view.Line(1).ToArray());
        Assert.True(parser.TryParse(ref input, out _));
        Assert.Equal(451, parser.Current.Code);
        Assert.Equal(1, parser.Current.LineCount);
        Assert.Equal(new EnhancedStatusCode(4, 3, 0), parser.Current.EnhancedCode);
    }

    [Fact]
    public void Long_replies_grow_the_pooled_buffer()
    {
        var lines = Enumerable.Range(0, 100).Select(i => $"250-{new string((char)('a' + (i % 26)), 200)}\r\n");
        var text = string.Concat(lines) + "250 end\r\n";
        var reply = ParseOne(text);
        Assert.Equal(101, reply.Lines.Count);
        Assert.Equal(new string('e', 200), reply.Lines[4]);
    }

    [Fact]
    public void Control_characters_do_not_reach_the_kept_reply()
    {
        var reply = ParseOne("550 bad\u0001text\ttab\u001b[31m\r\n");
        Assert.Equal("bad?text\ttab?[31m", reply.Lines[0]);
    }

    [Fact]
    public void Local_replies_carry_their_enhanced_code()
    {
        var reply = SmtpReply.Local(552, new EnhancedStatusCode(5, 3, 4), "too big");
        Assert.True(reply.IsLocal);
        Assert.Equal("552 5.3.4 too big", reply.ToString());
        Assert.Equal(5, reply.Class);
    }

    private static SmtpReply ParseOne(string text)
    {
        var replies = ParseAll(Encoding.UTF8.GetBytes(text), byteAtATime: false);
        return Assert.Single(replies);
    }

    /// <summary>Feeds input as a pipe would (unconsumed bytes stay buffered), whole or one byte per read.</summary>
    private static List<SmtpReply> ParseAll(byte[] input, bool byteAtATime)
    {
        using var parser = new SmtpReplyParser();
        var replies = new List<SmtpReply>();
        var buffered = new List<byte>();
        var step = byteAtATime ? 1 : input.Length;
        for (var offset = 0; offset < input.Length; offset += step)
        {
            buffered.AddRange(input.AsSpan(offset, Math.Min(step, input.Length - offset)).ToArray());
            while (true)
            {
                var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(buffered.ToArray()));
                var done = parser.TryParse(ref reader, out var error);
                buffered.RemoveRange(0, (int)reader.Consumed);
                if (!done)
                {
                    break;
                }

                Assert.Equal(SmtpReplyError.None, error);
                replies.Add(parser.ToReply());
            }
        }

        Assert.Empty(buffered);
        return replies;
    }
}

/// <summary>Multi-segment sequences, as a pipe hands data over.</summary>
internal sealed class Segments : ReadOnlySequenceSegment<byte>
{
    private Segments(ReadOnlyMemory<byte> memory, long runningIndex)
    {
        Memory = memory;
        RunningIndex = runningIndex;
    }

    public static ReadOnlySequence<byte> Split(byte[] data, int at)
    {
        var first = new Segments(data.AsMemory(0, at), 0);
        var second = new Segments(data.AsMemory(at), at);
        first.Next = second;
        return new ReadOnlySequence<byte>(first, 0, second, second.Memory.Length);
    }

    public static ReadOnlySequence<byte> PerByte(byte[] data)
    {
        var first = new Segments(data.AsMemory(0, 1), 0);
        var last = first;
        for (var i = 1; i < data.Length; i++)
        {
            var next = new Segments(data.AsMemory(i, 1), i);
            last.Next = next;
            last = next;
        }

        return new ReadOnlySequence<byte>(first, 0, last, 1);
    }
}
