using FASTER.core;

namespace Tern.Spool;

/// <summary>
/// The log's device: FASTER's own device for everything but writes and reads. Writes go (1) through a
/// thread of their own and (2) onto a region kept written with zeros ahead of the tail; reads are a
/// pread on the calling thread (see LogDevice.Reader.cs).
/// <para>
/// (1) FASTER's device writes through .NET's asynchronous file I/O, which on Linux is a blocking
/// pwrite on a thread-pool thread; each group commit is a synchronous write, so a pool thread blocked
/// for ~0.1 ms per commit, and the pool's starvation logic grew to ~36 threads on two cores, woken in
/// turn (perf: context switching ~20 % of the relay's CPU). Here one writer thread does the writes
/// (see LogDevice.Writer.cs) and the pool stays small.
/// </para>
/// <para>
/// (2) When a synchronous write extends the file or fills blocks the file system has not allocated yet,
/// ext4 must also commit its journal (block allocation, file size) before the write returns; over
/// blocks already written it is a plain data write and a cache flush. Measured on this project's
/// 2-vCPU VM (ext4 on virtio, 8 KiB O_DSYNC writes): appending 146-207 µs and 55-71 µs CPU per write
/// with 3 context switches, over zeros 90-117 µs and 37-48 µs with 2; fallocate or ftruncate ahead did
/// not help (141-187 µs). In Tern the zeros cut context switches from 5.2 to 4.4 per relayed message
/// (then with O_SYNC handles; they are O_DSYNC now, see LogDevice.Writer.cs). See LogDevice.Zeroing.cs.
/// </para>
/// </summary>
internal sealed partial class LogDevice : IDevice
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
    private readonly Tern.Platform.WakeEvent _wake = new();
    private readonly Thread _zeroer;
    private readonly Thread _writer;
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
    public LogDevice(IDevice inner, long ahead, long margin, Func<long> freeSpace)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(ahead);
        ArgumentOutOfRangeException.ThrowIfNegative(margin);
        _inner = inner;
        _ahead = ahead;
        _margin = margin;
        _freeSpace = freeSpace;
        _zeroer = new Thread(ZeroLoop) { IsBackground = true, Name = "log zeroer" };
        _zeroer.Start();
        _writer = new Thread(WriteLoop) { IsBackground = true, Name = "spool writer" };
        _writer.Start();
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
        if (_segmentBits < 0)
        {
            _inner.WriteAsync(sourceAddress, segmentId, destinationAddress, numBytesToWrite, callback, context);
            return;
        }

        BeforeWrite(segmentId, destinationAddress + numBytesToWrite);
        Queue(new PendingWrite(sourceAddress, segmentId, (long)destinationAddress, numBytesToWrite, callback, context));
    }

    public void WriteAsync(IntPtr sourceAddress, ulong alignedDestinationAddress, uint numBytesToWrite, DeviceIOCompletionCallback callback, object context)
    {
        if (_segmentBits < 0)
        {
            _inner.WriteAsync(sourceAddress, alignedDestinationAddress, numBytesToWrite, callback, context);
            return;
        }

        var (segment, offset) = Locate(alignedDestinationAddress);
        BeforeWrite(segment, (ulong)offset + numBytesToWrite);
        Queue(new PendingWrite(sourceAddress, segment, offset, numBytesToWrite, callback, context));
    }

    public void TruncateUntilAddressAsync(long toAddress, AsyncCallback callback, IAsyncResult result)
    {
        CloseSegmentsBelow(SegmentOf(toAddress));
        _inner.TruncateUntilAddressAsync(toAddress, callback, result);
    }

    public void TruncateUntilAddress(long toAddress)
    {
        CloseSegmentsBelow(SegmentOf(toAddress));
        _inner.TruncateUntilAddress(toAddress);
    }

    public void TruncateUntilSegmentAsync(int toSegment, AsyncCallback callback, IAsyncResult result)
    {
        CloseSegmentsBelow(toSegment);
        _inner.TruncateUntilSegmentAsync(toSegment, callback, result);
    }

    public void TruncateUntilSegment(int toSegment)
    {
        CloseSegmentsBelow(toSegment);
        _inner.TruncateUntilSegment(toSegment);
    }

    public void RemoveSegmentAsync(int segment, AsyncCallback callback, IAsyncResult result)
    {
        CloseSegment(segment);
        _inner.RemoveSegmentAsync(segment, callback, result);
    }

    public void RemoveSegment(int segment)
    {
        CloseSegment(segment);
        _inner.RemoveSegment(segment);
    }

    public long GetFileSize(int segment) => _inner.GetFileSize(segment);

    /// <summary>EIO: what FASTER's callbacks get for a failed read or write without an errno of its own, a write refused because the device is closing, or one after FASTER's callback threw.</summary>
    private const uint Eio = 5;

    /// <summary>ENOENT: a read from a segment file that does not exist.</summary>
    private const uint Enoent = 2;

    /// <summary>The errno of a failed read or write for FASTER's callback (on Unix an IOException's HResult is the errno), never 0.</summary>
    private static uint ErrnoOf(Exception e) => e is IOException && e.HResult > 0 ? (uint)e.HResult : Eio;

    private int SegmentOf(long address) => _segmentBits < 0 ? 0 : (int)(address >> _segmentBits);

    /// <summary>The segment of a log address and the offset in its file (segments in files of their own).</summary>
    private (int Segment, long Offset) Locate(ulong address) =>
        ((int)(address >> _segmentBits), (long)(address & ((1UL << _segmentBits) - 1)));

    public void Reset()
    {
        CloseAllSegments();
        _inner.Reset();
    }

    public void Dispose()
    {
        _stopping = true;
        _wake.Set();
        _zeroer.Join(TimeSpan.FromSeconds(10));
        StopWriter();
        _inner.Dispose();

        // The two events are not disposed: a thread that outlived its 10 s join (a write stuck on a
        // stalled disk) still uses its event when it returns. Their finalizers free them once no
        // thread can reach them.
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

        if (_ahead > 0 && !_failed && end + (_ahead / 2) > Volatile.Read(ref _zeroedUntil))
        {
            _wake.Set();
        }
    }

}
