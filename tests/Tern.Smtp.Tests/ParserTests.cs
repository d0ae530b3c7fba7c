using System.Buffers;
using System.Text;
using Tern.Smtp.Protocol;

namespace Tern.Smtp.Tests;

public sealed class ParserTests
{
    private static ReadOnlySpan<byte> B(string s) => Encoding.UTF8.GetBytes(s);

    [Theory]
    [InlineData("EHLO mx.example.com", SmtpVerb.Ehlo, "mx.example.com")]
    [InlineData("ehlo   mx.example.com  ", SmtpVerb.Ehlo, "mx.example.com")]
    [InlineData("HeLo x", SmtpVerb.Helo, "x")]
    [InlineData("MAIL FROM:<a@b.c> SIZE=10", SmtpVerb.Mail, "FROM:<a@b.c> SIZE=10")]
    [InlineData("rcpt TO:<a@b.c>", SmtpVerb.Rcpt, "TO:<a@b.c>")]
    [InlineData("DATA", SmtpVerb.Data, "")]
    [InlineData("BDAT 100 LAST", SmtpVerb.Bdat, "100 LAST")]
    [InlineData("RSET", SmtpVerb.Rset, "")]
    [InlineData("NOOP hello", SmtpVerb.Noop, "hello")]
    [InlineData("QUIT", SmtpVerb.Quit, "")]
    [InlineData("VRFY bob", SmtpVerb.Vrfy, "bob")]
    [InlineData("EXPN list", SmtpVerb.Expn, "list")]
    [InlineData("HELP", SmtpVerb.Help, "")]
    [InlineData("starttls", SmtpVerb.StartTls, "")]
    [InlineData("AUTH PLAIN AGZvbwBiYXI=", SmtpVerb.Auth, "PLAIN AGZvbwBiYXI=")]
    [InlineData("MAILX FROM:<>", SmtpVerb.Unknown, "FROM:<>")]
    [InlineData("", SmtpVerb.Unknown, "")]
    [InlineData("STARTTLSX", SmtpVerb.Unknown, "")]
    [InlineData("M\u00c4IL x", SmtpVerb.Unknown, "x")]
    public void Verbs_are_case_insensitive(string line, SmtpVerb verb, string argument)
    {
        Assert.Equal(verb, SmtpCommandParser.ParseVerb(B(line), out var arg));
        Assert.Equal(argument, Encoding.UTF8.GetString(arg));
    }

    [Fact]
    public void Lines_split_across_segments_and_fed_byte_by_byte()
    {
        var input = "EHLO a\r\nMAIL FROM:<x@y.z>\r\nNOOP\n"u8.ToArray();
        var lines = new List<string>();
        var scratch = new byte[512];
        var skipping = false;

        // Feed one byte more each time, re-reading from the unconsumed position, as a pipe would.
        var consumed = 0;
        for (var available = 1; available <= input.Length; available++)
        {
            var seq = Segments.Split(input.AsMemory(consumed, available - consumed), 1);
            var reader = new SequenceReader<byte>(seq);
            while (SmtpCommandParser.TryReadLine(ref reader, scratch, out var line, ref skipping) == LineStatus.Line)
            {
                lines.Add(Encoding.ASCII.GetString(line));
            }

            consumed += (int)reader.Consumed;
        }

        Assert.Equal(["EHLO a", "MAIL FROM:<x@y.z>", "NOOP"], lines);
    }

    /// <summary>Every command line used in these tests, parsed after arriving one byte at a time.</summary>
    public static TheoryData<string> AllCommandLines()
    {
        var data = new TheoryData<string>();
        var lines = new List<string>();
        foreach (var row in (IEnumerable<object[]>)[.. Verbs_data(), .. Path_data()])
        {
            lines.Add((string)row[0]);
        }

        foreach (var line in lines.Distinct())
        {
            data.Add(line);
        }

        return data;
    }

    private static IEnumerable<object[]> Verbs_data() =>
        typeof(ParserTests).GetMethod(nameof(Verbs_are_case_insensitive))!.GetCustomAttributes(typeof(InlineDataAttribute), false)
            .Cast<InlineDataAttribute>().Select(a => a.GetData(null!).First());

    private static IEnumerable<object[]> Path_data()
    {
        foreach (var name in new[] { nameof(Mail_paths), nameof(Bad_mail_paths), nameof(Bad_mail_parameters), nameof(Bad_rcpt_parameters), nameof(Routing_characters_are_flagged), nameof(Bad_recipients) })
        {
            foreach (var a in typeof(ParserTests).GetMethod(name)!.GetCustomAttributes(typeof(InlineDataAttribute), false).Cast<InlineDataAttribute>())
            {
                var arg = (string)a.GetData(null!).First()[0];
                yield return [(arg.StartsWith("TO:", StringComparison.OrdinalIgnoreCase) ? "RCPT " : "MAIL ") + arg];
            }
        }
    }

    [Theory]
    [MemberData(nameof(AllCommandLines))]
    public void Every_command_parses_the_same_when_it_arrives_one_byte_at_a_time(string command)
    {
        var input = Encoding.UTF8.GetBytes(command + "\r\n");
        var whole = Describe(input.AsSpan(0, input.Length - 2));

        var scratch = new byte[4096];
        var skipping = false;
        var consumed = 0;
        string? split = null;
        for (var available = 1; available <= input.Length && split is null; available++)
        {
            var reader = new SequenceReader<byte>(Segments.Split(input.AsMemory(consumed, available - consumed), 1));
            if (SmtpCommandParser.TryReadLine(ref reader, scratch, out var line, ref skipping) == LineStatus.Line)
            {
                split = Describe(line);
            }

            consumed += (int)reader.Consumed;
        }

        Assert.Equal(whole, split);
    }

    /// <summary>Everything the parsers say about a line, as text to compare.</summary>
    private static string Describe(ReadOnlySpan<byte> line)
    {
        var verb = SmtpCommandParser.ParseVerb(line, out var arg);
        var text = verb + " [" + Encoding.UTF8.GetString(arg) + "]";
        if (verb == SmtpVerb.Mail)
        {
            var e = MailParameters.ParseMailFrom(arg, true, out var m);
            text += $" {e} {m.Path.Start}/{m.Path.Length}/{m.Path.DomainOffset} {m.Size} {m.Body} {m.SmtpUtf8} {m.Ret} {m.EnvIdStart}/{m.EnvIdLength}";
        }
        else if (verb == SmtpVerb.Rcpt)
        {
            var e = MailParameters.ParseRcptTo(arg, false, out var r);
            text += $" {e} {r.Path.Start}/{r.Path.Length}/{r.Path.DomainOffset} {r.Notify} {r.OrcptStart}/{r.OrcptLength} {r.Path.HasRoutingCharacters}";
        }

        return text;
    }

    [Fact]
    public void Over_long_line_is_reported_once_and_skipped_to_its_end()
    {
        var scratch = new byte[16];
        var skipping = false;
        var part1 = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(new string('x', 40)));
        var r1 = new SequenceReader<byte>(part1);
        Assert.Equal(LineStatus.TooLong, SmtpCommandParser.TryReadLine(ref r1, scratch, out _, ref skipping));
        Assert.True(r1.End);
        Assert.True(skipping);

        var part2 = new ReadOnlySequence<byte>("yyyy\r\nNOOP\r\n"u8.ToArray());
        var r2 = new SequenceReader<byte>(part2);
        Assert.Equal(LineStatus.Line, SmtpCommandParser.TryReadLine(ref r2, scratch, out var line, ref skipping));
        Assert.Equal("NOOP", Encoding.ASCII.GetString(line));
        Assert.False(skipping);
    }

    [Fact]
    public void Complete_over_long_line_is_too_long()
    {
        var scratch = new byte[8];
        var skipping = false;
        var seq = new ReadOnlySequence<byte>("0123456789\r\nQUIT\r\n"u8.ToArray());
        var r = new SequenceReader<byte>(seq);
        Assert.Equal(LineStatus.TooLong, SmtpCommandParser.TryReadLine(ref r, scratch, out _, ref skipping));
        Assert.Equal(LineStatus.Line, SmtpCommandParser.TryReadLine(ref r, scratch, out var line, ref skipping));
        Assert.Equal("QUIT", Encoding.ASCII.GetString(line));
    }

    [Theory]
    [InlineData("FROM:<a@example.com>", "a@example.com", "a", "example.com")]
    [InlineData("from:<A.B+tag@Example.COM>", "A.B+tag@Example.COM", "A.B+tag", "Example.COM")]
    [InlineData("FROM: <a@example.com>", "a@example.com", "a", "example.com")]
    [InlineData("FROM:<\"john doe\"@example.com>", "\"john doe\"@example.com", "\"john doe\"", "example.com")]
    [InlineData("FROM:<\"a\\\"b\"@example.com>", "\"a\\\"b\"@example.com", "\"a\\\"b\"", "example.com")]
    [InlineData("FROM:<@relay1.example,@relay2.example:user@example.com>", "user@example.com", "user", "example.com")]
    [InlineData("FROM:<user@[192.0.2.1]>", "user@[192.0.2.1]", "user", "[192.0.2.1]")]
    [InlineData("FROM:<user@[IPv6:2001:db8::1]>", "user@[IPv6:2001:db8::1]", "user", "[IPv6:2001:db8::1]")]
    [InlineData("FROM:<>", "", "", "")]
    public void Mail_paths(string arg, string mailbox, string local, string domain)
    {
        var bytes = Encoding.UTF8.GetBytes(arg);
        Assert.Equal(ArgumentError.None, MailParameters.ParseMailFrom(bytes, true, out var m));
        Assert.Equal(mailbox, Encoding.UTF8.GetString(m.Path.Mailbox(bytes)));
        Assert.Equal(local, Encoding.UTF8.GetString(m.Path.LocalPart(bytes)));
        Assert.Equal(domain, Encoding.UTF8.GetString(m.Path.Domain(bytes)));
    }

    [Theory]
    [InlineData("FROM:a@example.com")]
    [InlineData("FROM:<a@example.com")]
    [InlineData("FROM:<a@@example.com>")]
    [InlineData("FROM:<a@example.com.>")]
    [InlineData("FROM:<a@-example.com>")]
    [InlineData("FROM:<a@example-.com>")]
    [InlineData("FROM:<a@exa_mple.com>")]
    [InlineData("FROM:<.a@example.com>")]
    [InlineData("FROM:<a.@example.com>")]
    [InlineData("FROM:<a..b@example.com>")]
    [InlineData("FROM:<a b@example.com>")]
    [InlineData("FROM:<a@>")]
    [InlineData("FROM:<@example.com>")]
    [InlineData("FROM:<a@[300.1.1.1]>")]
    [InlineData("FROM:<a@[1.2.3]>")]
    [InlineData("FROM:<\"unterminated@example.com>")]
    [InlineData("FROM:<postmaster>")]
    [InlineData("TO:<a@example.com>")]
    public void Bad_mail_paths(string arg) =>
        Assert.Equal(ArgumentError.PathSyntax, MailParameters.ParseMailFrom(Encoding.UTF8.GetBytes(arg), true, out _));

    [Fact]
    public void Mail_parameters()
    {
        var bytes = B("FROM:<a@b.example> SIZE=12345 BODY=8BITMIME RET=HDRS ENVID=QQ+2B1 SMTPUTF8 REQUIRETLS AUTH=<>").ToArray();
        Assert.Equal(ArgumentError.None, MailParameters.ParseMailFrom(bytes, true, out var m));
        Assert.Equal(12345, m.Size);
        Assert.Equal(BodyType.EightBitMime, m.Body);
        Assert.Equal(DsnReturn.Headers, m.Ret);
        Assert.Equal("QQ+2B1", Encoding.ASCII.GetString(bytes.AsSpan(m.EnvIdStart, m.EnvIdLength)));
        Assert.True(m.SmtpUtf8);
        Assert.True(m.RequireTls);
        Assert.Equal("<>", Encoding.ASCII.GetString(bytes.AsSpan(m.AuthStart, m.AuthLength)));
    }

    [Theory]
    [InlineData("FROM:<a@b.c> SIZE=abc", ArgumentError.ParameterSyntax)]
    [InlineData("FROM:<a@b.c> SIZE=1 SIZE=2", ArgumentError.ParameterSyntax)]
    [InlineData("FROM:<a@b.c> BODY=9BIT", ArgumentError.ParameterSyntax)]
    [InlineData("FROM:<a@b.c> RET=ALL", ArgumentError.ParameterSyntax)]
    [InlineData("FROM:<a@b.c> ENVID=bad=value", ArgumentError.ParameterSyntax)]
    [InlineData("FROM:<a@b.c> SMTPUTF8=yes", ArgumentError.ParameterSyntax)]
    [InlineData("FROM:<a@b.c> SIZE=", ArgumentError.ParameterSyntax)]
    [InlineData("FROM:<a@b.c>x", ArgumentError.ParameterSyntax)]
    [InlineData("FROM:<a@b.c> X-UNKNOWN=1", ArgumentError.UnknownParameter)]
    [InlineData("FROM:<a@b.c> HOLDFOR=10", ArgumentError.UnknownParameter)]
    [InlineData("FROM:<j\u00f6rg@b.c>", ArgumentError.NeedsSmtpUtf8)]
    [InlineData("FROM:<a@b\u00fc.c>", ArgumentError.NeedsSmtpUtf8)]
    public void Bad_mail_parameters(string arg, ArgumentError error) =>
        Assert.Equal(error, MailParameters.ParseMailFrom(Encoding.UTF8.GetBytes(arg), true, out _));

    [Fact]
    public void Utf8_addresses_need_smtputf8()
    {
        var bytes = Encoding.UTF8.GetBytes("FROM:<j\u00f6rg@m\u00fcller.example> SMTPUTF8");
        Assert.Equal(ArgumentError.None, MailParameters.ParseMailFrom(bytes, true, out var m));
        Assert.True(m.Path.HasNonAscii);
        Assert.Equal("m\u00fcller.example", Encoding.UTF8.GetString(m.Path.Domain(bytes)));

        // Invalid UTF-8 is refused even with SMTPUTF8.
        byte[] bad = [.. "FROM:<j"u8, 0xC3, 0x28, .. "@x.example> SMTPUTF8"u8];
        Assert.Equal(ArgumentError.PathSyntax, MailParameters.ParseMailFrom(bad, true, out _));
    }

    [Theory]
    [InlineData("B\u00fccher.Example", "xn--bcher-kva.example")]
    [InlineData("b\u00fccher.example", "xn--bcher-kva.example")]
    [InlineData("MX.Example.COM", "mx.example.com")]
    [InlineData("\u4f8b\u5b50.\u6d4b\u8bd5", "xn--fsqu00a.xn--0zwm56d")]
    public void Idna_normalises_to_lower_case_a_labels(string domain, string ascii)
    {
        Assert.Equal(ascii, Idna.ToAscii(Encoding.UTF8.GetBytes(domain)));
        Assert.True(Idna.EqualsNormalized(Encoding.UTF8.GetBytes(domain), ascii));
    }

    [Fact]
    public void Idna_refuses_invalid_names()
    {
        Assert.Null(Idna.ToAscii([0xC3, 0x28]));
        Assert.False(Idna.EqualsNormalized("other.example"u8, "xn--bcher-kva.example"));
    }

    [Fact]
    public void Rcpt_parameters()
    {
        var bytes = B("TO:<b@c.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+40c.example").ToArray();
        Assert.Equal(ArgumentError.None, MailParameters.ParseRcptTo(bytes, false, out var r));
        Assert.Equal(DsnNotify.Success | DsnNotify.Failure, r.Notify);
        Assert.Equal("rfc822;b+40c.example", Encoding.ASCII.GetString(bytes.AsSpan(r.OrcptStart, r.OrcptLength)));
    }

    [Theory]
    [InlineData("TO:<b@c.example> NOTIFY=NEVER,SUCCESS")]
    [InlineData("TO:<b@c.example> NOTIFY=SOMETIMES")]
    [InlineData("TO:<b@c.example> NOTIFY=SUCCESS,SUCCESS")]
    [InlineData("TO:<b@c.example> ORCPT=noaddrtype")]
    [InlineData("TO:<b@c.example> ORCPT=rfc822;bad+zz")]
    public void Bad_rcpt_parameters(string arg) =>
        Assert.Equal(ArgumentError.ParameterSyntax, MailParameters.ParseRcptTo(Encoding.UTF8.GetBytes(arg), false, out _));

    [Theory]
    [InlineData("TO:<Postmaster>")]
    [InlineData("TO:<postmaster>")]
    public void Postmaster_without_domain_is_a_recipient(string arg)
    {
        var bytes = Encoding.ASCII.GetBytes(arg);
        Assert.Equal(ArgumentError.None, MailParameters.ParseRcptTo(bytes, false, out var r));
        Assert.Equal(-1, r.Path.DomainOffset);
    }

    [Theory]
    [InlineData("TO:<>")]
    [InlineData("TO:<bob>")]
    public void Bad_recipients(string arg) =>
        Assert.Equal(ArgumentError.PathSyntax, MailParameters.ParseRcptTo(Encoding.ASCII.GetBytes(arg), false, out _));

    [Theory]
    [InlineData("TO:<user%other.example@ours.example>", true)]
    [InlineData("TO:<other!user@ours.example>", true)]
    [InlineData("TO:<\"user@other.example\"@ours.example>", true)]
    [InlineData("TO:<user@ours.example>", false)]
    public void Routing_characters_are_flagged(string arg, bool flagged)
    {
        Assert.Equal(ArgumentError.None, MailParameters.ParseRcptTo(Encoding.ASCII.GetBytes(arg), false, out var r));
        Assert.Equal(flagged, r.Path.HasRoutingCharacters);
    }

    [Fact]
    public void Path_length_limits()
    {
        var longLocal = new string('a', 65);
        Assert.Equal(ArgumentError.PathTooLong, MailParameters.ParseRcptTo(Encoding.ASCII.GetBytes($"TO:<{longLocal}@x.example>"), false, out _));
        var domain = string.Join('.', Enumerable.Repeat(new string('d', 50), 4));
        var local = new string('a', 60);
        Assert.Equal(ArgumentError.PathTooLong, MailParameters.ParseRcptTo(Encoding.ASCII.GetBytes($"TO:<{local}@{domain}>"), false, out _));
        var tooLongDomain = string.Join('.', Enumerable.Repeat(new string('d', 60), 5));
        Assert.Equal(ArgumentError.PathSyntax, MailParameters.ParseRcptTo(Encoding.ASCII.GetBytes($"TO:<a@{tooLongDomain}>"), false, out _));
    }
}

/// <summary>Builds multi-segment sequences to exercise split-buffer paths.</summary>
internal sealed class Segments : ReadOnlySequenceSegment<byte>
{
    private Segments(ReadOnlyMemory<byte> memory, long runningIndex)
    {
        Memory = memory;
        RunningIndex = runningIndex;
    }

    public static ReadOnlySequence<byte> Split(ReadOnlyMemory<byte> data, int size)
    {
        if (data.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        var first = new Segments(data[..Math.Min(size, data.Length)], 0);
        var last = first;
        for (var i = size; i < data.Length; i += size)
        {
            var next = new Segments(data.Slice(i, Math.Min(size, data.Length - i)), i);
            last.Next = next;
            last = next;
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }
}
