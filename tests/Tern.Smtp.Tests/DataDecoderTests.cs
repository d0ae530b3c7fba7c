using System.Text;
using Tern.Smtp.Server;

namespace Tern.Smtp.Tests;

public sealed class DataDecoderTests
{
    private sealed class Sink : IDataSink
    {
        public MemoryStream Data { get; } = new();

        public void Write(ReadOnlySpan<byte> data) => Data.Write(data);
    }

    private static (bool Ended, int Consumed, string Content, DataProblems Problems) Decode(string input, int chunk = int.MaxValue, long maxSize = 1 << 20, int maxLine = 1000)
    {
        var bytes = Encoding.Latin1.GetBytes(input);
        var decoder = new DataDecoder(maxSize, maxLine);
        var sink = new Sink();
        var total = 0;
        for (var i = 0; i < bytes.Length; i += chunk)
        {
            var part = bytes.AsSpan(i, Math.Min(chunk, bytes.Length - i));
            if (decoder.Decode(part, sink, out var consumed))
            {
                return (true, total + consumed, Encoding.Latin1.GetString(sink.Data.ToArray()), decoder.Problems);
            }

            total += consumed;
        }

        return (false, total, Encoding.Latin1.GetString(sink.Data.ToArray()), decoder.Problems);
    }

    public static TheoryData<int> ChunkSizes => [1, 2, 3, 7, 4096];

    [Theory]
    [MemberData(nameof(ChunkSizes))]
    public void Unstuffs_and_finds_the_end(int chunk)
    {
        var r = Decode("Subject: x\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n", chunk);
        Assert.True(r.Ended);
        Assert.Equal("Subject: x\r\n\r\n.leading dot\r\n", r.Content);
        Assert.Equal(DataProblems.None, r.Problems);
        Assert.Equal("Subject: x\r\n\r\n..leading dot\r\n.\r\n".Length, r.Consumed);
    }

    [Theory]
    [MemberData(nameof(ChunkSizes))]
    public void Empty_message(int chunk)
    {
        var r = Decode(".\r\n", chunk);
        Assert.True(r.Ended);
        Assert.Equal("", r.Content);
    }

    [Theory]
    [InlineData("a\nb\r\n.\r\n")]
    [InlineData("a\rb\r\n.\r\n")]
    [InlineData("a\r\n.\rx\r\n.\r\n")]
    [InlineData("a\r\r\n.\r\n")]
    public void Bare_line_endings_are_flagged(string input)
    {
        var r = Decode(input);
        Assert.True(r.Ended);
        Assert.True((r.Problems & DataProblems.BareLineEnding) != 0);
    }

    [Theory]
    [InlineData("smuggled\n.\nMAIL FROM:<evil@x>\r\n.\r\n")]
    [InlineData("smuggled\r\n.\nMAIL FROM:<evil@x>\r\n.\r\n")]
    [InlineData("smuggled\n.\r\nMAIL FROM:<evil@x>\r\n.\r\n")]
    public void Smuggled_terminators_do_not_end_the_data(string input)
    {
        var r = Decode(input, 1);
        Assert.True(r.Ended);
        Assert.Equal(Encoding.Latin1.GetByteCount(input), r.Consumed);
        Assert.True((r.Problems & DataProblems.BareLineEnding) != 0);
    }

    [Fact]
    public void Long_lines_and_size_are_checked()
    {
        var line = new string('x', 999);
        Assert.True((Decode(line + "\r\n.\r\n").Problems & DataProblems.LineTooLong) != 0);
        Assert.Equal(DataProblems.None, Decode(new string('x', 998) + "\r\n.\r\n").Problems);
        var big = Decode("12345678\r\n12345678\r\n.\r\n", maxSize: 15);
        Assert.True(big.Ended);
        Assert.True((big.Problems & DataProblems.TooBig) != 0);
    }

    [Fact]
    public void Eight_bit_content_is_noticed()
    {
        var decoder = new DataDecoder(1000, 1000);
        Assert.True(decoder.Decode(Encoding.UTF8.GetBytes("gr\u00fc\u00dfe\r\n.\r\n"), new Sink(), out _));
        Assert.True(decoder.EightBit);
    }

    [Fact]
    public void Not_ended_keeps_state()
    {
        var r = Decode("abc\r\n.");
        Assert.False(r.Ended);
        Assert.Equal("abc\r\n", r.Content);
    }
}
