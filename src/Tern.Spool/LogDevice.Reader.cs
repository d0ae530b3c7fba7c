using FASTER.core;
using Microsoft.Win32.SafeHandles;

namespace Tern.Spool;

/// <summary>
/// The log's reads: a pread on the calling thread, which then gets FASTER's callback before the call
/// returns. FASTER's own device runs each read as a Task.Run on the thread pool that blocks a pool thread
/// in the read and completes through its async machinery: with delivery working through a backlog (the
/// message bodies no longer in <see cref="RecentRecords"/>) that was a pool hop and ~2 % of all allocation
/// per relayed message (bench/README.md). The log's segments are in the page cache (the spool wrote them
/// moments before) or a sector away. Segment files are opened read-only once, closed with their segment.
/// </summary>
internal sealed partial class LogDevice
{
    private readonly Dictionary<int, SafeFileHandle> _readers = [];

    public void ReadAsync(int segmentId, ulong sourceAddress, IntPtr destinationAddress, uint readLength, DeviceIOCompletionCallback callback, object context)
    {
        if (_segmentBits < 0)
        {
            _inner.ReadAsync(segmentId, sourceAddress, destinationAddress, readLength, callback, context);
            return;
        }

        Read(segmentId, (long)sourceAddress, destinationAddress, readLength, callback, context);
    }

    public void ReadAsync(ulong alignedSourceAddress, IntPtr alignedDestinationAddress, uint aligned_read_length, DeviceIOCompletionCallback callback, object context)
    {
        if (_segmentBits < 0)
        {
            _inner.ReadAsync(alignedSourceAddress, alignedDestinationAddress, aligned_read_length, callback, context);
            return;
        }

        var (segment, offset) = Locate(alignedSourceAddress);
        Read(segment, offset, alignedDestinationAddress, aligned_read_length, callback, context);
    }

    private unsafe void Read(int segment, long offset, IntPtr destination, uint length, DeviceIOCompletionCallback callback, object context)
    {
        uint error = 0;
        var read = 0;
        try
        {
            read = RandomAccess.Read(ReaderFor(segment), new Span<byte>((void*)destination, (int)length), offset);
        }
        catch (FileNotFoundException)
        {
            error = Enoent;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            // FASTER fails the read (FasterLog.ReadAsync throws, an index read reports an error): the spool
            // treats it as an I/O error.
            error = ErrnoOf(e);
        }

        // Past the end of the file a read returns fewer bytes, as FASTER's own device reports them.
        callback(error, (uint)read, context);
    }

    private SafeFileHandle ReaderFor(int segment)
    {
        lock (_segmentsLock)
        {
            // After the close nothing opens a file again (it would stay open until finalized).
            ObjectDisposedException.ThrowIf(_writerStopping, this);
            if (!_readers.TryGetValue(segment, out var handle))
            {
                handle = File.OpenHandle($"{FileName}.{segment}", FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                _readers[segment] = handle;
            }

            return handle;
        }
    }
}
