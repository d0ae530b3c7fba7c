using System.Buffers;
using System.Text;
using BenchmarkDotNet.Attributes;
using Tern.Smtp.Client;

namespace Tern.Benchmarks;

/// <summary>
/// The SMTP client's per-reply work (SmtpClientSession.ReadReplyAsync): parse one complete reply
/// from the received sequence into the session's parser, and look at its code and enhanced code.
/// The parser lives as long as the connection, so parsing must allocate nothing.
/// </summary>
[MemoryDiagnoser]
public class ReplyParserBenchmarks
{
    private const string Queued = "250 2.0.0 Ok: queued as 4XbQ2J1m9Kz8\r\n";

    private const string Ehlo =
        "250-mx.example.net Hello client.example.org [192.0.2.1]\r\n" +
        "250-SIZE 52428800\r\n" +
        "250-PIPELINING\r\n" +
        "250-8BITMIME\r\n" +
        "250-SMTPUTF8\r\n" +
        "250-ENHANCEDSTATUSCODES\r\n" +
        "250-CHUNKING\r\n" +
        "250-DSN\r\n" +
        "250-STARTTLS\r\n" +
        "250-AUTH SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN\r\n" +
        "250 LIMITS RCPTMAX=1000 MAILMAX=100\r\n";

    private readonly SmtpReplyParser _parser = new();
    private ReadOnlySequence<byte> _single;
    private ReadOnlySequence<byte> _ehlo;
    private ReadOnlySequence<byte> _ehloSplit;

    [GlobalSetup]
    public void Setup()
    {
        _single = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(Queued));
        var ehlo = Encoding.ASCII.GetBytes(Ehlo);
        _ehlo = new ReadOnlySequence<byte>(ehlo);

        // As a pipe may hand it over: two segments, cut inside the AUTH line (that line is copied).
        _ehloSplit = Segment.Split(ehlo, Ehlo.IndexOf("SCRAM-SHA-256 ", StringComparison.Ordinal));
        if (Parse(_single) != 250 + 2 || Parse(_ehlo) != 250 + 11 || Parse(_ehloSplit) != 250 + 11)
        {
            throw new InvalidOperationException("the replies did not parse as intended");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _parser.Dispose();

    /// <summary>The reply to MAIL, RCPT or the data: one line with an enhanced code.</summary>
    [Benchmark]
    public int SingleLine() => Parse(_single);

    /// <summary>An EHLO reply of 11 lines.</summary>
    [Benchmark]
    public int MultiLineEhlo() => Parse(_ehlo);

    /// <summary>The same EHLO reply in two segments, split inside a line.</summary>
    [Benchmark]
    public int MultiLineEhloSplit() => Parse(_ehloSplit);

    private int Parse(in ReadOnlySequence<byte> input)
    {
        var reader = new SequenceReader<byte>(input);
        if (!_parser.TryParse(ref reader, out var error) || error != SmtpReplyError.None)
        {
            return -1;
        }

        var reply = _parser.Current;
        return reply.Code + (reply.EnhancedCode is { } code ? code.Class : reply.LineCount);
    }
}
