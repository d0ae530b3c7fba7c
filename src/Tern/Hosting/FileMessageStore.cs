using System.Buffers;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using Tern.Smtp.Protocol;
using Tern.Smtp.Server;

namespace Tern.Hosting;

/// <summary>
/// The interim message store until the FASTER spool (issue 5) replaces it: one file per message in
/// <c>DATA/queue</c>, written to <c>queue/tmp</c>, fsync'ed, renamed into place and the directory
/// fsync'ed before the SMTP server answers 250 (Postfix's durability model, one fsync per message).
/// The file starts with the envelope as <c>X-Tern-*</c> lines, a blank line, then the message.
/// </summary>
public sealed class FileMessageStore : IMessageStore
{
    private readonly string _queue;
    private readonly string _tmp;

    public FileMessageStore(string directory)
    {
        _queue = directory;
        _tmp = Path.Combine(directory, "tmp");
        Directory.CreateDirectory(_queue, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Directory.CreateDirectory(_tmp, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        // Files left in tmp by a crash were never acknowledged: remove them.
        foreach (var f in Directory.EnumerateFiles(_tmp))
        {
            File.Delete(f);
        }
    }

    /// <summary>Messages stored (files in the queue directory).</summary>
    public int Count => Directory.EnumerateFiles(_queue, "*.eml").Count();

    public IMessageWriter Begin(SmtpEnvelope envelope) => new Writer(this);

    /// <summary>A time-ordered id: 12 hex digits of milliseconds, 8 random.</summary>
    private static byte[] NewId()
    {
        Span<byte> random = stackalloc byte[4];
        RandomNumberGenerator.Fill(random);
        var ms = (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var text = $"{ms:X12}{Convert.ToHexString(random)}";
        return System.Text.Encoding.ASCII.GetBytes(text);
    }

    private sealed class Writer : IMessageWriter
    {
        private readonly FileMessageStore _store;
        private readonly byte[] _id = NewId();
        private readonly string _tmpPath;
        private readonly ArrayBufferWriter<byte> _body = new(16 * 1024);
        private bool _done;

        public Writer(FileMessageStore store)
        {
            _store = store;
            _tmpPath = Path.Combine(store._tmp, System.Text.Encoding.ASCII.GetString(_id));
        }

        public ReadOnlySpan<byte> Id => _id;

        public void Write(ReadOnlySpan<byte> data) => _body.Write(data);

        public ValueTask<StoreStatus> CommitAsync(SmtpEnvelope envelope, CancellationToken cancel)
        {
            var final = Path.Combine(_store._queue, System.Text.Encoding.ASCII.GetString(_id) + ".eml");
            try
            {
                using (var file = new FileStream(_tmpPath, new FileStreamOptions
                {
                    Mode = FileMode.CreateNew,
                    Access = FileAccess.Write,
                    UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                }))
                {
                    WriteEnvelope(file, envelope);
                    file.Write(_body.WrittenSpan);
                    file.Flush(flushToDisk: true);
                }

                File.Move(_tmpPath, final);
                Posix.FsyncDirectory(_store._queue);
                _done = true;
                return ValueTask.FromResult(StoreStatus.Stored);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                TryDelete(_tmpPath);
                return ValueTask.FromResult(StoreStatus.TemporaryFailure);
            }
        }

        public void Dispose()
        {
            if (!_done)
            {
                TryDelete(_tmpPath);
            }
        }

        /// <summary>The envelope with its DSN parameters (RFC 3461), as header-like lines.</summary>
        private static void WriteEnvelope(Stream s, SmtpEnvelope e)
        {
            s.Write("X-Tern-Sender: <"u8);
            s.Write(e.Sender);
            s.Write(">\r\n"u8);
            for (var i = 0; i < e.RecipientCount; i++)
            {
                s.Write("X-Tern-Recipient: <"u8);
                s.Write(e.Recipient(i));
                s.Write(">"u8);
                var notify = e.RecipientAt(i).Notify;
                if (notify != DsnNotify.Unspecified)
                {
                    s.Write(" NOTIFY="u8);
                    Ascii(s, notify.ToString().ToUpperInvariant().Replace(", ", ",", StringComparison.Ordinal));
                }

                if (!e.OriginalRecipient(i).IsEmpty)
                {
                    s.Write(" ORCPT="u8);
                    s.Write(e.OriginalRecipient(i));
                }

                s.Write("\r\n"u8);
            }

            if (e.Ret != DsnReturn.Unspecified)
            {
                s.Write(e.Ret == DsnReturn.Full ? "X-Tern-Ret: FULL\r\n"u8 : "X-Tern-Ret: HDRS\r\n"u8);
            }

            if (!e.EnvelopeId.IsEmpty)
            {
                s.Write("X-Tern-Envid: "u8);
                s.Write(e.EnvelopeId);
                s.Write("\r\n"u8);
            }

            Ascii(s, $"X-Tern-Flags: tls={Yes(e.Tls)} smtputf8={Yes(e.SmtpUtf8)} requiretls={Yes(e.RequireTls)} 8bit={Yes(e.EightBitData)} body={e.Body}\r\n");
            Ascii(s, $"X-Tern-Client: {e.Client} listener={e.Listener}" + (e.AuthenticatedUser is { } u ? $" auth={u}" : string.Empty) + "\r\n");
            s.Write("\r\n"u8);
        }

        private static string Yes(bool b) => b ? "yes" : "no";

        private static void Ascii(Stream s, string text) => s.Write(System.Text.Encoding.UTF8.GetBytes(text));

        private static void TryDelete(string path)
        {
            try
            {
                File.Delete(path);
            }
            catch (IOException)
            {
                // Best effort: tmp is cleaned at the next start.
            }
        }
    }
}
