using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Tern.Spool;

/// <summary>
/// The message records appended last, kept in memory for their first delivery attempt, which
/// usually comes milliseconds later. FASTER's FasterLog.ReadAsync always reads a record from the
/// device (through the page cache here), with a new array and its async machinery per read:
/// ~90 us and ~5 KB per 1 KiB message (bench/SpoolReadBenchmarks), a large part of a relayed
/// message's cost. A hit here costs one copy.
/// </summary>
/// <remarks>
/// <para>One pinned block allocated at start (<see cref="Slots"/> x <see cref="SlotBytes"/>, 2 MiB, on the
/// pinned object heap): no GC object per record. A first version kept each record as its own array;
/// those arrays outlived gen0, piled up in gen2 and raised the relay's peak RSS by ~40 MiB. A GC array
/// rather than native memory, so that a read racing the spool's disposal never touches freed memory.</para>
/// <para>Direct-mapped on the log address in KiB, so the slots cover about the last
/// <see cref="Slots"/> KiB of log whatever the record sizes; a newer record replaces an older one in
/// its slot, and records larger than <see cref="MaxRecordBytes"/> are not kept (a miss reads the
/// log, as before). Keyed by log instance too: after a reopen the log's tail rewinds over the failed
/// commit, so an address can come back with other content.</para>
/// <para>No lock: each slot is a seqlock. A writer takes the slot by moving its version from even to
/// odd (a writer that finds it odd skips caching: the record is then read from the log), writes, and
/// makes it even again; a reader copies out and keeps the copy only when the version was even and
/// unchanged around the copy.</para>
/// </remarks>
internal sealed unsafe class RecentRecords
{
    public const int Slots = 1024;
    public const int SlotBytes = 2048;
    private const int HeaderBytes = 24;
    public const int MaxRecordBytes = SlotBytes - HeaderBytes;

    /// <summary>Kept referenced: <see cref="_memory"/> points into it, valid because it is pinned.</summary>
    private readonly byte[] _block;
    private readonly byte* _memory;

    public RecentRecords()
    {
        // Zeroed: version 0 (even, free), generation 0 (never a live log's), length 0.
        _block = GC.AllocateArray<byte>(Slots * SlotBytes, pinned: true);
        _memory = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_block));
    }

    public void Add(int generation, long address, ReadOnlySpan<byte> record)
    {
        if (record.Length > MaxRecordBytes)
        {
            return;
        }

        var slot = SlotOf(address);
        ref var version = ref *(long*)slot;
        var before = Volatile.Read(ref version);
        if ((before & 1) != 0 || Interlocked.CompareExchange(ref version, before + 1, before) != before)
        {
            return;
        }

        *(long*)(slot + 8) = address;
        *(int*)(slot + 16) = generation;
        *(int*)(slot + 20) = record.Length;
        record.CopyTo(new Span<byte>(slot + HeaderBytes, record.Length));
        Volatile.Write(ref version, before + 2);
    }

    /// <summary>
    /// Copies the record at <paramref name="address"/> of log instance <paramref name="generation"/> into
    /// <paramref name="destination"/> (at least <see cref="MaxRecordBytes"/>); its length, or -1 when it is not here.
    /// </summary>
    public int TryCopy(int generation, long address, Span<byte> destination)
    {
        var slot = SlotOf(address);
        ref var version = ref *(long*)slot;
        var before = Volatile.Read(ref version);
        if ((before & 1) != 0 || Volatile.Read(ref *(long*)(slot + 8)) != address || *(int*)(slot + 16) != generation)
        {
            return -1;
        }

        var length = *(int*)(slot + 20);
        if (length < 0 || length > MaxRecordBytes || length > destination.Length)
        {
            return -1;
        }

        new ReadOnlySpan<byte>(slot + HeaderBytes, length).CopyTo(destination);

        // The copy counts only when no writer took the slot meanwhile (the loads above may not pass this fence).
        Interlocked.MemoryBarrier();
        return Volatile.Read(ref version) == before ? length : -1;
    }

    private byte* SlotOf(long address) => _memory + (((address >> 10) & (Slots - 1)) * SlotBytes);
}
