namespace Tern.Load.Sink;

/// <summary>
/// Writes the <c>--ids</c> file: one line per accepted message, its Message-ID or <c>-</c>, a TAB and
/// the body digest (<see cref="ContentDigest"/>, 16 lowercase hex digits). Lines
/// go into one shared buffer under a lock (a copy of a few dozen bytes) and reach the file when the
/// buffer fills, every second, and at the end, so that a crashed or killed sink loses at most about a
/// second of lines and a running one allocates nothing per message.
/// </summary>
internal sealed class IdsWriter : IDisposable
{
    private const int BufferSize = 64 * 1024;

    private readonly Lock _lock = new();
    private readonly FileStream _file;
    private readonly byte[] _buffer = new byte[BufferSize];
    private readonly Timer _timer;
    private int _length;
    private bool _disposed;

    public IdsWriter(string path)
    {
        _file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 1);
        _timer = new Timer(static state => ((IdsWriter)state!).Flush(), this, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    /// <summary>The digest column: a TAB and 16 hex digits.</summary>
    private const int DigestColumn = 1 + 16;

    /// <summary>Adds one line as it is (the http driver's lines).</summary>
    public void Write(ReadOnlySpan<byte> line) => Write(line, null);

    /// <summary>Adds one line: <paramref name="id"/> (or <c>-</c> when it is empty) and the digest.</summary>
    public void Write(ReadOnlySpan<byte> id, ulong? digest)
    {
        if (id.IsEmpty)
        {
            id = "-"u8;
        }

        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            if (_length + id.Length + DigestColumn + 1 > _buffer.Length)
            {
                FlushLocked();
            }

            id.CopyTo(_buffer.AsSpan(_length));
            _length += id.Length;
            if (digest is { } value)
            {
                _buffer[_length++] = (byte)'\t';
                value.TryFormat(_buffer.AsSpan(_length), out var digits, "x16", System.Globalization.CultureInfo.InvariantCulture);
                _length += digits;
            }

            _buffer[_length++] = (byte)'\n';
        }
    }

    /// <summary>Writes what is buffered to the file.</summary>
    public void Flush()
    {
        lock (_lock)
        {
            if (!_disposed)
            {
                FlushLocked();
            }
        }
    }

    public void Dispose()
    {
        _timer.Dispose();
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            FlushLocked();
            _disposed = true;
            _file.Dispose();
        }
    }

    private void FlushLocked()
    {
        if (_length > 0)
        {
            _file.Write(_buffer, 0, _length);
            _file.Flush();
            _length = 0;
        }
    }
}
