using System.Buffers.Binary;

namespace Tern.Spool;

/// <summary>Kinds of log records.</summary>
internal enum RecordKind : byte
{
    /// <summary>A piece of a message body too large to travel inside its message record.</summary>
    BodyChunk = 1,

    /// <summary>An accepted message: envelope, body (inline or as chunk addresses). Its commit is the acceptance.</summary>
    Message = 2,

    /// <summary>A message whose commit failed (the client was told 4xx): recovery drops it.</summary>
    Abandoned = 3,

    /// <summary>A message's queue entry after a change (attempt, hold, retire...): a full snapshot, last one wins.</summary>
    State = 4,

    /// <summary>The hold rules and the global pause, as a whole (the id is zero).</summary>
    Rules = 5,

    /// <summary>
    /// A queued message's next attempt time, alone (header and one i64): written before each delivery
    /// attempt, so much smaller than a State snapshot. It patches the entry's next attempt; ignored
    /// when the message is no longer queued.
    /// </summary>
    NextAttempt = 6,
}

[Flags]
internal enum RecordFlags : ushort
{
    None = 0,

    /// <summary>The body bytes in this record are zstd-compressed.</summary>
    Compressed = 1,

    /// <summary>Message: a hold rule matched when it was accepted; it is queued held.</summary>
    Held = 2,

    /// <summary>Message: a copy made by compaction (same id); it only moves the body of a queued message.</summary>
    Copy = 4,
}

/// <summary>
/// Version 1 of the log's record layout (all integers little-endian). A reader refuses a version it
/// does not know rather than guess; later versions append fields after the ones below. New kinds
/// are added within version 1 (NextAttempt came after the first five): a reader skips a kind it does
/// not know, so a spool written by a newer Tern stays readable by an older one (which then misses
/// only what the new kind says).
/// FasterLog adds a per-entry checksum and length around each record, so a torn or corrupt tail is
/// detected on recovery and never replayed.
/// <code>
/// header (20 bytes):   u8 kind | u8 version=1 | u16 flags | 16 bytes message id (big-endian ULID)
/// Abandoned:           header only (a message whose commit failed; recovery drops it)
/// BodyChunk:           header | u32 sequence | u32 raw length | payload (raw or zstd)
/// Message:             header | i64 received (Unix ms) | u64 body length (raw)
///                      | u32 inline body stored length (0 when chunked) | u32 chunk count N | N x i64 chunk address
///                      | envelope | inline body (raw or zstd)
/// State:               header | queue entry (see QueueEntryFormat, which has its own version byte)
/// Rules:               header (id zero) | u8 paused | i64 next rule id | u32 N
///                      | N x (i64 id | str sender domain | str recipient domain | str account)
/// NextAttempt:         header | i64 next attempt (Unix ms)   (28 bytes; replaces the entry's next attempt
///                      when the message is still queued; a later State snapshot replaces it in turn)
/// envelope:            u8 flags (1 smtputf8, 2 requiretls, 4 8bit, 8 tls) | u8 body type | u8 ret
///                      | str sender | str envid | str auth user | str client | str listener
///                      | u32 recipient count R | R x (str address | u8 notify | str orcpt)
/// str:                 u16 length | bytes (UTF-8)
/// </code>
/// </summary>
internal static class RecordFormat
{
    public const byte Version = 1;
    public const int HeaderSize = 20;
    public const int ChunkHeaderSize = HeaderSize + 8;

    /// <summary>Size of a NextAttempt record: the header and one i64.</summary>
    public const int NextAttemptSize = HeaderSize + 8;

    public static void WriteHeader(Span<byte> destination, RecordKind kind, RecordFlags flags, MessageId id)
    {
        destination[0] = (byte)kind;
        destination[1] = Version;
        BinaryPrimitives.WriteUInt16LittleEndian(destination[2..], (ushort)flags);
        id.WriteTo(destination[4..]);
    }

    /// <summary>Reads the header; false when the record is too short or of an unknown version.</summary>
    public static bool TryReadHeader(ReadOnlySpan<byte> record, out RecordKind kind, out RecordFlags flags, out MessageId id)
    {
        kind = default;
        flags = default;
        id = default;
        if (record.Length < HeaderSize || record[1] != Version)
        {
            return false;
        }

        kind = (RecordKind)record[0];
        flags = (RecordFlags)BinaryPrimitives.ReadUInt16LittleEndian(record[2..]);
        id = MessageId.Read(record[4..]);
        return true;
    }
}

/// <summary>Appends the little-endian fields of a record to a buffer (growing it from the pool).</summary>
internal ref struct RecordWriter(byte[] buffer)
{
    private byte[] _buffer = buffer;
    private int _n;

    public readonly int Length => _n;

    public readonly byte[] Buffer => _buffer;

    public readonly ReadOnlySpan<byte> Written => _buffer.AsSpan(0, _n);

    public Span<byte> Reserve(int count)
    {
        Ensure(count);
        var span = _buffer.AsSpan(_n, count);
        _n += count;
        return span;
    }

    /// <summary>Gives back the unused end of the last reservation.</summary>
    public void Unreserve(int count) => _n -= count;

    public void U8(byte v) => Reserve(1)[0] = v;

    public void U16(ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(Reserve(2), v);

    public void U32(uint v) => BinaryPrimitives.WriteUInt32LittleEndian(Reserve(4), v);

    public void I64(long v) => BinaryPrimitives.WriteInt64LittleEndian(Reserve(8), v);

    public void U64(ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(Reserve(8), v);

    public void Bytes(ReadOnlySpan<byte> v) => v.CopyTo(Reserve(v.Length));

    /// <summary>A length-prefixed string (u16); longer values are refused by the caller's limits.</summary>
    public void Str(ReadOnlySpan<byte> v)
    {
        U16(checked((ushort)v.Length));
        Bytes(v);
    }

    /// <summary>A string as <see cref="Str(ReadOnlySpan{byte})"/> writes its UTF-8 bytes, encoded in place (no array per string).</summary>
    public void Str(string v)
    {
        var length = System.Text.Encoding.UTF8.GetByteCount(v);
        U16(checked((ushort)length));
        System.Text.Encoding.UTF8.GetBytes(v, Reserve(length));
    }

    /// <summary>Patches a u32 written earlier (e.g. a count known only later).</summary>
    public readonly void PatchU32(int offset, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(_buffer.AsSpan(offset), v);

    private void Ensure(int count)
    {
        if (_n + count <= _buffer.Length)
        {
            return;
        }

        var bigger = System.Buffers.ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _n + count));
        _buffer.AsSpan(0, _n).CopyTo(bigger);
        System.Buffers.ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = bigger;
    }
}

/// <summary>Reads the fields of a record; every read is bounds-checked (a bad record throws <see cref="FormatException"/>).</summary>
internal ref struct RecordReader(ReadOnlySpan<byte> record, int offset)
{
    private readonly ReadOnlySpan<byte> _r = record;
    private int _p = offset;

    public readonly int Position => _p;

    public ReadOnlySpan<byte> Take(int count)
    {
        if (count < 0 || _p + count > _r.Length)
        {
            throw new FormatException("record truncated");
        }

        var span = _r.Slice(_p, count);
        _p += count;
        return span;
    }

    public byte U8() => Take(1)[0];

    public ushort U16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2));

    public uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));

    public long I64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));

    public ulong U64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

    public ReadOnlySpan<byte> Str() => Take(U16());

    public readonly ReadOnlySpan<byte> Rest => _r[_p..];
}
