using System.CommandLine;
using System.Text;
using Tern.Control;

namespace Tern.Cli;

/// <summary>
/// <c>tern queue cat ID</c>: one message exactly as the spool holds it (header section and body,
/// CRLF line ends, 8-bit bytes as they came), as Postfix's <c>postcat -q</c> prints a queue file.
/// The bytes go to standard output unchanged, streamed from the control socket as they arrive.
/// </summary>
internal static class QueueCatCommand
{
    public static Command Build(TextWriter stdout, TextWriter stderr, Func<Option<FileInfo>> configOption)
    {
        var config = configOption();
        var id = new Argument<string>("id") { Description = "The message id (26 characters, as list prints it)." };
        id.Validators.Add(QueueCommands.ValidateIds);
        var command = new Command(
            "cat",
            "Print one message (queued, or retired while its body is still in the spool) exactly as stored: header section and body, byte for byte.")
        {
            config, id,
        };
        command.SetAction(async (r, cancel) =>
        {
            var request = new ControlRequest { Op = ControlOps.Cat, Id = r.GetValue(id) };
            var output = BinaryOutput.Of(stdout);
            try
            {
                var (reply, code) = await ControlCommand.ExchangeAsync(stderr, r, config, (client, c) => client.SendForContentAsync(request, output.Stream, cancel: c), cancel);
                if (reply is null)
                {
                    return code;
                }

                if (!reply.Response.Ok)
                {
                    await stderr.WriteLineAsync("tern: " + (reply.Response.Error ?? "the server refused the request"));
                    return ExitCodes.Failure;
                }

                return ExitCodes.Ok;
            }
            finally
            {
                output.Dispose();
            }
        });
        return command;
    }

    /// <summary>
    /// Standard output as bytes: the process's own (Console.Out is text and would re-encode), the
    /// stream under a <see cref="StreamWriter"/>, or, for any other writer, one character per byte
    /// (ISO-8859-1), so nothing is lost or changed on the way.
    /// </summary>
    private sealed class BinaryOutput : IDisposable
    {
        private readonly bool _owned;

        private BinaryOutput(Stream stream, bool owned)
        {
            Stream = stream;
            _owned = owned;
        }

        public Stream Stream { get; }

        public static BinaryOutput Of(TextWriter writer)
        {
            writer.Flush();
            if (ReferenceEquals(writer, Console.Out))
            {
                return new BinaryOutput(Console.OpenStandardOutput(), owned: true);
            }

            return writer is StreamWriter { BaseStream: { } stream }
                ? new BinaryOutput(stream, owned: false)
                : new BinaryOutput(new Latin1Writer(writer), owned: true);
        }

        public void Dispose()
        {
            if (_owned)
            {
                Stream.Dispose();
            }
        }
    }

    /// <summary>A write-only stream that hands each byte to a text writer as the character of the same number.</summary>
    private sealed class Latin1Writer(TextWriter writer) : Stream
    {
        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count) => writer.Write(Encoding.Latin1.GetString(buffer, offset, count));

        public override void Write(ReadOnlySpan<byte> buffer) => writer.Write(Encoding.Latin1.GetString(buffer));

        public override void Flush() => writer.Flush();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
