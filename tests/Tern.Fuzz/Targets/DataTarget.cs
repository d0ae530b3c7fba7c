using System.Buffers;
using Tern.Fuzz.Support;
using Tern.Smtp.Server;

namespace Tern.Fuzz.Targets;

/// <summary>
/// The DATA reader (RFC 5321 4.1.1.4, dot-unstuffing 4.5.2): chunked input through
/// <see cref="DataDecoder"/> the way SmtpSession.ProcessData feeds it (each segment's unread span in
/// turn), messages one after another as a pipelining client sends them. Bad input may only come back
/// as <see cref="DataProblems"/>. The same input decoded in one piece must give the same bytes, the
/// same message ends and the same problems: a split-dependent answer would be a smuggling hole.
/// </summary>
internal static class DataTarget
{
    public static void Run(ReadOnlySpan<byte> input)
    {
        var flags = input.IsEmpty ? 0 : input[0];
        // Tern's defaults (1000-octet lines, RFC 5321 4.5.3.1.6) or small limits that the fuzzer can reach.
        var maxLine = (flags & 1) != 0 ? 1000 : 8 + (flags >> 2);
        long maxSize = (flags & 2) != 0 ? 10 << 20 : 64 + flags;
        var data = input.ToArray();

        var chunked = new Decoding(maxSize, maxLine);
        long offset = 0;
        Chunks.Feed(data, (buffer, final) =>
        {
            var reader = new SequenceReader<byte>(buffer);
            while (!reader.End)
            {
                var span = reader.UnreadSpan;
                var ended = chunked.Decoder.Decode(span, chunked.Sink, out var consumed);
                FuzzInvariantException.Check(consumed >= 0 && consumed <= span.Length, $"consumed {consumed} of {span.Length}");
                FuzzInvariantException.Check(ended || consumed == span.Length, "stopped early without the terminator");
                reader.Advance(consumed);
                if (ended)
                {
                    chunked.EndMessage(offset + reader.Consumed);
                }
            }

            offset += reader.Consumed;
            return reader.Position;
        });
        chunked.EndInput();

        var whole = new Decoding(maxSize, maxLine);
        var at = 0;
        while (at < data.Length)
        {
            var ended = whole.Decoder.Decode(data.AsSpan(at), whole.Sink, out var consumed);
            at += consumed;
            if (ended)
            {
                whole.EndMessage(at);
            }
        }

        whole.EndInput();
        FuzzInvariantException.Check(chunked.Summary == whole.Summary, $"split-dependent result:\n{chunked.Summary}\n---\n{whole.Summary}");
    }

    private sealed class Decoding(long maxSize, int maxLine)
    {
        private readonly System.Text.StringBuilder _summary = new();

        public DataDecoder Decoder = new(maxSize, maxLine);

        public Sink Sink { get; } = new();

        public string Summary => _summary.ToString();

        public void EndMessage(long offset)
        {
            var content = Sink.Output.WrittenSpan;
            if (Decoder.Problems == DataProblems.None)
            {
                // Clean content is CRLF-terminated lines: no bare CR or LF (RFC 5321 2.3.8).
                for (var i = 0; i < content.Length; i++)
                {
                    if (content[i] == '\r')
                    {
                        FuzzInvariantException.Check(i + 1 < content.Length && content[i + 1] == '\n', "bare CR passed on");
                    }
                    else if (content[i] == '\n')
                    {
                        FuzzInvariantException.Check(i > 0 && content[i - 1] == '\r', "bare LF passed on");
                    }
                }

                FuzzInvariantException.Check(content.IsEmpty || content.EndsWith("\r\n"u8), "message does not end with CRLF");
                FuzzInvariantException.Check(Decoder.Size == content.Length, "size differs from the content passed on");
            }

            _summary.Append($"end@{offset} size={Decoder.Size} problems={Decoder.Problems} 8bit={Decoder.EightBit} {Hash(content)}\n");
            Sink.Output.ResetWrittenCount();
            Decoder = new DataDecoder(maxSize, maxLine);
        }

        public void EndInput() =>
            _summary.Append($"open size={Decoder.Size} problems={Decoder.Problems} 8bit={Decoder.EightBit} {Hash(Sink.Output.WrittenSpan)}\n");

        /// <summary>The content passed on; after a problem the message is refused, and how much went out before it was noticed depends on the split.</summary>
        private string Hash(ReadOnlySpan<byte> content) =>
            Decoder.Problems != DataProblems.None ? "refused" : "hash=" + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(content));
    }

    private sealed class Sink : IDataSink
    {
        public ArrayBufferWriter<byte> Output { get; } = new();

        public void Write(ReadOnlySpan<byte> data) => Output.Write(data);
    }
}
