using System.Buffers;
using System.Text;

namespace Tern.Spool.Queue;

/// <summary>
/// Version 2 of a queue entry's bytes: the value in the queue index and the payload of a State
/// record (a full snapshot, so replaying the log is "last record wins"). Integers little-endian;
/// times are Unix milliseconds (0 = none). The envelope section is the message record's envelope,
/// byte for byte, so indexing a new message copies it without decoding.
/// <code>
/// u8 version=2 | u8 state | u8 held | u8 requiretls policy
/// | i64 address (message record) | i64 first address (first body chunk, or the record)
/// | i64 received | u64 body length | u32 attempts | i64 next attempt | i64 finished
/// | u8 max retries (0 = the global default)
/// | str transport | str hold reason
/// | u32 envelope length | envelope (see RecordFormat)
/// | u32 R | R x (u8 status | i64 last attempt | u32 reply length | reply bytes)
/// </code>
/// Version 1 is the same without the max retries byte (offset 56): entries written by earlier
/// Tern versions (index checkpoints, State records in the log) are read as version 1 with max
/// retries 0, and are rewritten as version 2 by their next change. The fields up to offset 56 are at
/// the same offsets in both versions, so fixed-offset reads (state, held, next attempt, addresses,
/// finished) need not look at the version.
/// </summary>
internal static class QueueEntryFormat
{
    public const byte Version = 2;

    /// <summary>The version before <see cref="QueueEntry.MaxRetries"/> (still read).</summary>
    public const byte Version1 = 1;

    /// <summary>Offset of the first address field (patched when compaction moves a body).</summary>
    public const int AddressOffset = 4;

    public const int FirstAddressOffset = 12;

    public const int StateOffset = 1;

    public const int ReceivedOffset = 20;

    public const int HeldOffset = 2;

    public const int NextAttemptOffset = 40;

    public const int FinishedOffset = 48;

    /// <summary>Version 2: the per-message retry limit (one byte).</summary>
    public const int MaxRetriesOffset = 56;

    /// <summary>Whether this version of the entry layout can be read.</summary>
    public static bool IsKnownVersion(byte version) => version is Version or Version1;

    /// <summary>Queued, not held, and its next attempt at or before <paramref name="nowMs"/> (Unix ms): read at fixed offsets, nothing decoded.</summary>
    public static bool IsDue(ReadOnlySpan<byte> value, long nowMs) =>
        value.Length > NextAttemptOffset + 8 && value[StateOffset] == (byte)MessageState.Queued && value[HeldOffset] == 0
        && System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(value[NextAttemptOffset..]) <= nowMs;

    /// <summary>
    /// Builds the entry of a newly accepted message from its message record, without decoding
    /// strings: the envelope bytes are copied as they are.
    /// </summary>
    public static void FromMessageRecord(ReadOnlySpan<byte> record, long address, bool held, ReadOnlySpan<byte> holdReason, ref RecordWriter w)
    {
        var reader = new RecordReader(record, RecordFormat.HeaderSize);
        var received = reader.I64();
        var bodyLength = reader.U64();
        _ = reader.U32();
        var chunkCount = (int)reader.U32();
        var first = chunkCount > 0 ? reader.I64() : address;
        reader.Take(Math.Max(0, chunkCount - 1) * 8);
        var envelopeStart = reader.Position;
        var recipients = EnvelopeBuilder.Skip(ref reader);
        var envelope = record[envelopeStart..reader.Position];

        w.U8(Version);
        w.U8((byte)MessageState.Queued);
        w.U8(held ? (byte)1 : (byte)0);
        w.U8((byte)RequireTlsPolicy.Default);
        w.I64(address);
        w.I64(first);
        w.I64(received);
        w.U64(bodyLength);
        w.U32(0);
        w.I64(received);
        w.I64(0);
        w.U8(0);
        w.Str([]);
        w.Str(holdReason);
        w.U32((uint)envelope.Length);
        w.Bytes(envelope);
        w.U32((uint)recipients);
        for (var i = 0; i < recipients; i++)
        {
            w.U8((byte)RecipientStatus.Pending);
            w.I64(0);
            w.U32(0);
        }
    }

    /// <summary>
    /// The size of an entry apart from its recipients' last replies (and apart from the transport and
    /// hold reason, which the caller adds): what a new message must leave room for in an index page.
    /// </summary>
    public static int SizeWithoutReplies(int envelopeLength, int recipients) => FixedSize + 4 + envelopeLength + 4 + (recipients * RecipientSize);

    /// <summary>Bytes of the fixed fields up to the transport (with the two string lengths).</summary>
    private const int FixedSize = 61;

    /// <summary>Status, last attempt and reply length of one recipient.</summary>
    private const int RecipientSize = 13;

    /// <summary>
    /// Writes an entry. When it would be longer than <paramref name="maxLength"/> (an index page holds
    /// one entry; thousands of recipients with long multi-line replies would not fit), the longest
    /// replies are cut to an equal share of the room left: the entry always fits, and every reply
    /// keeps at least its beginning, which holds the code and the enhanced status.
    /// </summary>
    public static void Write(QueueEntry e, ref RecordWriter w, int maxLength = int.MaxValue)
    {
        var start = w.Length;
        w.U8(Version);
        w.U8((byte)e.State);
        w.U8(e.Held ? (byte)1 : (byte)0);
        w.U8((byte)e.RequireTlsPolicy);
        w.I64(e.Address);
        w.I64(e.FirstAddress);
        w.I64(e.Received.ToUnixTimeMilliseconds());
        w.U64((ulong)e.BodyLength);
        w.U32((uint)e.Attempts);
        w.I64(e.NextAttempt.ToUnixTimeMilliseconds());
        w.I64(Millis(e.Finished));
        w.U8((byte)Math.Clamp(e.MaxRetries, 0, byte.MaxValue));
        w.Str(e.Transport);
        w.Str(e.HoldReason);
        var lengthAt = w.Length;
        w.U32(0);
        EnvelopeBuilder.Write(e.Envelope, ref w);
        w.PatchU32(lengthAt, (uint)(w.Length - lengthAt - 4));
        w.U32((uint)e.Recipients.Count);
        var share = int.MaxValue;
        if (maxLength != int.MaxValue && e.Recipients.Count > 0)
        {
            var room = maxLength - (w.Length - start) - (e.Recipients.Count * RecipientSize);
            var replies = 0L;
            foreach (var r in e.Recipients)
            {
                replies += Encoding.UTF8.GetByteCount(r.LastReply);
            }

            if (replies > room)
            {
                share = Math.Max(0, room / e.Recipients.Count);
            }
        }

        foreach (var r in e.Recipients)
        {
            w.U8((byte)r.Status);
            w.I64(Millis(r.LastAttempt));
            // Encoded in place (no array per reply), then cut to the share if it is longer.
            var replyAt = w.Length;
            w.U32(0);
            var room = w.Reserve(Encoding.UTF8.GetMaxByteCount(r.LastReply.Length));
            var encoded = Encoding.UTF8.GetBytes(r.LastReply, room);
            var length = Utf8Prefix(room[..encoded], share);
            w.Unreserve(room.Length - length);
            w.PatchU32(replyAt, (uint)length);
        }
    }

    /// <summary>The longest prefix of at most <paramref name="max"/> bytes that does not split a UTF-8 sequence.</summary>
    private static int Utf8Prefix(ReadOnlySpan<byte> text, int max)
    {
        if (text.Length <= max)
        {
            return text.Length;
        }

        var n = max;
        while (n > 0 && (text[n] & 0xC0) == 0x80)
        {
            n--;
        }

        return n;
    }

    /// <summary>Encodes an entry into a pooled buffer; the caller returns <paramref name="buffer"/> to the pool.</summary>
    public static ReadOnlySpan<byte> Encode(QueueEntry e, out byte[] buffer)
    {
        var w = new RecordWriter(ArrayPool<byte>.Shared.Rent(1024));
        Write(e, ref w);
        buffer = w.Buffer;
        return buffer.AsSpan(0, w.Length);
    }

    /// <exception cref="FormatException">The bytes are not a version-1 or version-2 entry.</exception>
    public static QueueEntry Read(MessageId id, ReadOnlySpan<byte> value)
    {
        if (value.Length < 1 || !IsKnownVersion(value[0]))
        {
            throw new FormatException($"queue entry {id}: unknown format version");
        }

        var r = new RecordReader(value, 1);
        var state = (MessageState)r.U8();
        var held = r.U8() != 0;
        var policy = (RequireTlsPolicy)r.U8();
        var address = r.I64();
        var first = r.I64();
        var received = r.I64();
        var bodyLength = (long)r.U64();
        var attempts = (int)r.U32();
        var next = r.I64();
        var finished = r.I64();
        var maxRetries = value[0] == Version1 ? 0 : r.U8();
        var transport = Encoding.UTF8.GetString(r.Str());
        var holdReason = Encoding.UTF8.GetString(r.Str());
        var envelopeBytes = r.Take((int)r.U32());
        var er = new RecordReader(envelopeBytes, 0);
        var envelope = EnvelopeBuilder.Read(ref er);
        var count = (int)r.U32();
        if (count != envelope.Recipients.Count)
        {
            throw new FormatException($"queue entry {id}: {count} recipient states for {envelope.Recipients.Count} recipients");
        }

        var recipients = new RecipientState[count];
        for (var i = 0; i < count; i++)
        {
            var status = (RecipientStatus)r.U8();
            var last = r.I64();
            var reply = Encoding.UTF8.GetString(r.Take((int)r.U32()));
            var rcpt = envelope.Recipients[i];
            recipients[i] = new RecipientState
            {
                Address = rcpt.Address,
                Notify = rcpt.Notify,
                OriginalRecipient = rcpt.OriginalRecipient,
                Status = status,
                LastAttempt = Time(last),
                LastReply = reply,
            };
        }

        return new QueueEntry
        {
            Id = id,
            State = state,
            Held = held,
            HoldReason = holdReason,
            RequireTlsPolicy = policy,
            Address = address,
            FirstAddress = first,
            Received = DateTimeOffset.FromUnixTimeMilliseconds(received),
            BodyLength = bodyLength,
            Attempts = attempts,
            MaxRetries = maxRetries,
            NextAttempt = DateTimeOffset.FromUnixTimeMilliseconds(next),
            Finished = Time(finished),
            Transport = transport,
            Envelope = envelope,
            Recipients = recipients,
        };
    }

    /// <summary>
    /// The fields a read of the message needs (its record's address, arrival, body length and
    /// recipient count), skipping the strings and the envelope: <see cref="Read"/> decodes all of them,
    /// and delivery read every message's entry that way once more than it used.
    /// </summary>
    /// <exception cref="FormatException">The bytes are not a version-1 or version-2 entry.</exception>
    public static SpooledMessage Summary(MessageId id, ReadOnlySpan<byte> value)
    {
        if (value.Length < 1 || !IsKnownVersion(value[0]))
        {
            throw new FormatException($"queue entry {id}: unknown format version");
        }

        var r = new RecordReader(value, AddressOffset);
        var address = r.I64();
        _ = r.I64();
        var received = r.I64();
        var bodyLength = (long)r.U64();
        r.Take(4 + 8 + 8 + (value[0] == Version1 ? 0 : 1));
        _ = r.Str();
        _ = r.Str();
        r.Take((int)r.U32());
        var count = (int)r.U32();
        return new SpooledMessage(id, address, DateTimeOffset.FromUnixTimeMilliseconds(received), bodyLength, count);
    }

    public static MessageState State(ReadOnlySpan<byte> value) => (MessageState)value[StateOffset];

    public static long Address(ReadOnlySpan<byte> value) => System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(value[AddressOffset..]);

    public static long FirstAddress(ReadOnlySpan<byte> value) => System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(value[FirstAddressOffset..]);

    public static long FinishedMillis(ReadOnlySpan<byte> value) => System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(value[FinishedOffset..]);

    public static bool Held(ReadOnlySpan<byte> value) => value[HeldOffset] != 0;

    public static long NextAttemptMillis(ReadOnlySpan<byte> value) => System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(value[NextAttemptOffset..]);

    /// <summary>Sets the next attempt in place (a NextAttempt record).</summary>
    public static void SetNextAttempt(Span<byte> value, long unixMs) =>
        System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(value[NextAttemptOffset..], unixMs);

    /// <summary>Points an entry at a moved body (compaction).</summary>
    public static void SetAddresses(Span<byte> value, long address, long first)
    {
        System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(value[AddressOffset..], address);
        System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(value[FirstAddressOffset..], first);
    }

    private static long Millis(DateTimeOffset? t) => t is { } v ? v.ToUnixTimeMilliseconds() : 0;

    private static DateTimeOffset? Time(long ms) => ms == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds(ms);
}
