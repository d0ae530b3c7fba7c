using System.Globalization;

namespace Tern.Load.Send;

/// <summary>
/// The --ids file: one line per message that got a 2xx final reply,
/// <c>ID&lt;TAB&gt;REPLY-FIRST-LINE&lt;TAB&gt;DIGEST</c> (the shared convention that <c>check</c> reads;
/// the digest is <see cref="ContentDigest"/> of the content sent, 16 lowercase hex digits). Each connection fills its own buffer
/// (<see cref="Writer"/>) and hands it over whole under a lock, so the file costs no allocation
/// and almost no contention per message.
/// </summary>
internal sealed class AckedIds : IDisposable
{
    private readonly FileStream _file;
    private readonly byte[] _runId;
    private readonly Lock _lock = new();

    public AckedIds(string path, byte[] runId)
    {
        _file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16);
        _runId = runId;
    }

    public Writer NewWriter() => new(this);

    public void Dispose()
    {
        lock (_lock)
        {
            _file.Dispose();
        }
    }

    private void Write(ReadOnlySpan<byte> lines)
    {
        lock (_lock)
        {
            _file.Write(lines);
        }
    }

    /// <summary>A connection's buffer of lines; <see cref="Flush"/> before it is dropped.</summary>
    internal sealed class Writer(AckedIds ids)
    {
        /// <summary>Room for a few hundred lines; one line is at most ~2 KiB (a reply line is bounded by the parser).</summary>
        private readonly byte[] _buffer = new byte[64 * 1024];
        private int _length;

        public void Append(long seq, int code, ReadOnlySpan<byte> firstLineText, ulong digest)
        {
            if (firstLineText.Length > 1024)
            {
                firstLineText = firstLineText[..1024];
            }

            if (_length + 1200 > _buffer.Length)
            {
                Flush();
            }

            var span = _buffer.AsSpan(_length);
            var n = 0;
            ids._runId.CopyTo(span);
            n += ids._runId.Length;
            span[n++] = (byte)'.';
            seq.TryFormat(span[n..], out var digits, default, CultureInfo.InvariantCulture);
            n += digits;
            "@tern-load.test\t"u8.CopyTo(span[n..]);
            n += 16;
            code.TryFormat(span[n..], out digits, default, CultureInfo.InvariantCulture);
            n += digits;
            if (!firstLineText.IsEmpty)
            {
                span[n++] = (byte)' ';
                foreach (var b in firstLineText)
                {
                    // A reply's text is one line; tabs and stray control bytes would break the format.
                    span[n++] = b is < 0x20 or 0x7f ? (byte)' ' : b;
                }
            }

            span[n++] = (byte)'\t';
            digest.TryFormat(span[n..], out digits, "x16", CultureInfo.InvariantCulture);
            n += digits;
            span[n++] = (byte)'\n';
            _length += n;
        }

        public void Flush()
        {
            if (_length > 0)
            {
                ids.Write(_buffer.AsSpan(0, _length));
                _length = 0;
            }
        }
    }
}
