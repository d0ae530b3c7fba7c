using System.Collections.Concurrent;
using FASTER.core;
using Microsoft.Win32.SafeHandles;

namespace Tern.Spool;

/// <summary>
/// The log's writes, on a thread of their own (see the class comment in LogDevice.cs for why): FASTER
/// queues a write and is called back when it is on disk, as with its own device. Each segment file
/// is opened once for writing with O_DSYNC (FileOptions.WriteThrough, as FASTER's device opens it),
/// so a completed write is durable. Writes run one at a time in the order FASTER issued them.
/// </summary>
internal sealed partial class LogDevice
{
    private readonly ConcurrentQueue<PendingWrite> _writes = new();
    private readonly ManualResetEventSlim _writesQueued = new(false, spinCount: 0);
    private readonly Dictionary<int, SafeFileHandle> _segments = [];
    private readonly Lock _segmentsLock = new();
    private volatile bool _writerStopping;

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
            // Reset before draining: a write queued after the last dequeue sets it again.
            _writesQueued.Reset();
            while (_writes.TryDequeue(out var write))
            {
                Write(write);
            }

            if (!_writes.IsEmpty)
            {
                continue;
            }

            if (_writerStopping)
            {
                return;
            }

            _writesQueued.Wait();
        }
    }

    private unsafe void Write(PendingWrite write)
    {
        uint error = 0;
        try
        {
            RandomAccess.Write(HandleFor(write.Segment), new ReadOnlySpan<byte>((void*)write.Source, (int)write.Length), write.Offset);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            // FASTER fails the flush (and the commit covering it): the spool answers 4xx and reopens the log.
            error = e.HResult == 0 ? 1u : (uint)e.HResult;
        }

        try
        {
            write.Callback(error, error == 0 ? write.Length : 0, write.Context);
        }
        catch (Exception e) when (e is ObjectDisposedException or InvalidOperationException)
        {
            // The log was disposed while the write was queued: nobody waits for it any more.
        }
    }

    private SafeFileHandle HandleFor(int segment)
    {
        lock (_segmentsLock)
        {
            if (!_segments.TryGetValue(segment, out var handle))
            {
                handle = File.OpenHandle($"{FileName}.{segment}", FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, FileOptions.WriteThrough);
                _segments[segment] = handle;
            }

            return handle;
        }
    }

    /// <summary>FASTER removes a segment (after truncation): our handle must not keep its file alive.</summary>
    private void CloseSegment(int segment)
    {
        lock (_segmentsLock)
        {
            if (_segments.Remove(segment, out var handle))
            {
                handle.Dispose();
            }
        }
    }

    private void CloseSegmentsBelow(int segment)
    {
        lock (_segmentsLock)
        {
            foreach (var old in _segments.Keys.Where(s => s < segment).ToList())
            {
                _segments.Remove(old, out var handle);
                handle!.Dispose();
            }
        }
    }

    /// <summary>Writes what is queued, then stops the thread and closes the files.</summary>
    private void StopWriter()
    {
        _writerStopping = true;
        _writesQueued.Set();
        _writer.Join(TimeSpan.FromSeconds(10));
        lock (_segmentsLock)
        {
            foreach (var handle in _segments.Values)
            {
                handle.Dispose();
            }

            _segments.Clear();
        }
    }
}
