using System.Collections.Concurrent;
using FASTER.core;
using Microsoft.Win32.SafeHandles;

namespace Tern.Spool;

/// <summary>
/// The log's writes, on a thread of their own (see the class comment in LogDevice.cs for why): FASTER
/// queues a write and is called back when it is on disk, as with its own device. Each segment file
/// is opened once for writing with O_DSYNC (FASTER's own device uses O_SYNC, FileOptions.WriteThrough,
/// which also syncs the modification time), so a completed write is durable. Writes run one at a time in the order FASTER issued them.
/// <para>
/// A failed write fails every later one without performing it (and so do writes still queued when
/// the device is disposed): a later write that reached the disk after an earlier one failed could
/// put a commit record past a hole, and recovery would bring back messages whose senders were told
/// 4xx. The spool reopens the log on a new device after a failure.
/// </para>
/// </summary>
internal sealed partial class LogDevice
{
    private readonly ConcurrentQueue<PendingWrite> _writes = new();
    private readonly Tern.Platform.WakeEvent _writesQueued = new();
    private readonly Dictionary<int, SafeFileHandle> _segments = [];
    private readonly Lock _segmentsLock = new();
    private volatile bool _writerStopping;

    /// <summary>The error of the first failed write; every later write fails with it.</summary>
    private uint _writeError;

    private bool WriteFailed => Volatile.Read(ref _writeError) != 0;

    private readonly record struct PendingWrite(IntPtr Source, int Segment, long Offset, uint Length, DeviceIOCompletionCallback Callback, object Context);

    private void Queue(PendingWrite write)
    {
        _writes.Enqueue(write);
        _writesQueued.Set();
    }

    private void WriteLoop()
    {
        while (true)
        {
            // A write queued after the last dequeue has set the event again: the wait returns at once.
            while (_writes.TryDequeue(out var write))
            {
                Write(write);
            }

            if (_writerStopping && _writes.IsEmpty)
            {
                return;
            }

            _writesQueued.Wait();
        }
    }

    private unsafe void Write(PendingWrite write)
    {
        var error = Volatile.Read(ref _writeError);
        if (error == 0 && _writerStopping)
        {
            // Disposed with writes queued: the spool awaited its last commit before closing the log,
            // so nothing queued now is one it relies on; none is performed after the close began.
            error = Eio;
        }

        if (error == 0)
        {
            try
            {
                RandomAccess.Write(HandleFor(write.Segment), new ReadOnlySpan<byte>((void*)write.Source, (int)write.Length), write.Offset);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
            {
                // FASTER fails the flush (and the commit covering it): the spool answers 4xx and reopens
                // the log (28: no space left).
                error = ErrnoOf(e);
                Interlocked.CompareExchange(ref _writeError, error, 0);
            }
        }

        try
        {
            write.Callback(error, error == 0 ? write.Length : 0, write.Context);
        }
        catch (Exception)
        {
            // FASTER's callback threw (the log was disposed meanwhile, or a bug in it): on this thread it
            // would end the process. The device fails from here on, so the spool's commits fail (4xx)
            // and it reopens the log.
            Interlocked.CompareExchange(ref _writeError, Eio, 0);
        }
    }


    private SafeFileHandle HandleFor(int segment)
    {
        lock (_segmentsLock)
        {
            if (!_segments.TryGetValue(segment, out var handle))
            {
                // Created first if FASTER has not yet (its first write into a segment comes here), then
                // opened with O_DSYNC: durable writes without a second I/O per write for the inode's
                // modification time, which O_SYNC adds (perf: ~12 % of the write's kernel time, ext4).
                // Not none: ext4 without a journal still writes the inode's block with the first write
                // after each tick of its coarse clock (~250 a second, a third of the commits when
                // relaying); sync_file_range plus a flush-only fdatasync avoided it and relayed slower
                // (bench/README.md, session 23).
                var path = $"{FileName}.{segment}";
                File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete).Dispose();
                handle = Tern.Platform.Posix.OpenForDataSyncWrites(path);
                _segments[segment] = handle;
            }

            return handle;
        }
    }

    /// <summary>FASTER removes a segment (after truncation): our handles must not keep its file alive.</summary>
    private void CloseSegment(int segment) => CloseSegments(s => s == segment);

    private void CloseSegmentsBelow(int segment) => CloseSegments(s => s < segment);

    private void CloseAllSegments() => CloseSegments(_ => true);

    /// <summary>Closes the write and read handles of the segments chosen.</summary>
    private void CloseSegments(Func<int, bool> which)
    {
        lock (_segmentsLock)
        {
            foreach (var handles in new[] { _segments, _readers })
            {
                foreach (var segment in handles.Keys.Where(which).ToList())
                {
                    handles.Remove(segment, out var handle);
                    handle!.Dispose();
                }
            }
        }
    }

    /// <summary>Fails what is queued, stops the thread and closes the files.</summary>
    private void StopWriter()
    {
        _writerStopping = true;
        _writesQueued.Set();
        _writer.Join(TimeSpan.FromSeconds(10));
        CloseAllSegments();
    }
}
