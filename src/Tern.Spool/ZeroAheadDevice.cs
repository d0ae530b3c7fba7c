using FASTER.core;
using Microsoft.Win32.SafeHandles;

namespace Tern.Spool;

/// <summary>
/// The log's device, with the file region just ahead of the log's tail written with zeros in the
/// background. Every group commit is one O_DSYNC write at the tail; when that write extends the file
/// or fills blocks the filesystem has not allocated yet, ext4 must also commit its journal (block
/// allocation, file size) before the write returns. Over blocks that are already written it is a
/// plain data write and a cache flush. Measured on this project's 2-vCPU VM (ext4 on virtio, 8 KiB
/// O_DSYNC writes): appending 146-207 µs and 55-71 µs CPU per write with 3 context switches,
/// over zeros 90-117 µs and 37-48 µs with 2; fallocate or ftruncate ahead did not help (141-187 µs).
/// <para>
/// Safety: zeros are only ever written beyond everything FASTER has written or is writing. FASTER
/// publishes the end of each write before issuing it, and the zeroer publishes the chunk it is about
/// to write before checking that end (both with full fences), so either the zeroer sees the write
/// and skips the chunk, or the write sees the chunk and waits until it is done (a chunk starts at
/// least <see cref="Margin"/> past the tail, so in practice nothing ever waits).
/// </para>
/// <para>
/// FASTER reads zeros past the tail as it reads a region never written (an empty page ends the scan),
/// so recovery is unchanged. Zeros stay inside the segment file the log is writing (never a new
/// file). Zeroing stops while free space is below <see cref="MinFreeForZeroing"/> and after a write
/// error, so it never competes with the spool's own reserve.
/// </para>
/// </summary>
internal sealed class ZeroAheadDevice : IDevice
{
    /// <summary>Chunk size of the zero writes (a segment is a whole number of chunks).</summary>
    internal const int ChunkSize = 1 << 20;

    /// <summary>No zeroing while the file system has less free space than this.</summary>
    internal const long MinFreeForZeroing = 1L << 30;

    private static readonly byte[] Zeros = new byte[ChunkSize];

    private readonly IDevice _inner;
    private readonly long _ahead;
    private readonly long _margin;
    private readonly Func<long> _freeSpace;
    private readonly ManualResetEventSlim _wake = new(false, spinCount: 0);
    private readonly Thread _zeroer;
    private volatile bool _stopping;

    /// <summary>The end (absolute log address) of everything FASTER has written or is writing.</summary>
    private long _written;

    /// <summary>The start of the chunk being zeroed, or <see cref="long.MaxValue"/>.</summary>
    private long _zeroing = long.MaxValue;

    /// <summary>Zeros (or data) are on disk up to here, ahead of <see cref="_written"/>.</summary>
    private long _zeroedUntil;

    private bool _failed;
    private int _segmentBits = -1;

    /// <param name="inner">The device FASTER would use.</param>
    /// <param name="ahead">How far past the tail the file is kept zeroed.</param>
    /// <param name="margin">How far past the tail zeroing starts at the earliest.</param>
    /// <param name="freeSpace">Free bytes on the file system (statvfs in the spool; tests pass a constant).</param>
    public ZeroAheadDevice(IDevice inner, long ahead, long margin, Func<long> freeSpace)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ahead, 2L * ChunkSize);
        ArgumentOutOfRangeException.ThrowIfNegative(margin);
        _inner = inner;
        _ahead = ahead;
        _margin = margin;
        _freeSpace = freeSpace;
        _zeroer = new Thread(ZeroLoop) { IsBackground = true, Name = "log zeroer" };
        _zeroer.Start();
    }

    /// <summary>Zero bytes written so far (for tests and the log).</summary>
    public long ZeroedBytes { get; private set; }

    /// <summary>Where the zeroed region ends (absolute log address; for tests).</summary>
    public long ZeroedUntil => Volatile.Read(ref _zeroedUntil);

    public uint SectorSize => _inner.SectorSize;

    public string FileName => _inner.FileName;

    public long Capacity => _inner.Capacity;

    public long SegmentSize => _inner.SegmentSize;

    public int StartSegment => _inner.StartSegment;

    public int EndSegment => _inner.EndSegment;

    public int ThrottleLimit
    {
        get => _inner.ThrottleLimit;
        set => _inner.ThrottleLimit = value;
    }

    public void Initialize(long segmentSize, LightEpoch? epoch = null, bool omitSegmentIdFromFileName = false)
    {
        _inner.Initialize(segmentSize, epoch, omitSegmentIdFromFileName);
        _segmentBits = segmentSize > 0 && (segmentSize & (segmentSize - 1)) == 0 && segmentSize % ChunkSize == 0 && !omitSegmentIdFromFileName
            ? System.Numerics.BitOperations.Log2((ulong)segmentSize)
            : -1;
    }

    public bool TryComplete() => _inner.TryComplete();

    public bool Throttle() => _inner.Throttle();

    public void WriteAsync(IntPtr sourceAddress, int segmentId, ulong destinationAddress, uint numBytesToWrite, DeviceIOCompletionCallback callback, object context)
    {
        BeforeWrite(segmentId, destinationAddress + numBytesToWrite);
        _inner.WriteAsync(sourceAddress, segmentId, destinationAddress, numBytesToWrite, callback, context);
    }

    public void WriteAsync(IntPtr sourceAddress, ulong alignedDestinationAddress, uint numBytesToWrite, DeviceIOCompletionCallback callback, object context)
    {
        if (_segmentBits >= 0)
        {
            var end = alignedDestinationAddress + numBytesToWrite;
            BeforeWrite((int)(alignedDestinationAddress >> _segmentBits), (end - ((alignedDestinationAddress >> _segmentBits) << _segmentBits)));
        }

        _inner.WriteAsync(sourceAddress, alignedDestinationAddress, numBytesToWrite, callback, context);
    }

    public void ReadAsync(int segmentId, ulong sourceAddress, IntPtr destinationAddress, uint readLength, DeviceIOCompletionCallback callback, object context) =>
        _inner.ReadAsync(segmentId, sourceAddress, destinationAddress, readLength, callback, context);

    public void ReadAsync(ulong alignedSourceAddress, IntPtr alignedDestinationAddress, uint aligned_read_length, DeviceIOCompletionCallback callback, object context) =>
        _inner.ReadAsync(alignedSourceAddress, alignedDestinationAddress, aligned_read_length, callback, context);

    public void TruncateUntilAddressAsync(long toAddress, AsyncCallback callback, IAsyncResult result) => _inner.TruncateUntilAddressAsync(toAddress, callback, result);

    public void TruncateUntilAddress(long toAddress) => _inner.TruncateUntilAddress(toAddress);

    public void TruncateUntilSegmentAsync(int toSegment, AsyncCallback callback, IAsyncResult result) => _inner.TruncateUntilSegmentAsync(toSegment, callback, result);

    public void TruncateUntilSegment(int toSegment) => _inner.TruncateUntilSegment(toSegment);

    public void RemoveSegmentAsync(int segment, AsyncCallback callback, IAsyncResult result) => _inner.RemoveSegmentAsync(segment, callback, result);

    public void RemoveSegment(int segment) => _inner.RemoveSegment(segment);

    public long GetFileSize(int segment) => _inner.GetFileSize(segment);

    public void Reset() => _inner.Reset();

    public void Dispose()
    {
        _stopping = true;
        _wake.Set();
        _zeroer.Join(TimeSpan.FromSeconds(10));
        _inner.Dispose();
    }

    /// <summary>
    /// Publishes the end of a write before it is issued; waits while a zero chunk it overlaps is being
    /// written; wakes the zeroer when the zeroed region ahead has shrunk to half.
    /// </summary>
    private void BeforeWrite(int segmentId, ulong endInSegment)
    {
        if (_segmentBits < 0)
        {
            return;
        }

        var end = ((long)segmentId << _segmentBits) + (long)endInSegment;
        Tern.Platform.AtomicMax.Raise(ref _written, end);

        // Full fence: the zeroer's published chunk is read after our end is visible to it.
        Interlocked.MemoryBarrier();
        var spin = new SpinWait();
        while (Volatile.Read(ref _zeroing) < end)
        {
            spin.SpinOnce();
        }

        if (!_failed && end + (_ahead / 2) > Volatile.Read(ref _zeroedUntil))
        {
            _wake.Set();
        }
    }

    private void ZeroLoop()
    {
        SafeFileHandle? file = null;
        var fileSegment = -1;
        try
        {
            while (true)
            {
                _wake.Wait();
                _wake.Reset();
                if (_stopping)
                {
                    return;
                }

                if (_failed || _freeSpace() < MinFreeForZeroing)
                {
                    continue;
                }

                var dirty = false;
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
                        Sync(file, dirty);
                        dirty = false;
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

                    dirty = true;
                    ZeroedBytes += ChunkSize;
                    Volatile.Write(ref _zeroedUntil, start + ChunkSize);
                }

                // The allocation reaches the journal once, here, instead of in the log's own O_DSYNC writes.
                Sync(file, dirty);
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

    private static void Sync(SafeFileHandle? file, bool dirty)
    {
        if (file is not null && dirty)
        {
            RandomAccess.FlushToDisk(file);
        }
    }

    private static long RoundUp(long address) => (address + ChunkSize - 1) & ~(long)(ChunkSize - 1);
}
