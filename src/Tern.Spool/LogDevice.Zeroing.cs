using Microsoft.Win32.SafeHandles;

namespace Tern.Spool;

/// <summary>
/// Zeros ahead of the tail (see the class comment in LogDevice.cs for why).
/// <para>
/// Safety: zeros are only ever written beyond everything FASTER has written or is writing. Every write
/// publishes its end before it is queued, and the zeroer publishes the chunk it is about to write
/// before checking that end (both with full fences), so either the zeroer sees the write and skips
/// the chunk, or the write sees the chunk and waits until it is done (a chunk starts at least the
/// margin past the tail, so in practice nothing ever waits).
/// </para>
/// <para>
/// FASTER reads zeros past the tail as it reads a region never written (an empty page ends the scan),
/// so recovery is unchanged. Zeros stay inside the segment file the log is writing (never a new
/// file). Zeroing stops while free space is below <see cref="MinFreeForZeroing"/> and after a write
/// error, so it never competes with the spool's own reserve.
/// </para>
/// </summary>
internal sealed partial class LogDevice
{
    private void ZeroLoop()
    {
        SafeFileHandle? file = null;
        var fileSegment = -1;
        try
        {
            while (true)
            {
                // The file is opened per round and closed after it: a handle kept while the loop
                // waits (or skips rounds short of space) would keep a segment FASTER deleted alive.
                file?.Dispose();
                file = null;
                fileSegment = -1;
                _wake.Wait();
                if (_stopping)
                {
                    return;
                }

                if (_failed || WriteFailed || _freeSpace() < MinFreeForZeroing)
                {
                    continue;
                }

                while (!_stopping)
                {
                    // Within the segment the log writes in: FASTER creates each segment file itself
                    // (and counts the files it finds when it recovers), so none is made here.
                    var written = Volatile.Read(ref _written);
                    var segmentEnd = ((written >> _segmentBits) + 1) << _segmentBits;
                    var start = Math.Max(Volatile.Read(ref _zeroedUntil), RoundUp(written + _margin));
                    if (start >= Math.Min(written + _ahead, segmentEnd))
                    {
                        break;
                    }

                    var segment = (int)(start >> _segmentBits);
                    if (segment != fileSegment)
                    {
                        file?.Dispose();
                        file = null;
                        fileSegment = -1;
                        try
                        {
                            file = File.OpenHandle($"{FileName}.{segment}", FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
                        }
                        catch (FileNotFoundException)
                        {
                            // FASTER creates a segment's file with the first write into it, which we see
                            // just before it is issued: the next write wakes us again.
                            break;
                        }

                        fileSegment = segment;
                    }

                    // Publish the chunk, then check that no write reached it (see the class comment).
                    Interlocked.Exchange(ref _zeroing, start);
                    if (Volatile.Read(ref _written) > start)
                    {
                        Volatile.Write(ref _zeroing, long.MaxValue);
                        Volatile.Write(ref _zeroedUntil, RoundUp(Volatile.Read(ref _written)));
                        continue;
                    }

                    try
                    {
                        RandomAccess.Write(file!, Zeros, start & ((1L << _segmentBits) - 1));
                    }
                    finally
                    {
                        Volatile.Write(ref _zeroing, long.MaxValue);
                    }

                    // Each chunk is synced on its own: its allocation reaches the journal here, not in
                    // the log's next synchronous write, and a commit waiting behind this sync waits for
                    // 1 MiB, not for a whole batch (a 48 MiB batch synced at once held commits up to
                    // ~25 ms).
                    RandomAccess.FlushToDisk(file!);
                    ZeroedBytes += ChunkSize;
                    Volatile.Write(ref _zeroedUntil, start + ChunkSize);
                }

            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            // Disk full or an I/O error: the log goes on without zeros ahead (its own writes report the
            // error if there is one).
            _failed = true;
            Volatile.Write(ref _zeroing, long.MaxValue);
        }
        finally
        {
            file?.Dispose();
        }
    }

    private static long RoundUp(long address) => (address + ChunkSize - 1) & ~(long)(ChunkSize - 1);
}
