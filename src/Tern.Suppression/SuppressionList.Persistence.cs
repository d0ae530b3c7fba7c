using System.Text;
using Microsoft.Win32.SafeHandles;
using Tern.Platform;

namespace Tern.Suppression;

/// <summary>
/// The journal on disk: lines appended and fsynced by one flusher for a group of changes (group
/// commit), and compaction, which rewrites the journal with the live state (temporary file, fsync,
/// rename, directory fsync).
/// </summary>
public sealed partial class SuppressionList
{
    /// <summary>Rewrites the journal with only what it describes now. Normally automatic (see the remarks).</summary>
    /// <exception cref="SuppressionStoreException">The new journal cannot be written (the old one stays in use).</exception>
    public void Compact()
    {
        EnterFlush(long.MaxValue);
        try
        {
            ThrowIfDisposed();
            CompactLocked();
        }
        finally
        {
            ExitFlush();
        }
    }

    /// <summary>Queues one line for the journal (under <see cref="_write"/>); durable only after <see cref="Commit"/>.</summary>
    private void Append(string line)
    {
        var bytes = Encoding.UTF8.GetBytes(line + "\n");
        _pending.Write(bytes);
        _appended++;
    }

    /// <summary>
    /// Returns once change number <paramref name="appended"/> is on disk. Whoever gets here first
    /// writes every pending line and fsyncs once for all of them, so concurrent changes share the
    /// fsync (group commit); nobody waits for the disk while holding <see cref="_write"/>.
    /// </summary>
    /// <exception cref="SuppressionStoreException">The journal cannot be written.</exception>
    private void Commit(long appended)
    {
        if (!EnterFlush(appended))
        {
            return;
        }

        try
        {
            ThrowIfDisposed();
            WritePending();
            if (NeedsCompaction())
            {
                try
                {
                    CompactLocked();
                }
                catch (SuppressionStoreException e)
                {
                    // The old journal is intact and stays in use; the next change tries again.
                    CompactionFailed(_log, FilePath, e.Message);
                }
            }
        }
        finally
        {
            ExitFlush();
        }
    }

    /// <summary>
    /// Becomes the flusher, or returns false as soon as change number <paramref name="appended"/>
    /// is durable (another flusher wrote it). Waiting threads are all woken when a flusher is done,
    /// so a whole group returns at once instead of taking a lock one after the other.
    /// </summary>
    private bool EnterFlush(long appended)
    {
        lock (_flushSync)
        {
            while (true)
            {
                if (_durable >= appended)
                {
                    return false;
                }

                if (!_flushing)
                {
                    _flushing = true;
                    return true;
                }

                Monitor.Wait(_flushSync);
            }
        }
    }

    private void ExitFlush()
    {
        lock (_flushSync)
        {
            _flushing = false;
            Monitor.PulseAll(_flushSync);
        }
    }

    /// <summary>Writes the pending lines and fsyncs (by the flusher).</summary>
    private void WritePending()
    {
        byte[] bytes;
        long target;
        lock (_write)
        {
            target = _appended;
            if (target == _durable)
            {
                return;
            }

            bytes = _pending.ToArray();
            _pending.SetLength(0);
        }

        try
        {
            if (_tornWrite)
            {
                RandomAccess.SetLength(_journal, _length);
                _tornWrite = false;
            }

            RandomAccess.Write(_journal, bytes, _length);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Part of the lines may be in the file: cut it before anything goes after it, and
            // keep the lines for the next attempt (the changes are made in memory already).
            _tornWrite = true;
            Requeue(bytes);

            throw new SuppressionStoreException($"suppression list {FilePath}: cannot write: {e.Message}", e);
        }

        Volatile.Write(ref _length, _length + bytes.Length);
        try
        {
            RandomAccess.FlushToDisk(_journal);
            Flushes++;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SuppressionStoreException($"suppression list {FilePath}: cannot flush to disk: {e.Message}", e);
        }

        lock (_flushSync)
        {
            _durable = target;
        }
    }

    /// <summary>Puts lines that could not be written back in front of those queued since.</summary>
    private void Requeue(byte[] lines)
    {
        lock (_write)
        {
            var later = _pending.ToArray();
            _pending.SetLength(0);
            _pending.Write(lines);
            _pending.Write(later);
        }
    }

    /// <summary>Whether the journal is past twice its live size (by the flusher).</summary>
    private bool NeedsCompaction()
    {
        long live;
        lock (_write)
        {
            live = _liveBytes;
        }

        return _length > CompactionMinBytes && _length > 2 * live;
    }

    /// <summary>
    /// Writes the live state to a temporary file, fsyncs it, renames it over the journal, fsyncs the
    /// directory (by the flusher; <see cref="_write"/> only while the state is copied,
    /// so changes go on meanwhile).
    /// </summary>
    private void CompactLocked()
    {
        var before = _length;
        byte[] bytes;
        byte[] pending;
        long target;
        lock (_write)
        {
            // The state includes every change made so far, so the pending lines are in it too.
            var text = new StringBuilder();
            text.Append(Journal.Header).Append('\n');
            foreach (var entry in _entries.Values.OrderBy(e => e.Address, AddressComparer.Instance))
            {
                text.Append(Journal.AddLine(entry)).Append('\n');
            }

            foreach (var counter in _counterOrder)
            {
                text.Append(Journal.CountLine(counter.Address, counter.Count)).Append('\n');
            }

            bytes = Encoding.UTF8.GetBytes(text.ToString());
            target = _appended;
            pending = _pending.ToArray();
            _pending.SetLength(0);
        }

        // Changes made from here on queue their lines for the new file.
        try
        {
            WriteDurably(_tempPath, bytes);
            File.Move(_tempPath, FilePath, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The old journal is untouched and stays in use; the lines taken are written first.
            Requeue(pending);
            TryDelete(_tempPath);
            throw new SuppressionStoreException($"suppression list {FilePath}: cannot compact: {e.Message}", e);
        }

        // From here on the new file is the journal: appends must go to it.
        SafeFileHandle fresh;
        try
        {
            fresh = File.OpenHandle(FilePath, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Appending to the old handle would write into the replaced file: refuse changes.
            lock (_write)
            {
                _disposed = true;
            }

            _journal.Dispose();
            throw new SuppressionStoreException($"suppression list {FilePath}: cannot reopen after compaction, no further changes possible until restart: {e.Message}", e);
        }

        _journal.Dispose();
        _journal = fresh;
        Volatile.Write(ref _length, bytes.Length);
        _tornWrite = false;

        // Everything changed up to the copy is in the new file, on disk.
        lock (_flushSync)
        {
            _durable = Math.Max(_durable, target);
        }

        Compactions++;
        Compacted(_log, FilePath, before, _length);

        // Until the directory is on disk a power loss may bring the old file back (which holds
        // everything that had returned before the compaction).
        try
        {
            Posix.FsyncDirectory(_directory);
        }
        catch (IOException e)
        {
            throw new SuppressionStoreException($"suppression list {FilePath}: compacted, but the directory could not be flushed to disk: {e.Message}", e);
        }
    }

    private static void CreateEmpty(string path)
    {
        var temp = path + ".tmp";
        WriteDurably(temp, Encoding.UTF8.GetBytes(Journal.Header + "\n"));
        File.Move(temp, path, overwrite: true);
        Posix.FsyncDirectory(Path.GetDirectoryName(path)!);
    }

    /// <summary>Creates (or truncates) a file of mode 0600 with these bytes, flushed to disk.</summary>
    private static void WriteDurably(string path, byte[] bytes)
    {
        var options = new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            Share = FileShare.None,
            BufferSize = 0,
            UnixCreateMode = PrivateFile,
        };
        using var file = new FileStream(path, options);
        file.Write(bytes);
        file.Flush(flushToDisk: true);
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A leftover temporary file is replaced by the next compaction.
        }
    }
}
