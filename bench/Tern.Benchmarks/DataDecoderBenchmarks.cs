using System.Text;
using BenchmarkDotNet.Attributes;
using Tern.Smtp.Server;

namespace Tern.Benchmarks;

/// <summary>
/// DATA content decoding (dot-unstuffing, terminator search, line and size checks) of one whole
/// message received in one buffer, into a sink that copies into a preallocated buffer.
/// </summary>
[MemoryDiagnoser]
public class DataDecoderBenchmarks
{
    /// <summary>The server's defaults (SmtpServerOptions).</summary>
    private const long MaxMessageSize = 50L * 1024 * 1024;
    private const int MaxDataLine = 1000;

    private static readonly string[] Words =
    [
        "the", "relay", "message", "queue", "delivery", "recipient", "sender", "domain", "mailbox",
        "transport", "connection", "server", "client", "envelope", "header", "body", "status",
        "report", "retry", "timeout", "accepted", "deferred", "bounced", "and", "of", "to", "in",
        "with", "for", "on", "a", "is", "was", "will", "be", "from", "at", "by", "this", "that",
    ];

    private byte[] _wire = [];
    private CopySink _sink = null!;

    /// <summary>Size of the message on the wire, terminator included.</summary>
    [Params(10, 100)]
    public int SizeKiB { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _wire = BuildMessage(SizeKiB * 1024);
        _sink = new CopySink(new byte[_wire.Length]);

        // Check once that the message decodes whole and clean.
        var decoder = new DataDecoder(MaxMessageSize, MaxDataLine);
        if (!decoder.Decode(_wire, _sink, out var consumed) || consumed != _wire.Length ||
            decoder.Problems != DataProblems.None || decoder.Size >= _wire.Length || _sink.Reset() != decoder.Size)
        {
            throw new InvalidOperationException($"the message did not decode: consumed {consumed} of {_wire.Length}, problems {decoder.Problems}");
        }
    }

    [Benchmark]
    public long Decode()
    {
        var decoder = new DataDecoder(MaxMessageSize, MaxDataLine);
        decoder.Decode(_wire, _sink, out var consumed);
        return decoder.Size + consumed + _sink.Reset();
    }

    /// <summary>
    /// A plain-text message of ~76-character lines (headers, paragraphs, quoted text), where about
    /// one line in 12 starts with '.', dot-stuffed as on the wire (RFC 5321 4.5.2), padded to exactly
    /// <paramref name="size"/> bytes including the final <c>.CRLF</c>.
    /// </summary>
    internal static byte[] BuildMessage(int size)
    {
        var sb = new StringBuilder(size + 256);
        sb.Append("Received: from client.example.com (client.example.com [192.0.2.10])\r\n");
        sb.Append("\tby relay.example.net with ESMTPS id 4f2a9c; Fri, 28 Nov 2025 19:01:00 +0000\r\n");
        sb.Append("From: Sender <sender@example.org>\r\n");
        sb.Append("To: Recipient <recipient@example.net>\r\n");
        sb.Append("Subject: Benchmark message\r\n");
        sb.Append("Message-ID: <20251128190100.4f2a9c@client.example.com>\r\n");
        sb.Append("MIME-Version: 1.0\r\n");
        sb.Append("Content-Type: text/plain; charset=us-ascii\r\n");
        sb.Append("\r\n");

        const string Terminator = ".\r\n";
        var random = new Random(42);
        var lineNumber = 0;
        var line = new StringBuilder(80);
        while (true)
        {
            line.Clear();
            lineNumber++;
            if (lineNumber % 12 == 0)
            {
                // A line starting with '.', stuffed to "..".
                line.Append("..");
            }
            else if (lineNumber % 7 == 0)
            {
                line.Append("> ");
            }

            while (line.Length < 70)
            {
                line.Append(Words[random.Next(Words.Length)]).Append(' ');
            }

            line.Length--;
            line.Append(lineNumber % 5 == 0 ? ".\r\n" : ",\r\n");

            var remaining = size - Terminator.Length - sb.Length;
            if (remaining < line.Length + 4)
            {
                // Last line: exactly what is left, ending in CRLF.
                sb.Append('x', Math.Max(0, remaining - 2)).Append("\r\n");
                break;
            }

            sb.Append(line);
        }

        sb.Append(Terminator);
        var bytes = Encoding.ASCII.GetBytes(sb.ToString());
        if (bytes.Length != size)
        {
            throw new InvalidOperationException($"built {bytes.Length} bytes, wanted {size}");
        }

        return bytes;
    }

    /// <summary>
    /// Copies the decoded content into a preallocated buffer, as the session hands it to the spool
    /// writer. A class, like the server's sink (SmtpSession), created once.
    /// </summary>
    private sealed class CopySink(byte[] target) : IDataSink
    {
        private int _position;

        public int Reset()
        {
            var written = _position;
            _position = 0;
            return written;
        }

        public void Write(ReadOnlySpan<byte> data)
        {
            data.CopyTo(target.AsSpan(_position));
            _position += data.Length;
        }
    }
}
