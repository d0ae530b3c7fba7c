using System.Collections.Concurrent;
using FASTER.core;
using IndexSession = FASTER.core.ClientSession<FASTER.core.SpanByte, FASTER.core.SpanByte, FASTER.core.SpanByte, FASTER.core.SpanByteAndMemory, FASTER.core.Empty, FASTER.core.IFunctions<FASTER.core.SpanByte, FASTER.core.SpanByte, FASTER.core.SpanByte, FASTER.core.SpanByteAndMemory, FASTER.core.Empty>>;

namespace Tern.Spool.Queue;

/// <summary>
/// The queue index: a FasterKV&lt;SpanByte, SpanByte&gt; from message id (16 bytes) to its queue
/// entry (<see cref="QueueEntryFormat"/>). It is a materialised view of the log, written only by the
/// spool's applier, checkpointed with the log address it covers; a lost or unreadable index is
/// rebuilt from the log. Entries beyond the in-memory part live in index.log and are read from disk.
/// FASTER sessions are single-threaded, so readers borrow one from a pool.
/// </summary>
internal sealed class QueueIndex : IDisposable
{
    /// <summary>Keys of the index's own metadata: ids with a zero timestamp never name a message.</summary>
    public static readonly MessageId PositionKey = new(0, 1);

    public static readonly MessageId RulesKey = new(0, 2);

    private readonly FasterKV<SpanByte, SpanByte> _kv;
    private readonly IDevice _device;
    private readonly ConcurrentBag<IndexSession> _sessions = [];
    private readonly ConcurrentBag<IndexSession> _copying = [];

    private QueueIndex(string directory, FasterKV<SpanByte, SpanByte> kv, IDevice device)
    {
        Directory = directory;
        _kv = kv;
        _device = device;
    }

    public string Directory { get; }

    /// <summary>The page size of the index's log (bits): one entry must fit in a page.</summary>
    public int PageSizeBits { get; private init; }

    /// <summary>The hash table's buckets (64 bytes each): the count the index was created with.</summary>
    public long Buckets { get; private init; }

    /// <summary>The file that records the page size an index was created with.</summary>
    private const string PageBitsFile = "index.page-bits";

    /// <summary>Before the page size was recorded, indexes were created with 4 MiB pages.</summary>
    private const int LegacyPageBits = 22;

    /// <summary>The file that records the hash table's bucket count an index was created with.</summary>
    private const string BucketsFile = "index.buckets";

    /// <summary>Before the bucket count was recorded, indexes were created with 2^18 buckets (16 MiB).</summary>
    private const long LegacyBuckets = 1L << 18;

    /// <summary>
    /// The page size of the index in <paramref name="directory"/>: FASTER's log addresses do not
    /// depend on it but its records must not cross a page, so an index is read with the page size it
    /// was written with, whatever the options say now. A new index records the wanted one.
    /// </summary>
    private static int PageBitsOf(string directory, int wanted) =>
        (int)Recorded(directory, PageBitsFile, wanted, LegacyPageBits, v => v is >= 12 and <= 30, "a page size in bits (12-30)");

    /// <summary>
    /// The hash table's bucket count of the index in <paramref name="directory"/>: its checkpoints hold a
    /// table of that size, so an index keeps the count it was created with; a new index records the wanted one.
    /// </summary>
    private static long BucketsOf(string directory, long wanted) =>
        Recorded(directory, BucketsFile, wanted, LegacyBuckets, ValidBuckets, BucketsWhat);

    /// <summary>
    /// The hash table's bucket count that the index in <paramref name="directory"/> has, or will be created with;
    /// nothing is written. <paramref name="wanted"/> when the recorded count cannot be read (the index is then
    /// rebuilt with it). For what must be sized before the index opens (the spool's free-space reserve).
    /// </summary>
    internal static long BucketsFor(string directory, long wanted)
    {
        try
        {
            return Peek(directory, BucketsFile, wanted, LegacyBuckets, ValidBuckets, BucketsWhat).Value;
        }
        catch (SpoolException)
        {
            return wanted;
        }
    }

    private static bool ValidBuckets(long v) => long.IsPow2(v) && v is >= 1L << 10 and <= 1L << 30;

    private const string BucketsWhat = "a bucket count (a power of two from 1024 to 2^30)";

    /// <summary>
    /// A setting fixed when an index is created, kept in <paramref name="name"/>: read from it, else (no such
    /// file yet) the legacy value for an index that exists already or <paramref name="wanted"/> for a new one,
    /// which is then recorded (written and synced before the index is created).
    /// </summary>
    private static long Recorded(string directory, string name, long wanted, long legacy, Func<long, bool> valid, string what)
    {
        var (now, recorded) = Peek(directory, name, wanted, legacy, valid, what);
        if (recorded)
        {
            return now;
        }

        var file = Path.Combine(directory, name);
        var temp = file + ".tmp";
        using (var f = new FileStream(temp, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }))
        {
            f.Write(System.Text.Encoding.ASCII.GetBytes(now.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\n"));
            f.Flush(flushToDisk: true);
        }

        File.Move(temp, file, overwrite: true);
        Tern.Platform.Posix.FsyncDirectory(directory);
        return now;
    }

    /// <summary>The setting in <paramref name="name"/> and whether it is recorded there (see <see cref="Recorded"/>); writes nothing.</summary>
    private static (long Value, bool Recorded) Peek(string directory, string name, long wanted, long legacy, Func<long, bool> valid, string what)
    {
        var file = Path.Combine(directory, name);
        if (File.Exists(file))
        {
            var text = File.ReadAllText(file).Trim();
            return long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value) && valid(value)
                ? (value, true)
                : throw new SpoolException($"{file}: '{text}' is not {what}; the index cannot be read without it");
        }

        var existing = System.IO.Directory.Exists(directory)
            && (System.IO.Directory.EnumerateFiles(directory, "index.log*").Any()
                || (System.IO.Directory.Exists(Path.Combine(directory, "checkpoints")) && System.IO.Directory.EnumerateFileSystemEntries(Path.Combine(directory, "checkpoints")).Any()));
        return (existing ? legacy : wanted, false);
    }

    /// <summary>Bytes of the index's log (in memory and on disk).</summary>
    public long LogBytes => _kv.Log.TailAddress - _kv.Log.BeginAddress;

    /// <summary>Where the in-memory part of the index's log begins: entries below it are read from disk (for tests).</summary>
    internal long InMemoryFrom => _kv.Log.HeadAddress;

    /// <summary>Opens the index in <paramref name="directory"/>, recovering its latest checkpoint if there is one.</summary>
    public static QueueIndex Open(string directory, SpoolOptions options)
    {
        System.IO.Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var pageBits = PageBitsOf(directory, options.IndexPageSizeBits);
        var buckets = BucketsOf(directory, options.IndexBuckets);
        var device = Devices.CreateLogDevice(Path.Combine(directory, "index.log"), preallocateFile: false, deleteOnClose: false, recoverDevice: true);
        try
        {
            var kv = new FasterKV<SpanByte, SpanByte>(
                buckets,
                new LogSettings
                {
                    LogDevice = device,
                    PageSizeBits = pageBits,
                    MemorySizeBits = Math.Max(options.IndexMemorySizeBits, pageBits + 1),
                    SegmentSizeBits = options.IndexSegmentSizeBits,
                    PreallocateLog = options.PreallocateIndex,
                    MutableFraction = options.IndexMutableFraction,
                },
                new CheckpointSettings
                {
                    CheckpointDir = Path.Combine(directory, "checkpoints"),
                    RemoveOutdated = true,
                    ThrottleCheckpointFlushDelayMs = options.CheckpointThrottleMilliseconds,
                },
                tryRecoverLatest: true);
            return new QueueIndex(directory, kv, device) { PageSizeBits = pageBits, Buckets = buckets };
        }
        catch
        {
            device.Dispose();
            throw;
        }
    }

    public void Upsert(MessageId id, ReadOnlySpan<byte> value)
    {
        Span<byte> key = stackalloc byte[16];
        id.WriteTo(key);
        IndexSession? s = Rent();
        try
        {
            s.Upsert(key, value);
        }
        catch
        {
            // FASTER may still hold a pending operation of this session: never hand it out again.
            Discard(ref s);
            throw;
        }
        finally
        {
            Return(s);
        }
    }

    public void Delete(MessageId id)
    {
        Span<byte> key = stackalloc byte[16];
        id.WriteTo(key);
        IndexSession? s = Rent();
        try
        {
            var k = SpanByte.FromFixedSpan(key);
            s.Delete(ref k);
        }
        catch
        {
            // FASTER may still hold a pending operation of this session: never hand it out again.
            Discard(ref s);
            throw;
        }
        finally
        {
            Return(s);
        }
    }

    /// <summary>Reads an entry into a buffer from the pool (the caller returns it); null when absent.</summary>
    public byte[]? Read(MessageId id, out int length)
    {
        Span<byte> key = stackalloc byte[16];
        id.WriteTo(key);
        IndexSession? s = Rent();
        try
        {
            var output = default(SpanByteAndMemory);
            var status = Read(s, key, ref output);
            return status.Found ? Copy(ref output, out length) : Absent(ref output, out length);
        }
        catch
        {
            // FASTER may still hold a pending operation of this session: never hand it out again.
            Discard(ref s);
            throw;
        }
        finally
        {
            Return(s);
        }
    }

    /// <summary>
    /// The state byte of an entry (null when absent). The value is read into a buffer on the stack,
    /// so reading an entry of up to 2 KiB (most are) allocates nothing.
    /// </summary>
    public MessageState? ReadState(MessageId id)
    {
        Span<byte> scratch = stackalloc byte[2048];
        if (!TryRead(id, scratch, out var length, out var rented))
        {
            return null;
        }

        var value = rented is null ? scratch[..length] : rented.AsSpan(0, length);
        var state = value.Length > QueueEntryFormat.StateOffset ? (MessageState?)value[QueueEntryFormat.StateOffset] : null;
        if (rented is not null)
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        }

        return state;
    }

    /// <summary>
    /// Reads an entry into <paramref name="scratch"/> when it fits (nothing is allocated), else into
    /// an array from the pool (<paramref name="rented"/>, which the caller returns). False when absent.
    /// </summary>
    public unsafe bool TryRead(MessageId id, Span<byte> scratch, out int length, out byte[]? rented)
    {
        Span<byte> key = stackalloc byte[16];
        id.WriteTo(key);
        IndexSession? s = Rent();
        try
        {
            fixed (byte* buffer = scratch)
            {
                var output = new SpanByteAndMemory(new SpanByte(scratch.Length, (nint)buffer));
                var status = Read(s, key, ref output);

                if (output.IsSpanByte)
                {
                    rented = null;
                    length = status.Found ? output.Length : 0;
                    return status.Found;
                }

                if (status.Found)
                {
                    rented = Copy(ref output, out length);
                    return true;
                }

                rented = Absent(ref output, out length);
                return false;
            }
        }
        catch
        {
            // FASTER may still hold a pending operation of this session: never hand it out again.
            Discard(ref s);
            throw;
        }
        finally
        {
            Return(s);
        }
    }

    /// <summary>
    /// Calls <paramref name="visit"/> for every live entry (metadata keys excluded). FASTER's own
    /// iterators return stale versions of SpanByte records in the read-only region with damaged keys
    /// (seen with 2.6.5), so the log is scanned twice instead: the first pass finds the latest
    /// version of each key (a delete leaves a tombstone as the latest), the second visits those.
    /// </summary>
    public void ForEach(EntryVisitor visit)
    {
        var latest = new Dictionary<MessageId, long>();
        List<MessageId>? torn = null;
        var log = _kv.Log;
        var end = log.TailAddress;
        using (var it = log.Scan(log.BeginAddress, end))
        {
            while (it.GetNext(out var info))
            {
                if (!info.Invalid && Id(ref it.GetKey()) is { } id)
                {
                    // A tombstone is recorded as a negative address: the key is deleted.
                    latest[id] = info.Tombstone ? -1 : it.CurrentAddress;
                }
            }
        }

        using (var it = log.Scan(log.BeginAddress, end))
        {
            while (it.GetNext(out var info))
            {
                if (!info.Invalid && !info.Tombstone && Id(ref it.GetKey()) is { } id && latest.TryGetValue(id, out var at) && at == it.CurrentAddress)
                {
                    try
                    {
                        visit(id, it.GetValue().AsReadOnlySpan());
                    }
                    catch (Exception e) when (e is FormatException or ArgumentOutOfRangeException or IndexOutOfRangeException)
                    {
                        // The scan reads values in place, and the applier may be rewriting this one in
                        // place right now (a torn read): it is read again after the scan, through a
                        // session, which copies it.
                        (torn ??= []).Add(id);
                    }
                }
            }
        }

        foreach (var id in torn ?? [])
        {
            if (Read(id, out var n) is { } copy)
            {
                try
                {
                    visit(id, copy.AsSpan(0, n));
                }
                finally
                {
                    System.Buffers.ArrayPool<byte>.Shared.Return(copy);
                }
            }
        }
    }

    private static MessageId? Id(ref SpanByte key)
    {
        var k = key.AsReadOnlySpan();
        return k.Length == 16 && MessageId.Read(k) is { High: not 0 } id ? id : null;
    }

    /// <summary>
    /// Takes a checkpoint (fold-over: what is in memory is flushed to index.log). A full one also
    /// writes the hash table (16 MiB at the default size); the others only the log since the last,
    /// which recovery applies on top of the latest full one.
    /// </summary>
    public async Task CheckpointAsync(bool full = true)
    {
        var (ok, _) = full
            ? await _kv.TakeFullCheckpointAsync(CheckpointType.FoldOver).ConfigureAwait(false)
            : await _kv.TakeHybridLogCheckpointAsync(CheckpointType.FoldOver).ConfigureAwait(false);
        if (!ok)
        {
            throw new SpoolException($"index {Directory}: checkpoint refused (another one is running)");
        }
    }

    /// <summary>
    /// Copies the live records of the older part of the index's log to its tail and lets the next
    /// checkpoint drop that part from disk, so the file is bounded by live entries, not history.
    /// </summary>
    public void Compact()
    {
        var log = _kv.Log;
        var until = log.BeginAddress + ((log.SafeReadOnlyAddress - log.BeginAddress) / 2);
        if (until <= log.BeginAddress)
        {
            return;
        }

        IndexSession? s = Rent();
        try
        {
            s.Compact(until, CompactionType.Lookup);
        }
        catch
        {
            // FASTER may still hold a pending operation of this session: never hand it out again.
            Discard(ref s);
            throw;
        }
        finally
        {
            Return(s);
        }
    }

    /// <summary>fsyncs every directory under the checkpoint directory and the index directory itself.</summary>
    public void SyncCheckpointDirectories()
    {
        var root = Path.Combine(Directory, "checkpoints");
        foreach (var dir in System.IO.Directory.EnumerateDirectories(root, "*", SearchOption.AllDirectories))
        {
            Tern.Platform.Posix.FsyncDirectory(dir);
        }

        Tern.Platform.Posix.FsyncDirectory(root);
        Tern.Platform.Posix.FsyncDirectory(Directory);
    }

    public void Dispose()
    {
        foreach (var pool in new[] { _sessions, _copying })
        {
            while (pool.TryTake(out var s))
            {
                s.Dispose();
            }
        }

        _kv.Dispose();
        _device.Dispose();
    }

    /// <summary>
    /// Reads the value of <paramref name="key"/> into <paramref name="output"/> through session
    /// <paramref name="s"/>, waiting for the read when it goes to disk (pending).
    /// </summary>
    /// <remarks>
    /// A read goes to disk when the queue has outgrown the index's in-memory part. FASTER's own wait
    /// (<c>CompletePending(wait: true)</c>) spins while the device read runs on another pool thread:
    /// SemaphoreSlim's 140 spins with Thread.Yield, then a Thread.Yield loop. With a backlog of 60,000
    /// messages on two cores that spinning took ~9 % of the CPU in sched_yield alone, and delivery ran
    /// at half the rate it reached with the index in memory (bench/README.md, "Delivery from a backlog"). Waiting on
    /// the asynchronous completion blocks after a short spin, and tells the thread pool that this
    /// thread is blocked, so the pool can run the device read meanwhile.
    /// </remarks>
    private static Status Read(IndexSession s, Span<byte> key, ref SpanByteAndMemory output)
    {
        var input = default(SpanByte);
        var status = s.Read(key, ref input, ref output);
        if (status.IsPending)
        {
            var pending = s.CompletePendingWithOutputsAsync();
            status = Completed(pending.IsCompleted ? pending.Result : pending.AsTask().GetAwaiter().GetResult(), ref output);
        }

        return status;
    }

    /// <summary>
    /// As <see cref="Read(MessageId, out int)"/>, for callers that can wait: an entry in memory is read
    /// at once, one on disk without holding a thread while the device reads it.
    /// </summary>
    public ValueTask<(byte[]? Value, int Length)> ReadAsync(MessageId id)
    {
        Span<byte> key = stackalloc byte[16];
        id.WriteTo(key);
        // From the sessions that copy a record read from disk to the log's tail: the delivery reads the
        // entry again moments later (its next attempt, then its result), and finds it in memory then.
        // Only here: bulk reads (the due scan, queue commands, compaction) would fill the index's
        // memory and log with copies.
        var s = Rent(_copying, CopyReadsFromDisk);
        var output = default(SpanByteAndMemory);
        Status status;
        try
        {
            var input = default(SpanByte);
            status = s.Read(key, ref input, ref output);
        }
        catch
        {
            s.Dispose();
            throw;
        }

        if (status.IsPending)
        {
            return CompleteReadAsync(s);
        }

        Return(s, _copying);
        var value = status.Found ? Copy(ref output, out var length) : Absent(ref output, out length);
        return new((value, length));
    }

    private async ValueTask<(byte[]? Value, int Length)> CompleteReadAsync(IndexSession s)
    {
        SpanByteAndMemory output = default;
        Status status;
        try
        {
            status = Completed(await s.CompletePendingWithOutputsAsync().ConfigureAwait(false), ref output);
        }
        catch
        {
            s.Dispose();
            throw;
        }

        Return(s, _copying);

        var value = status.Found ? Copy(ref output, out var length) : Absent(ref output, out length);
        return (value, length);
    }

    /// <summary>The status and output of the one pending read that <paramref name="completed"/> holds.</summary>
    private static Status Completed(CompletedOutputIterator<SpanByte, SpanByte, SpanByte, SpanByteAndMemory, Empty> completed, ref SpanByteAndMemory output)
    {
        var status = default(Status);
        using (completed)
        {
            while (completed.Next())
            {
                status = completed.Current.Status;
                output = completed.Current.Output;
            }
        }

        return status;
    }

    private static byte[] Copy(ref SpanByteAndMemory output, out int length)
    {
        using var owner = output.Memory;
        length = output.Length;
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(length);
        owner.Memory.Span[..length].CopyTo(buffer);
        return buffer;
    }

    private static byte[]? Absent(ref SpanByteAndMemory output, out int length)
    {
        output.Memory?.Dispose();
        length = 0;
        return null;
    }

    /// <summary>Sessions of <see cref="ReadAsync"/>: a record read from disk is copied to the tail of the index's log.</summary>
    private static readonly ReadCopyOptions CopyReadsFromDisk = new(ReadCopyFrom.Device, ReadCopyTo.MainLog);

    private IndexSession Rent() => Rent(_sessions, default);

    private IndexSession Rent(ConcurrentBag<IndexSession> pool, ReadCopyOptions copy) =>
        pool.TryTake(out var s) ? s : _kv.NewSession<SpanByte, SpanByteAndMemory, Empty>(new SpanByteFunctions<Empty>(), readCopyOptions: copy);

    /// <summary>Back to the pool; nothing when the session was discarded.</summary>
    private void Return(IndexSession? s) => Return(s, _sessions);

    private static void Return(IndexSession? s, ConcurrentBag<IndexSession> pool)
    {
        if (s is not null)
        {
            pool.Add(s);
        }
    }

    /// <summary>A session whose operation failed is disposed, not reused: FASTER may still hold its pending read.</summary>
    private static void Discard(ref IndexSession? s)
    {
        s?.Dispose();
        s = null;
    }
}

/// <summary>Visits one entry of the index: its id and its bytes (valid only during the call).</summary>
internal delegate void EntryVisitor(MessageId id, ReadOnlySpan<byte> value);
