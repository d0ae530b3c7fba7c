using System.Buffers;
using System.Text;
using BenchmarkDotNet.Attributes;
using Tern.Smtp.Protocol;

namespace Tern.Benchmarks;

/// <summary>
/// The per-command work of the server's read loop (SmtpSession): find the line in the received
/// sequence, recognise the verb, and parse the MAIL/RCPT arguments. Every benchmark must allocate nothing.
/// </summary>
[MemoryDiagnoser]
public class SmtpCommandParserBenchmarks
{
    /// <summary>The server's default command line limit (SmtpServerOptions.MaxCommandLine).</summary>
    private const int MaxCommandLine = 4096;

    private static readonly string[] Commands =
    [
        "EHLO client.example.com",
        "MAIL FROM:<sender@example.org> SIZE=12345 BODY=8BITMIME",
        "RCPT TO:<recipient@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;recipient@example.net",
        "DATA",
        "RSET",
        "NOOP",
        "QUIT",
    ];

    private readonly byte[] _scratch = new byte[MaxCommandLine];

    private ReadOnlySequence<byte> _ehlo;
    private ReadOnlySequence<byte> _mail;
    private ReadOnlySequence<byte> _rcpt;
    private ReadOnlySequence<byte> _data;
    private ReadOnlySequence<byte> _rset;
    private ReadOnlySequence<byte> _noop;
    private ReadOnlySequence<byte> _quit;
    private ReadOnlySequence<byte> _batch;
    private ReadOnlySequence<byte> _batchSplit;

    [GlobalSetup]
    public void Setup()
    {
        _ehlo = Line(Commands[0]);
        _mail = Line(Commands[1]);
        _rcpt = Line(Commands[2]);
        _data = Line(Commands[3]);
        _rset = Line(Commands[4]);
        _noop = Line(Commands[5]);
        _quit = Line(Commands[6]);

        var all = Encoding.ASCII.GetBytes(string.Concat(Commands.Select(c => c + "\r\n")));
        _batch = new ReadOnlySequence<byte>(all);

        // Two segments, the cut in the middle of the RCPT line: that line is copied into scratch.
        var rcptStart = Commands[0].Length + 2 + Commands[1].Length + 2;
        var cut = rcptStart + (Commands[2].Length / 2);
        _batchSplit = Segment.Split(all, cut);
        if (_batchSplit.IsSingleSegment)
        {
            throw new InvalidOperationException("the split batch must have two segments");
        }

        Verify();
    }

    [Benchmark]
    public int Ehlo() => ParseAll(_ehlo, _scratch);

    [Benchmark]
    public int MailFrom() => ParseAll(_mail, _scratch);

    [Benchmark]
    public int RcptTo() => ParseAll(_rcpt, _scratch);

    [Benchmark]
    public int Data() => ParseAll(_data, _scratch);

    [Benchmark]
    public int Rset() => ParseAll(_rset, _scratch);

    [Benchmark]
    public int Noop() => ParseAll(_noop, _scratch);

    [Benchmark]
    public int Quit() => ParseAll(_quit, _scratch);

    /// <summary>All seven commands pipelined in one buffer (RFC 2920).</summary>
    [Benchmark]
    public int PipelinedBatch() => ParseAll(_batch, _scratch);

    /// <summary>The same batch received as two segments, split inside the RCPT line.</summary>
    [Benchmark]
    public int PipelinedBatchSplit() => ParseAll(_batchSplit, _scratch);

    /// <summary>Reads every line as SmtpSession does; returns a value derived from each parse.</summary>
    private static int ParseAll(in ReadOnlySequence<byte> input, Span<byte> scratch)
    {
        var reader = new SequenceReader<byte>(input);
        var skipping = false;
        var result = 0;
        while (SmtpCommandParser.TryReadLine(ref reader, scratch, out var line, ref skipping) == LineStatus.Line)
        {
            result = (result * 31) + Handle(line);
        }

        return result;
    }

    private static int Handle(ReadOnlySpan<byte> line)
    {
        var verb = SmtpCommandParser.ParseVerb(line, out var argument);
        switch (verb)
        {
            case SmtpVerb.Mail:
            {
                var error = MailParameters.ParseMailFrom(argument, true, out var m);
                return (int)verb + ((int)error << 8) + m.Path.Length + (int)m.Size + (int)m.Body;
            }

            case SmtpVerb.Rcpt:
            {
                var error = MailParameters.ParseRcptTo(argument, false, out var r);
                return (int)verb + ((int)error << 8) + r.Path.Length + (int)r.Notify + r.OrcptLength;
            }

            default:
                return (int)verb + argument.Length;
        }
    }

    /// <summary>Fails the run early when an input does not parse as intended (then the numbers would be meaningless).</summary>
    private void Verify()
    {
        var lines = 0;
        foreach (var input in new[] { _batch, _batchSplit })
        {
            var reader = new SequenceReader<byte>(input);
            var skipping = false;
            var seen = new List<SmtpVerb>();
            while (SmtpCommandParser.TryReadLine(ref reader, _scratch, out var line, ref skipping) == LineStatus.Line)
            {
                var verb = SmtpCommandParser.ParseVerb(line, out var argument);
                seen.Add(verb);
                if (verb == SmtpVerb.Mail &&
                    (MailParameters.ParseMailFrom(argument, true, out var m) != ArgumentError.None || m.Size != 12345 || m.Body != BodyType.EightBitMime))
                {
                    throw new InvalidOperationException("MAIL did not parse");
                }

                if (verb == SmtpVerb.Rcpt &&
                    (MailParameters.ParseRcptTo(argument, false, out var r) != ArgumentError.None || r.Notify != (DsnNotify.Success | DsnNotify.Failure) || r.OrcptLength == 0))
                {
                    throw new InvalidOperationException("RCPT did not parse");
                }

                lines++;
            }

            SmtpVerb[] expected = [SmtpVerb.Ehlo, SmtpVerb.Mail, SmtpVerb.Rcpt, SmtpVerb.Data, SmtpVerb.Rset, SmtpVerb.Noop, SmtpVerb.Quit];
            if (!seen.SequenceEqual(expected) || reader.Remaining != 0)
            {
                throw new InvalidOperationException("the batch did not parse as 7 commands: " + string.Join(' ', seen));
            }
        }

        if (lines != 14)
        {
            throw new InvalidOperationException("unexpected line count " + lines);
        }
    }

    private static ReadOnlySequence<byte> Line(string command) => new(Encoding.ASCII.GetBytes(command + "\r\n"));
}
