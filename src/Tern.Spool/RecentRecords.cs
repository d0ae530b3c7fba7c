namespace Tern.Spool;

/// <summary>
/// The message records committed last, kept in memory for their first delivery attempt, which
/// usually comes milliseconds later. FASTER's FasterLog.ReadAsync always reads a record from the
/// device (through the page cache here), with a new array and its async machinery per read:
/// ~90 us and ~5 KB per 1 KiB message (bench/SpoolReadBenchmarks), a large part of a relayed
/// message's cost. A hit here costs a lookup.
/// </summary>
/// <remarks>
/// Direct-mapped on the log address in KiB, so the slots cover about the last
/// <see cref="Slots"/> KiB of log whatever the record sizes, and a newer record simply replaces an
/// older one in its slot (a miss reads the log, as before). Records above
/// <see cref="MaxRecordBytes"/> are not kept, which bounds the memory at Slots x MaxRecordBytes
/// (2 MiB-ish in practice, 32 MiB at worst). Entries are immutable and swapped atomically: no lock.
/// Keyed by log instance too: after a reopen the log's tail rewinds over the failed commit, so an
/// address can come back with other content.
/// </remarks>
internal sealed class RecentRecords
{
    public const int Slots = 2048;
    public const int MaxRecordBytes = 16 * 1024;

    private readonly Entry?[] _slots = new Entry?[Slots];

    public void Add(int generation, long address, ReadOnlySpan<byte> record)
    {
        if (record.Length > MaxRecordBytes)
        {
            return;
        }

        Volatile.Write(ref _slots[SlotOf(address)], new Entry(generation, address, record.ToArray()));
    }

    /// <summary>The record at <paramref name="address"/> of log instance <paramref name="generation"/>, or null.</summary>
    public byte[]? Get(int generation, long address)
    {
        var e = Volatile.Read(ref _slots[SlotOf(address)]);
        return e is not null && e.Address == address && e.Generation == generation ? e.Record : null;
    }

    private static int SlotOf(long address) => (int)((address >> 10) & (Slots - 1));

    private sealed record Entry(int Generation, long Address, byte[] Record);
}
