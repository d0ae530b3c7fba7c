using System.IO.Hashing;
using System.Text;

namespace Tern.Load.Tests;

/// <summary>
/// The body digest shared by <c>send --ids</c> and <c>sink --ids</c>: DATA unstuffing and its end
/// line, the relay's trace fields skipped, and the same value however the content is split.
/// </summary>
public sealed class ContentDigestTests
{
    private const string Message = "From: <a@example.org>\r\nMessage-ID: <x.1@tern-load.test>\r\nSubject: hi\r\n\r\nbody line\r\n.starts with a dot\r\n..two dots\r\nend\r\n";

    private static readonly ulong Expected = XxHash64.HashToUInt64(Encoding.ASCII.GetBytes(Message));

    /// <summary>The content as DATA sends it (RFC 5321 4.5.2: a leading '.' doubled) with its end line.</summary>
    private static string Stuffed(string content) => string.Join("\r\n", content.Split("\r\n").Select(l => l.StartsWith('.') ? "." + l : l)) + ".\r\n";

    [Fact]
    public void Content_without_trace_is_the_plain_xxhash64()
    {
        Assert.Equal(Expected, new ContentDigest().Of(Encoding.ASCII.GetBytes(Message)));
    }

    [Fact]
    public void Data_form_is_unstuffed_and_ends_at_the_end_line()
    {
        var digest = new ContentDigest();
        Assert.Equal(Expected, digest.Of(Encoding.ASCII.GetBytes(Stuffed(Message)), dotStuffed: true));
        Assert.True(digest.Ended);

        // Whatever follows the end line (pipelined commands) is not content.
        Assert.Equal(Expected, digest.Of(Encoding.ASCII.GetBytes(Stuffed(Message) + "QUIT\r\n"), dotStuffed: true));
    }

    [Fact]
    public void Every_split_of_the_data_form_gives_the_same_digest()
    {
        var wire = Encoding.ASCII.GetBytes("Received: from x\r\n\tby y; date\r\n" + Stuffed(Message));
        var digest = new ContentDigest();
        for (var cut = 0; cut <= wire.Length; cut++)
        {
            digest.Reset(dotStuffed: true);
            digest.Feed(wire.AsSpan(0, cut));
            digest.Feed(wire.AsSpan(cut));
            Assert.Equal(Expected, digest.Finish());
        }

        // And byte by byte.
        digest.Reset(dotStuffed: true);
        foreach (var b in wire)
        {
            digest.Feed([b]);
        }

        Assert.Equal(Expected, digest.Finish());
    }

    [Fact]
    public void Every_split_of_bdat_content_gives_the_same_digest()
    {
        var wire = Encoding.ASCII.GetBytes("Received: from x\r\n\tby y; date\r\nDKIM-Signature: v=1;\r\n b=abc\r\n" + Message);
        var digest = new ContentDigest();
        for (var cut = 0; cut <= wire.Length; cut++)
        {
            for (var cut2 = cut; cut2 <= wire.Length; cut2 += 7)
            {
                digest.Reset(dotStuffed: false);
                digest.Feed(wire.AsSpan(0, cut));
                digest.Feed(wire.AsSpan(cut, cut2 - cut));
                digest.Feed(wire.AsSpan(cut2));
                Assert.Equal(Expected, digest.Finish());
            }
        }
    }

    [Theory]
    [InlineData("Received: from relay.test ([127.0.0.1])\r\n\tby tern (Tern) with ESMTP id X; Sun, 6 Dec 2026 06:00:00 +0000\r\n")]
    [InlineData("received: one\r\nRECEIVED: two\r\n folded\r\n")]
    [InlineData("Return-Path: <a@example.org>\r\nAuthentication-Results: x; none\r\nARC-Seal: i=1\r\nARC-Message-Signature: i=1\r\nARC-Authentication-Results: i=1\r\nReceived-SPF: pass\r\n")]
    [InlineData("")]
    public void Leading_trace_fields_are_skipped(string trace)
    {
        Assert.Equal(Expected, new ContentDigest().Of(Encoding.ASCII.GetBytes(trace + Message)));
        Assert.Equal(Expected, new ContentDigest().Of(Encoding.ASCII.GetBytes(Stuffed(trace + Message)), dotStuffed: true));
    }

    [Fact]
    public void Trace_fields_after_the_first_other_field_are_content()
    {
        var content = "From: <a@example.org>\r\nReceived: later\r\n\r\nbody\r\n";
        Assert.Equal(XxHash64.HashToUInt64(Encoding.ASCII.GetBytes(content)), new ContentDigest().Of(Encoding.ASCII.GetBytes("Received: x\r\n" + content)));
    }

    [Theory]
    [InlineData("Receivedx: no\r\n\r\nb\r\n")]
    [InlineData("Received : a space before the colon is not this field's name\r\n\r\nb\r\n")]
    [InlineData("X-A-Field-Name-Longer-Than-Any-Trace-Field-Name: v\r\n\r\nb\r\n")]
    [InlineData("\r\nno header at all\r\n")]
    [InlineData("no line end")]
    [InlineData("Rec")]
    public void Other_content_is_hashed_whole(string content)
    {
        var bytes = Encoding.ASCII.GetBytes(content);
        var digest = new ContentDigest();
        for (var cut = 0; cut <= bytes.Length; cut++)
        {
            digest.Reset(dotStuffed: false);
            digest.Feed(bytes.AsSpan(0, cut));
            digest.Feed(bytes.AsSpan(cut));
            Assert.Equal(XxHash64.HashToUInt64(bytes), digest.Finish());
        }
    }

    [Fact]
    public void A_changed_byte_changes_the_digest()
    {
        var bytes = Encoding.ASCII.GetBytes(Message);
        bytes[^5] ^= 0x20;
        Assert.NotEqual(Expected, new ContentDigest().Of(bytes));
    }

    [Theory]
    [InlineData(".\r\n", "")]
    [InlineData("a\r\n.\rb\r\n.\r\n", "a\r\n\rb\r\n")]
    [InlineData("a\r\n..\r\n.\r\n", "a\r\n.\r\n")]
    [InlineData(".x\r\n.\r\n", "x\r\n")]
    public void Unstuffing_edge_cases(string wire, string content)
    {
        var digest = new ContentDigest();
        Assert.Equal(XxHash64.HashToUInt64(Encoding.ASCII.GetBytes(content)), digest.Of(Encoding.ASCII.GetBytes(wire), dotStuffed: true));
        Assert.True(digest.Ended);
    }

    [Fact]
    public void Reset_starts_a_new_message()
    {
        var digest = new ContentDigest();
        digest.Reset(dotStuffed: true);
        digest.Feed("Received: partial\r\nFrom: x\r\n\r\nhalf a mess"u8);
        Assert.Equal(Expected, digest.Of(Encoding.ASCII.GetBytes(Message)));
    }
}
