using System.Buffers;
using ZstdSharp;

namespace Tern.Spool;

/// <summary>
/// One message being written. The body streams in through <see cref="Write"/>: up to
/// <see cref="SpoolOptions.ChunkSize"/> it is kept and stored inside the message record; beyond that
/// it is appended to the log as chunk records as it arrives, so a large message never sits in memory
/// whole. <see cref="CommitAsync"/> appends the message record and returns once it is durable.
/// Writers are pooled: dispose returns it (an uncommitted message is simply never indexed).
/// </summary>
public sealed class SpoolWriter : IDisposable
{
    private const int InitialBufferSize = 16 * 1024;

    private readonly Spool _spool;
    private readonly List<long> _chunks = [];
    private readonly byte[] _idText = new byte[MessageId.TextLength];
    /// <summary>The writer's own buffer, kept while it is pooled: enough for most messages.</summary>
    private byte[] _small = [];

    /// <summary>
    /// <see cref="_small"/>, or for a larger message a buffer rented from the shared pool, returned when the
    /// writer is started again or disposed. Grown by allocating, a 100 KiB message left a 128 KiB array on the
    /// large object heap each time (plus 32 and 64 KiB on the way), and those drove a gen2 collection every
    /// ~70 messages (bench/README.md).
    /// </summary>
    private byte[] _buffer = [];

    /// <summary>The usable part of <see cref="_buffer"/> (a rented array may be longer than asked for): at most one chunk.</summary>
    private int _capacity;

    /// <summary>Whether <see cref="_buffer"/> came from the shared pool.</summary>
    private bool _rented;

    private int _buffered;
    private long _bodyLength;
    private uint _sequence;
    private bool _active;
    private bool _copy;
    private Compressor? _compressor;

    internal SpoolWriter(Spool spool)
    {
        _spool = spool;
    }

    public MessageId Id { get; private set; }

    /// <summary>The id as 26 ASCII characters (for the 250 reply and the Received header).</summary>
    public ReadOnlySpan<byte> IdText => _idText;

    /// <summary>Envelope fields; set them before <see cref="CommitAsync"/>.</summary>
    public EnvelopeBuilder Envelope { get; } = new();

    public void Write(ReadOnlySpan<byte> data)
    {
        ObjectDisposedException.ThrowIf(!_active, this);
        var chunkSize = _spool.Options.ChunkSize;
        while (!data.IsEmpty)
        {
            if (_buffered == _capacity)
            {
                if (_capacity < chunkSize)
                {
                    // Most messages are small: the buffer grows by doubling up to one chunk.
                    Grow(Math.Min(_capacity * 2, chunkSize));
                }
                else
                {
                    AppendChunk();
                }
            }

            var take = Math.Min(data.Length, _capacity - _buffered);
            data[..take].CopyTo(_buffer.AsSpan(_buffered));
            _buffered += take;
            _bodyLength += take;
            data = data[take..];
        }
    }

    /// <summary>
    /// False when the envelope is too large for a queue entry (one entry must fit in a page of the
    /// index: thousands of long recipient addresses would not); such a message is refused for good
    /// (552 5.3.4), since sending it again cannot help. <see cref="CommitAsync"/> refuses it too.
    /// </summary>
    public bool EnvelopeFits => _spool.EntryFits(Envelope);

    /// <summary>Appends the message record and waits for the commit that covers it. False: an I/O failure (answer 4xx).</summary>
    public ValueTask<bool> CommitAsync(CancellationToken cancel)
    {
        ObjectDisposedException.ThrowIf(!_active, this);
        return _spool.CommitMessageAsync(this, cancel);
    }

    public void Dispose()
    {
        if (!_active)
        {
            return;
        }

        _active = false;
        if (_chunks.Count > 0 && !Committed)
        {
            _spool.UnpinInFlight(Id);
        }

        ReleaseBuffer();
        _spool.Return(this);
    }

    /// <summary>Moves the buffered bytes into a buffer of <paramref name="capacity"/> bytes rented from the shared pool.</summary>
    private void Grow(int capacity)
    {
        var bigger = ArrayPool<byte>.Shared.Rent(capacity);
        _buffer.AsSpan(0, _buffered).CopyTo(bigger);
        ReleaseBuffer();
        _buffer = bigger;
        _capacity = capacity;
        _rented = true;
    }

    /// <summary>Back to the writer's own small buffer; a rented one returns to the pool (nothing refers to it any more).</summary>
    private void ReleaseBuffer()
    {
        if (_rented)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _rented = false;
        }

        _buffer = _small;
        _capacity = _small.Length;
    }

    /// <summary>Its message record is durable (from then on the applier releases the in-flight pin).</summary>
    internal bool Committed { get; set; }

    /// <summary>This writer's pooled wait for its commit.</summary>
    internal CommitWaiter Waiter { get; } = new();

    /// <summary>The log instance this message was started on; a replaced log fails its commit.</summary>
    internal int Generation { get; private set; }

    /// <summary>A chunk could not be appended: the commit will fail (4xx) and nothing more is written.</summary>
    internal bool Failed { get; private set; }

    /// <summary>A notice Tern writes itself (counted as such, not as a message accepted from outside).</summary>
    internal bool IsNotice { get; set; }

    /// <summary>
    /// A new message from outside: refused below the free-space reserve. Notices and compaction
    /// copies are not (they carry what was already accepted, and the reserve is kept for them).
    /// </summary>
    internal bool Reserved => !IsNotice && !_copy;

    internal void Start(MessageId id, int generation, bool copy = false)
    {
        Id = id;
        _copy = copy;
        IsNotice = false;
        Generation = generation;
        Failed = false;
        Committed = false;
        id.Format(_idText);
        // Pooled writers keep a small buffer: a large message's chunk-sized buffer goes back to the shared pool.
        var initial = Math.Min(InitialBufferSize, _spool.Options.ChunkSize);
        if (_small.Length != initial)
        {
            _small = new byte[initial];
        }

        ReleaseBuffer();
        _buffered = 0;
        _bodyLength = 0;
        _sequence = 0;
        _chunks.Clear();
        Envelope.Reset();
        _active = true;
    }

    internal long BodyLength => _bodyLength;

    internal IReadOnlyList<long> Chunks => _chunks;

    /// <summary>Builds the message record: inline body when it fits in one chunk, else the last chunk is appended first.</summary>
    internal byte[] BuildMessageRecord(DateTimeOffset received, out int length)
    {
        if (_chunks.Count > 0 && _buffered > 0)
        {
            AppendChunk();
        }

        var inline = _chunks.Count == 0 ? _buffer.AsSpan(0, _buffered) : default;
        var compress = inline.Length > _spool.Options.CompressAbove;
        var w = new RecordWriter(ArrayPool<byte>.Shared.Rent(1024 + inline.Length));
        var flags = compress ? RecordFlags.Compressed : RecordFlags.None;
        if (_copy)
        {
            flags |= RecordFlags.Copy;
        }
        else if (_spool.Rules.Rules.Count > 0 && _spool.Rules.Match(Envelope) is not null)
        {
            // A hold rule matched: the message is queued held, from its very first record.
            flags |= RecordFlags.Held;
        }

        RecordFormat.WriteHeader(w.Reserve(RecordFormat.HeaderSize), RecordKind.Message, flags, Id);
        w.I64(received.ToUnixTimeMilliseconds());
        w.U64((ulong)_bodyLength);
        var inlineLengthOffset = w.Length;
        w.U32(0);
        w.U32((uint)_chunks.Count);
        foreach (var address in _chunks)
        {
            w.I64(address);
        }

        Envelope.WriteTo(ref w);
        var stored = compress ? Compress(inline, ref w) : Copy(inline, ref w);
        w.PatchU32(inlineLengthOffset, (uint)stored);
        length = w.Length;
        return w.Buffer;
    }

    private void AppendChunk()
    {
        if (!Failed && Reserved && _spool.BelowReserve)
        {
            // Below the free-space reserve the body is not written (the commit answers 4xx anyway);
            // checked before compressing, which would be work thrown away.
            Failed = true;
        }

        if (Failed)
        {
            _buffered = 0;
            return;
        }

        var payload = _buffer.AsSpan(0, _buffered);
        var compress = payload.Length > _spool.Options.CompressAbove;
        var w = new RecordWriter(ArrayPool<byte>.Shared.Rent(RecordFormat.ChunkHeaderSize + Compressor.GetCompressBound(payload.Length)));
        try
        {
            RecordFormat.WriteHeader(w.Reserve(RecordFormat.HeaderSize), RecordKind.BodyChunk, compress ? RecordFlags.Compressed : RecordFlags.None, Id);
            w.U32(_sequence++);
            w.U32((uint)payload.Length);
            _ = compress ? Compress(payload, ref w) : Copy(payload, ref w);
            var address = _spool.Append(w.Written, Generation);
            if (_chunks.Count == 0)
            {
                // The body starts before its message record: the log must not be truncated below
                // it until the record is indexed (the applier releases it) or the message is dropped.
                _spool.PinInFlight(Id, address);
            }

            _chunks.Add(address);
        }
        catch (Exception e) when (e is IOException or FASTER.core.FasterException or ObjectDisposedException)
        {
            // Disk full or a failed log: the SMTP session keeps reading the data and gets 4xx at the end.
            Failed = true;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(w.Buffer);
        }

        _buffered = 0;
    }

    private static int Copy(ReadOnlySpan<byte> data, ref RecordWriter w)
    {
        w.Bytes(data);
        return data.Length;
    }

    private int Compress(ReadOnlySpan<byte> data, ref RecordWriter w)
    {
        _compressor ??= new Compressor(_spool.Options.CompressionLevel);
        var bound = Compressor.GetCompressBound(data.Length);
        var target = w.Reserve(bound);
        var n = _compressor.Wrap(data, target);
        w.Unreserve(bound - n);
        _spool.Metrics.Compressed(data.Length, n);
        return n;
    }
}
