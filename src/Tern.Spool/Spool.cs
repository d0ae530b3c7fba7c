using System.Buffers;
using System.Collections.Concurrent;
using Tern.Spool.Queue;
using System.Diagnostics;
using FASTER.core;
using Microsoft.Extensions.Logging;
using Tern.Observability.Logging;
using Tern.Observability.Metrics;
using ZstdSharp;

namespace Tern.Spool;

/// <summary>
/// The durable spool: a FasterLog write-ahead log and the queue index built from it. Accepting a
/// message appends its records and waits for the commit that covers them; one commit covers every
/// record appended before it, so concurrent messages share one disk sync (group commit). Every
/// later change of a message is a record too; the applier folds the committed records into the
/// queue index (FasterKV), which is checkpointed, so a start recovers the index from its last
/// checkpoint and replays only the log after it.
/// </summary>
public sealed partial class Spool : IAsyncDisposable
{
    /// <summary>How long the spool waits after a failure before reopening its log.</summary>
    private static readonly TimeSpan ReopenDelay = TimeSpan.FromSeconds(2);

    /// <summary>Appends take it shared; replacing the log instance takes it exclusively.</summary>
    private readonly ReaderWriterLockSlim _gate = new();
    private volatile LogInstance _current;
    private readonly QueueIndex _index;
    private readonly ConcurrentQueue<SpoolWriter> _pool = new();
    /// <summary>Set by writers that appended and want a commit; the commit loop waits on it.</summary>
    private readonly AsyncSignal _commitRequested = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _commitLoop;
    private readonly Task _checkpointTimer;
    private readonly Task _compactor;
    private readonly SemaphoreSlim _compactRequested = new(0);

    /// <summary>Writers waiting for a commit; the commit loop completes them (see <see cref="CommitWaiter"/>).</summary>
    private readonly List<CommitWaiter> _waiters = [];

    /// <summary>Work items that resume the writers of a commit, for reuse (see <see cref="CommitCompletions"/>).</summary>
    private readonly System.Collections.Concurrent.ConcurrentQueue<CommitCompletions> _spareCompletions = new();
    private bool _closed;

    /// <summary>First body-chunk address of messages whose record is not indexed yet (see <see cref="PinInFlight"/>).</summary>
    private readonly ConcurrentDictionary<MessageId, long> _inFlight = new();
    private readonly ILogger _log2;
    private readonly ICounter _panics;
    private readonly TimeProvider _clock;

    /// <summary>Zstd decompression contexts for reuse (see <see cref="Unwrap"/>); at most one per concurrent read.</summary>
    private readonly ConcurrentQueue<Decompressor> _decompressors = new();

    /// <summary>The last message records appended, for their first read (see <see cref="RecentRecords"/>).</summary>
    private readonly RecentRecords _recent = new();

    /// <summary>Ids in arrival order (see <see cref="MessageIdGenerator"/>).</summary>
    private readonly MessageIdGenerator _ids;
    private readonly SpaceReserve _reserve;

    /// <summary>
    /// Messages refused because the commit covering their record failed (their writers answered 4xx).
    /// The failed commit may still have put their records on the disk, so the reopened log can recover
    /// them: the applier skips their Message records, and each reopen writes their Abandoned records
    /// into the new log (so a restart drops them too). An id leaves once its Abandoned record is applied.
    /// </summary>
    private readonly ConcurrentDictionary<MessageId, byte> _refused = new();
    private long _appendedSinceCommit;
    private long _preparedSegment = -1;

    private Spool(SpoolOptions options, LogInstance instance, QueueIndex index, SpaceReserve reserve, ILogger logger, IMetrics metrics, TimeProvider clock)
    {
        Options = options;
        _current = instance;
        _index = index;
        _log2 = logger;
        _clock = clock;
        _ids = new MessageIdGenerator(clock);
        Metrics = new SpoolMetrics(metrics);
        _reserve = reserve;
        _panics = Panics.For(metrics, LogComponents.Spool);
        Metrics.MinFreeBytes.Set(_reserve.MinFree);
        metrics.OnCollect(() =>
        {
            Metrics.Messages.Set(Interlocked.Read(ref _queued));
            if (FreeBytes is { } free)
            {
                Metrics.FreeBytes.Set(free);
            }

            Metrics.IndexBytes.Set(_index.LogBytes);
            var log = _current.Log;
            Metrics.LogBytes.Set(log.TailAddress - log.BeginAddress);
        });
        _commitLoop = Task.Run(CommitLoopAsync);
        _checkpointTimer = Task.Run(CheckpointTimerAsync);
        _compactor = Task.Run(CompactLoopAsync);
        Queue = new QueueOperations(this);
    }

    public SpoolOptions Options { get; }

    /// <summary>Queued messages (not yet finished).</summary>
    public int Count => (int)Interlocked.Read(ref _queued);

    /// <summary>Queued messages that are held (a counter kept by the applier, no scan).</summary>
    public int Held => (int)Interlocked.Read(ref _held);

    /// <summary>
    /// Arrival of the oldest queued message, null when the queue is empty or not surveyed yet. Kept
    /// without scanning: exact when a message arrives in an empty queue, refreshed by every full pass
    /// over the index (the periodic survey at a checkpoint, at most every few minutes, and the delivery
    /// scheduler's start scan); when the oldest message leaves, the value stays until the next pass
    /// (too old by at most that interval).
    /// </summary>
    public DateTimeOffset? OldestQueued =>
        Interlocked.Read(ref _queued) > 0 && Volatile.Read(ref _oldestMs) is var ms and > 0 ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;

    /// <summary>Queue operations (list, show, hold, ...) on this spool.</summary>
    public IQueueOperations Queue { get; }

    /// <summary>The hold rules and global pause in force.</summary>
    internal HoldRuleSet Rules => _rules;

    internal QueueIndex Index => _index;

    /// <summary>
    /// True after a commit failed (disk full, I/O error) until one succeeds again. Meanwhile the
    /// spool reopens its log every few seconds (recovering to the last good commit), so it comes
    /// back by itself once space returns.
    /// </summary>
    public bool Failing { get; private set; }

    /// <summary>Free bytes on the spool's file system (read at most once a second); null when unknown.</summary>
    public long? FreeBytes => _reserve.Free is var free && free != long.MaxValue ? free : null;

    /// <summary>
    /// The reserve in force: <see cref="SpoolOptions.MinFreeBytes"/>, raised (with a log line) to what
    /// one full checkpoint needs. The log is truncated only after a checkpoint, and checkpoints are
    /// postponed without room for them (<see cref="RoomForCheckpoint"/>): with a smaller reserve the
    /// disk could fill with delivered mail that is never freed. 0 stays 0 (no reserve: the operator
    /// accepts that a full disk fails commits, and that checkpoints may then wait for space).
    /// </summary>
    private static long EffectiveMinFree(SpoolOptions options, ILogger logger)
    {
        var checkpoint = CheckpointRoom(options, full: true);
        if (options.MinFreeBytes <= 0 || options.MinFreeBytes >= checkpoint)
        {
            return Math.Max(0, options.MinFreeBytes);
        }

        MinFreeRaised(logger, options.Directory, options.MinFreeBytes, checkpoint);
        return checkpoint;
    }

    /// <summary>Free space a checkpoint of the index needs: its in-memory log (the fold-over) with a margin, and for a full one the hash table.</summary>
    internal static long CheckpointRoom(SpoolOptions options, bool full) =>
        (1L << options.IndexMemorySizeBits) + (4L << 20) + (full ? options.IndexBuckets * 64 : 0);

    [LoggerMessage(Level = LogLevel.Warning, Message = "spool min_free is too small for an index checkpoint (without one the log is never truncated): raised {directory} {configured} {min_free}")]
    private static partial void MinFreeRaised(ILogger log, string directory, long configured, long min_free);

    /// <summary>The free-space reserve in force (<see cref="SpoolOptions.MinFreeBytes"/>, at least one checkpoint's room).</summary>
    public long MinFreeBytes => _reserve.MinFree;

    /// <summary>Free space is below the reserve: new messages are refused until it is back.</summary>
    public bool BelowReserve => _reserve.Low;

    /// <summary>
    /// Whether a new message may start now (the server asks at MAIL; false: 452 4.3.1): free space
    /// is above <see cref="SpoolOptions.MinFreeBytes"/>, with room for <paramref name="declaredSize"/>
    /// (SIZE=, negative when not declared) beyond it. Cheap: no syscall but once a second. A refusal
    /// is counted (tern_spool_refusals_total).
    /// </summary>
    public bool HasRoom(long declaredSize = -1)
    {
        if (_reserve.HasRoom(declaredSize, out var sizeRefused))
        {
            return true;
        }

        (sizeRefused ? Metrics.RefusedSize : Metrics.RefusedMinFree).Inc();
        return false;
    }

    /// <summary>The queued messages, oldest first (a scan of the index: for tests and tools).</summary>
    public IReadOnlyList<SpooledMessage> Messages
    {
        get
        {
            var list = new List<SpooledMessage>();
            _index.ForEach((id, value) =>
            {
                if (QueueEntryFormat.State(value) == MessageState.Queued)
                {
                    list.Add(QueueEntryFormat.Summary(id, value));
                }
            });
            return [.. list.OrderBy(m => m.Id.High).ThenBy(m => m.Id.Low)];
        }
    }

    internal SpoolMetrics Metrics { get; }

    /// <summary>Opens (creating if needed) the spool and recovers it: the log to its last commit, then the index by a scan.</summary>
    /// <exception cref="SpoolException">The directory is unusable or the log cannot be recovered.</exception>
    public static Spool Open(SpoolOptions options, ILoggerFactory loggers, IMetrics metrics, TimeProvider? clock = null)
    {
        var logger = loggers.CreateLogger(LogComponents.Spool);
        LogInstance? instance = null;
        QueueIndex? index = null;
        Spool? opened = null;
        try
        {
            Directory.CreateDirectory(options.Directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var started = Stopwatch.GetTimestamp();
            // One reading of the free space for the reserve and the log device's zeroing (see LogDevice).
            // Sized with the hash table the index has (an older one keeps its larger table), not the one configured.
            var indexed = options with { IndexBuckets = QueueIndex.BucketsFor(IndexDirectory(options), options.IndexBuckets) };
            var reserve = new SpaceReserve(options.Directory, EffectiveMinFree(indexed, logger), logger);
            instance = LogInstance.Open(options, generation: 1, () => reserve.Free);
            index = OpenIndex(options, instance, logger);
            var spool = opened = new Spool(options, instance, index, reserve, logger, metrics, clock ?? TimeProvider.System);
            spool.StartApplier();
            // Ready means the index is current: the log after the checkpoint has been replayed.
            spool.CaughtUpAsync().AsTask().GetAwaiter().GetResult();
            var messages = spool.Count;

            // Whatever FASTER created while opening (segment, commit metadata) is made durable.
            Tern.Platform.Posix.FsyncDirectory(options.Directory);
            spool.PrepareNextSegment(instance);
            Recovered(logger, options.Directory, messages, Stopwatch.GetElapsedTime(started));
            return spool;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FasterException or FormatException)
        {
            opened?.StopBackground();
            index?.Dispose();
            instance?.Dispose();
            throw new SpoolException($"spool {options.Directory}: cannot open: {e.Message}", e);
        }
    }

    /// <summary>
    /// An Open that failed after the spool was built: its background loops (commit, checkpoint timer,
    /// compactor, applier) are stopped before the log and index they use are disposed.
    /// </summary>
    private void StopBackground()
    {
        _stop.Cancel();
        _commitRequested.Set();
        _compactRequested.Release();
        _stopping = true;
        Wake();
        try
        {
            Task.WaitAll([_commitLoop, _checkpointTimer, _compactor, _applier], TimeSpan.FromSeconds(10));
        }
        catch (AggregateException)
        {
            // They failed on the way out; what matters is that they no longer run.
        }
    }

    /// <summary>Starts a message.</summary>
    public SpoolWriter Begin()
    {
        if (!_pool.TryDequeue(out var writer))
        {
            writer = new SpoolWriter(this);
        }

        writer.Start(_ids.Next(), _current.Generation);
        return writer;
    }

    /// <summary>Reads a message back (envelope and body).</summary>
    public async Task<StoredMessage?> ReadAsync(MessageId id, CancellationToken cancel = default)
    {
        var (entry, envelope, body) = await ReadMessageAsync(id, withEnvelope: true, cancel).ConfigureAwait(false);
        return body is null ? null : new StoredMessage(entry!, envelope!, body);
    }

    /// <summary>
    /// Reads a message's body only, or null when the message is gone. For the delivery, which has the
    /// envelope from the queue entry already: the record's copy of it is stepped over, not decoded (its
    /// strings and lists were ~0.35 KB of garbage per delivered message: SpoolReadBenchmarks).
    /// </summary>
    public async Task<byte[]?> ReadBodyAsync(MessageId id, CancellationToken cancel = default) =>
        (await ReadMessageAsync(id, withEnvelope: false, cancel).ConfigureAwait(false)).Body;

    // A ValueTask: a read served from RecentRecords completes without awaiting, so the caller's task is the
    // only one allocated.
    private async ValueTask<(SpooledMessage? Entry, SpoolEnvelope? Envelope, byte[]? Body)> ReadMessageAsync(MessageId id, bool withEnvelope, CancellationToken cancel)
    {
        if (Find(id) is not { } entry)
        {
            return default;
        }

        var instance = _current;
        if (instance.Disposed)
        {
            throw new IOException("the spool's log is failing (disk full or I/O error); it is reopened every few seconds");
        }

        SpoolEnvelope? envelope = null;
        List<long>? chunks = null;
        byte[] inline = [];
        var parsed = false;
        var recent = ArrayPool<byte>.Shared.Rent(RecentRecords.MaxRecordBytes);
        var hit = false;
        try
        {
            var n = _recent.TryCopy(instance.Generation, entry.Address, recent);
            if (n >= 0)
            {
                hit = true;
                parsed = ParseMessage(entry, recent.AsSpan(0, n), withEnvelope, out envelope, out chunks, out inline);
            }
        }
        finally
        {
            // Back before a miss reads the log (which rents a buffer of its own), not held across that read.
            ArrayPool<byte>.Shared.Return(recent);
        }

        if (!hit)
        {
            var (record, length) = await instance.Log.ReadAsync(entry.Address, MemoryPool<byte>.Shared, token: cancel);
            using (record)
            {
                parsed = ParseMessage(entry, RecordSpan(record, length), withEnvelope, out envelope, out chunks, out inline);
            }
        }

        return parsed
            ? (entry, envelope, chunks is null ? inline : await ReadChunksAsync(id, chunks, entry.BodyLength, cancel))
            : default;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _commitRequested.Set();
        _compactRequested.Release();
        foreach (var task in new[] { _commitLoop, _checkpointTimer, _compactor })
        {
            try
            {
                await task;
            }
            catch (Exception e)
            {
                // A background loop that died must not keep the spool from closing (counted as a panic).
                _panics.Inc();
                CommitFailed(_log2, e);
            }
        }
        var instance = _current;
        if (!instance.Disposed)
        {
            // (A retired instance, failed and not yet replaced, is never committed again: see Retire.)
            try
            {
                await instance.Log.CommitAsync();
                CompleteWaiters(instance);
            }
            catch (Exception e) when (e is IOException or FasterException or CommitFailureException)
            {
                CommitFailed(_log2, e);
                instance.Dispose();
            }
        }

        FailWaiters(close: true, refuse: instance.Disposed);

        // The applier takes in the last commit, and a final checkpoint makes the next start quick.
        _stopping = true;
        Wake();
        await _applier;
        var indexFree = true;
        if (Options.CheckpointOnClose && !instance.Disposed)
        {
            // Bounded: a checkpoint whose writes fail may never complete (see RoomForCheckpoint), and a
            // close must end. Skipped, the next start replays the log from the last checkpoint.
            var checkpoint = CheckpointAsync(instance);
            if (await Task.WhenAny(checkpoint, Task.Delay(CloseCheckpointTimeout)) != checkpoint)
            {
                CloseCheckpointSkipped(_log2, Options.Directory, CloseCheckpointTimeout);

                // The checkpoint still uses the index: it is left to the process's exit.
                indexFree = false;
            }
            else
            {
                await checkpoint;
            }
        }

        if (indexFree)
        {
            _index.Dispose();
        }

        instance.Dispose();
        _gate.Dispose();
        _compactRequested.Dispose();
        _stop.Dispose();
        while (_decompressors.TryDequeue(out var d))
        {
            d.Dispose();
        }
    }

    /// <summary>Appends a record to the current log; fails when the writer started on a log that was since replaced.</summary>
    internal long Append(ReadOnlySpan<byte> record, int generation)
    {
        _gate.EnterReadLock();
        try
        {
            return AppendHoldingGate(record, generation);
        }
        finally
        {
            _gate.ExitReadLock();
        }
    }

    /// <summary>
    /// Appends a record to whichever log is current (its generation read under the gate: a writer
    /// that waited for the gate while the log was replaced appends to the new one, never the old).
    /// </summary>
    internal long Append(ReadOnlySpan<byte> record) => Append(record, AnyGeneration);

    /// <summary>Generations start at 1: this one matches whichever instance is current.</summary>
    private const int AnyGeneration = 0;

    /// <summary>The append itself; the caller holds <see cref="_gate"/> (shared, or exclusively during a reopen).</summary>
    private long AppendHoldingGate(ReadOnlySpan<byte> record, int generation)
    {
        var instance = _current;
        if (generation != AnyGeneration && instance.Generation != generation)
        {
            throw new IOException("the spool's log was reopened after an I/O failure");
        }

        if (instance.Disposed)
        {
            // The failed log is retired and a new one could not be opened yet (disk still full).
            throw new IOException("the spool's log is failing (disk full or I/O error); it is reopened every few seconds");
        }

        var address = instance.Log.Enqueue(record);
        Interlocked.Increment(ref _appendedSinceCommit);
        _reserve.Consumed(record.Length);
        return address;
    }

    internal void Return(SpoolWriter writer) => _pool.Enqueue(writer);

    /// <summary>
    /// Marks a message whose commit failed as abandoned (the client got a 4xx), so that if its record
    /// still became durable, recovery drops it instead of queueing a message nobody acknowledged.
    /// Best effort: when the log cannot take even this record, the next start may find the message.
    /// </summary>
    internal void Abandon(MessageId id)
    {
        try
        {
            Span<byte> record = stackalloc byte[RecordFormat.HeaderSize];
            RecordFormat.WriteHeader(record, RecordKind.Abandoned, RecordFlags.None, id);
            Append(record);
            _commitRequested.Set();
        }
        catch (Exception e) when (e is IOException or FasterException or ObjectDisposedException)
        {
            CommitFailed(_log2, e);
        }
    }

    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    internal async ValueTask<bool> CommitMessageAsync(SpoolWriter writer, CancellationToken cancel)
    {
        var started = Stopwatch.GetTimestamp();
        var received = _clock.GetUtcNow();
        var instance = _current;
        var waiter = cancel.CanBeCanceled ? new CommitWaiter() : writer.Waiter;
        var closed = false;
        try
        {
            if (writer.Failed || instance.Generation != writer.Generation)
            {
                throw new IOException("a body chunk could not be appended");
            }

            if (writer.Reserved && _reserve.Low)
            {
                // Free space fell below the reserve while the message arrived: it is refused like one
                // at MAIL (452 4.3.1); the reserve stays for what is already accepted.
                Metrics.RefusedMinFree.Inc();
                return false;
            }

            if (!EntryFits(writer.Envelope))
            {
                throw new IOException($"message {writer.Id}: its envelope ({writer.Envelope.RecipientCount} recipients) is too large for a queue entry");
            }

            var record = writer.BuildMessageRecord(received, out var length);
            try
            {
                // Building may append the last chunk, which can fail: never commit a record without its body.
                if (writer.Failed)
                {
                    throw new IOException("the last body chunk could not be appended");
                }

                long address;
                _gate.EnterReadLock();
                try
                {
                    address = AppendHoldingGate(record.AsSpan(0, length), writer.Generation);

                    // Registered under the gate with the append: a failed commit retires its log
                    // instance holding the gate exclusively, and then finds every message record of
                    // that instance among the waiters (whose ids it refuses: see FailWaiters).
                    waiter.Start(address + 1, writer.Generation, writer.Id);
                    closed = !AddWaiter(waiter);
                }
                finally
                {
                    _gate.ExitReadLock();
                }

                // Kept for the first delivery attempt; found only through the index, which takes the
                // message in once the commit below made it durable.
                _recent.Add(writer.Generation, address, record.AsSpan(0, length));
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(record);
            }
        }
        catch (Exception e) when (e is IOException or FasterException or ObjectDisposedException)
        {
            CommitFailed(_log2, e);
            Metrics.CommitFailures.Inc();
            if (writer.Reserved)
            {
                Metrics.RefusedCommit.Inc();
            }

            return false;
        }

        // No timeout once the record is in the log: giving up while a later commit still made it
        // durable would store a message nobody acknowledged. A failure, or the retirement of this log
        // instance after one, ends the wait; so does the caller's token (then the record is abandoned).
        if (!closed)
        {
            _commitRequested.Set();
        }

        var durable = await waiter.WaitAsync(cancel);
        if (!durable)
        {
            Failing |= !cancel.IsCancellationRequested;
            CommitFailed(_log2, new IOException($"message {writer.Id}: the commit covering it failed or was cancelled"));
            Metrics.CommitFailures.Inc();
            if (writer.Reserved)
            {
                Metrics.RefusedCommit.Inc();
            }

            // Into the current log (the failed one is retired and takes nothing): if the record still
            // became durable, recovery drops it. A failed commit refused the id already (FailWaiters),
            // and the reopen writes its Abandoned record into the new log in any case.
            Abandon(writer.Id);
            return false;
        }

        writer.Committed = true;

        Metrics.CommitSeconds.Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
        if (!writer.IsNotice)
        {
            Metrics.Accepted.Inc();
        }

        return true;
    }

    /// <summary>
    /// The largest queue entry: one must fit in a page of the index (and, as a State record, in a
    /// page of the log), less room for FASTER's record header.
    /// </summary>
    internal int IndexPageSizeBits => _index.PageSizeBits;

    /// <summary>The queue index's hash buckets (the count it was created with).</summary>
    internal long IndexBuckets => _index.Buckets;

    internal int MaxEntryBytes => (1 << Math.Min(_index.PageSizeBits, Options.PageSizeBits)) - 256;

    /// <summary>Whether a new message's entry fits, with room for a reply of 200 bytes per recipient.</summary>
    internal bool EntryFits(EnvelopeBuilder envelope) =>
        QueueEntryFormat.SizeWithoutReplies(envelope.EncodedLength, envelope.RecipientCount) + MaxHoldReason + (envelope.RecipientCount * 200L) <= MaxEntryBytes;

    /// <summary>Room kept for the transport and hold reason an operator may set on an entry.</summary>
    private const int MaxHoldReason = 2048;

    /// <summary>
    /// Issues commits while appends are pending: a writer's request arrives during the current commit,
    /// so everything appended meanwhile goes out together with the next one (group commit).
    /// </summary>
    private async Task CommitLoopAsync()
    {
        while (true)
        {
            await _commitRequested.WaitAsync();
            if (_stop.IsCancellationRequested)
            {
                return;
            }

            // The commit policy: optionally wait a little for more records (bounded by the batch size).
            if (Options.CommitDelay > TimeSpan.Zero)
            {
                var until = Stopwatch.GetTimestamp() + (long)(Options.CommitDelay.TotalSeconds * Stopwatch.Frequency);
                while (Interlocked.Read(ref _appendedSinceCommit) < Options.CommitBatch && Stopwatch.GetTimestamp() < until)
                {
                    try
                    {
                        await Task.Delay(TimeSpan.FromMilliseconds(0.5), _stop.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                }
            }

            var records = Interlocked.Exchange(ref _appendedSinceCommit, 0);
            var instance = _current;
            try
            {
                // No token: FASTER wraps a cancellable wait in a task per commit; a commit ends quickly anyway.
                await instance.Log.CommitAsync();
                CompleteWaiters(instance);

                // The applier takes in what this commit made durable.
                _applyRequested.Set();
                PrepareNextSegment(instance);
                Metrics.Commits.Inc();
                Metrics.RecordsPerCommit.Observe(records);
                Failing = false;
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception e)
            {
                // Disk full or an I/O error (anything else is a bug, counted as a panic): the waiters
                // are told 4xx, and the log is reopened until commits succeed again.
                if (e is not (IOException or CommitFailureException or FasterException))
                {
                    _panics.Inc();
                }

                Failing = true;
                Metrics.CommitFailures.Inc();
                CommitFailed(_log2, e);
                Retire(instance);
                if (!await ReopenAsync(instance))
                {
                    return;
                }
            }
        }
    }

    /// <summary>
    /// A commit failed: the instance is disposed at once, without another commit or flush. FASTER
    /// dequeues pending commit requests only in a flush without error, so any later flush on the
    /// failed instance (a page filling while it waits, or a final commit) could write metadata
    /// covering the failed range, and the reopened log would recover records whose writers were told
    /// 4xx. FasterLog.Dispose neither flushes nor commits. Its waiters are told at once, their ids refused.
    /// </summary>
    private void Retire(LogInstance failed)
    {
        _gate.EnterWriteLock();
        try
        {
            failed.Dispose();
            FailWaiters(refuse: true);
        }
        finally
        {
            _gate.ExitWriteLock();
        }
    }

    /// <summary>
    /// Replaces a failed (retired) log instance: waits a little (space may come back), then, with
    /// appends held off, opens a new one, which recovers to the last good commit. The index is kept:
    /// it only holds committed messages. Returns false when the spool is stopping.
    /// </summary>
    private async Task<bool> ReopenAsync(LogInstance failed)
    {
        while (true)
        {
            try
            {
                await Task.Delay(ReopenDelay, _clock, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                return false;
            }

            _gate.EnterWriteLock();
            try
            {
                if (_current != failed)
                {
                    return true;
                }

                failed.Dispose();
                FailWaiters(refuse: true);
                _current = LogInstance.Open(Options, failed.Generation + 1, () => _reserve.Free);
                Reopened(_log2, Options.Directory, _current.Generation);

                // Before the applier moves to the new log (it skips the refused ids meanwhile anyway).
                AbandonRefused();
                _commitRequested.Set();
                Wake();
                return true;
            }
            catch (Exception e) when (e is IOException or FasterException or CommitFailureException)
            {
                // Still failing (the disk may still be full): try again later. The failed instance
                // is disposed; appends fail until a new one opens.
                CommitFailed(_log2, e);
                failed = _current;
            }
            finally
            {
                _gate.ExitWriteLock();
            }
        }
    }

    /// <summary>The message's commit failed (its writer answers 4xx): never queued from this log again (see <see cref="_refused"/>).</summary>
    internal void Refuse(MessageId id) => _refused.TryAdd(id, 0);

    /// <summary>Refused, and its Abandoned record not applied yet.</summary>
    internal bool IsRefused(MessageId id) => _refused.ContainsKey(id);

    /// <summary>
    /// After a reopen (holding the gate exclusively): the refused messages (their writers answered
    /// 4xx) are marked abandoned in the new log. The failed commit may still have put some of their
    /// records on the disk; the applier skips those, and a restart drops them by these records. The
    /// ids stay refused until their Abandoned record is applied (it is committed then), so a new log
    /// that fails too gets them again at the next reopen.
    /// </summary>
    private void AbandonRefused()
    {
        Span<byte> record = stackalloc byte[RecordFormat.HeaderSize];
        foreach (var id in _refused.Keys)
        {
            RecordFormat.WriteHeader(record, RecordKind.Abandoned, RecordFlags.None, id);
            AppendHoldingGate(record, AnyGeneration);
        }
    }

    internal void PinInFlight(MessageId id, long firstChunk) => _inFlight.TryAdd(id, firstChunk);

    internal void UnpinInFlight(MessageId id) => _inFlight.TryRemove(id, out _);

    /// <summary>Registers a wait for a commit; false (and the wait completed as failed) when the spool is closing: no commit loop would complete it any more.</summary>
    private bool AddWaiter(CommitWaiter waiter)
    {
        lock (_waiters)
        {
            if (_closed)
            {
                waiter.TryComplete(false);
                return false;
            }

            _waiters.Add(waiter);
            return true;
        }
    }

    /// <summary>
    /// After a commit: completes the waiters it covers. A waiter whose record went into an older
    /// (failed and replaced) log instance is told its record is lost, whatever address the new
    /// instance has reached.
    /// </summary>
    private void CompleteWaiters(LogInstance instance)
    {
        var committed = instance.Log.CommittedUntilAddress;
        CommitCompletions? durable = null;
        lock (_waiters)
        {
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                var w = _waiters[i];
                if (w.Generation == instance.Generation && w.Until > committed)
                {
                    continue;
                }

                if (w.Generation != instance.Generation)
                {
                    w.TryComplete(false);
                }
                else if (w.TryClaim())
                {
                    durable ??= _spareCompletions.TryDequeue(out var spare) ? spare : new CommitCompletions(_spareCompletions.Enqueue);
                    durable.Waiters.Add(w);
                }

                _waiters[i] = _waiters[^1];
                _waiters.RemoveAt(_waiters.Count - 1);
            }
        }

        if (durable is not null)
        {
            ThreadPool.UnsafeQueueUserWorkItem(durable, preferLocal: false);
        }
    }

    /// <summary>
    /// A commit failed: every waiting writer is told so (they answer 4xx), and with
    /// <paramref name="refuse"/> their messages are refused (<see cref="_refused"/>) before any of
    /// them resumes. Closing also refuses later waits.
    /// </summary>
    private void FailWaiters(bool close = false, bool refuse = false)
    {
        lock (_waiters)
        {
            _closed |= close;
            foreach (var w in _waiters)
            {
                if (refuse && w.Id is { } id)
                {
                    Refuse(id);
                }

                w.TryComplete(false);
            }

            _waiters.Clear();
        }
    }

    /// <summary>
    /// FASTER creates a segment file when the log first writes into it and never fsyncs the
    /// directory, so after a power loss a new segment holding acknowledged messages could vanish.
    /// The spool therefore creates the next segment file itself, and fsyncs the directory, while the
    /// log is still in the current one (FASTER opens the existing file when it gets there).
    /// </summary>
    private void PrepareNextSegment(LogInstance instance)
    {
        var next = (instance.Log.TailAddress >> Options.SegmentSizeBits) + 1;
        if (next <= Interlocked.Read(ref _preparedSegment))
        {
            return;
        }

        try
        {
            var path = Path.Combine(Options.Directory, $"tern.log.{next}");
            using (new FileStream(path, new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }))
            {
            }

            Tern.Platform.Posix.FsyncDirectory(Options.Directory);
            Interlocked.Exchange(ref _preparedSegment, next);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Retried after the next commit; meanwhile durability rests on the filesystem's journal.
            CommitFailed(_log2, e);
        }
    }

    private static string IndexDirectory(SpoolOptions options) => Path.Combine(options.Directory, "index");

    private static QueueIndex OpenIndex(SpoolOptions options, LogInstance instance, ILogger logger)
    {
        var directory = IndexDirectory(options);
        try
        {
            return QueueIndex.Open(directory, options);
        }
        catch (Exception e) when (e is IOException or FasterException or FormatException or InvalidOperationException or SpoolException)
        {
            // The index is a view of the log: when its checkpoint cannot be read it is rebuilt from the log.
            IndexRebuilt(logger, directory, instance.Log.BeginAddress, e);
            Directory.Delete(directory, recursive: true);
            return QueueIndex.Open(directory, options);
        }
    }

    private void StartApplier()
    {
        var (position, queued, held) = ReadPosition();
        var begin = _current.Log.BeginAddress;
        if (position < begin)
        {
            // No checkpoint yet (or one older than the log): replay the whole log.
            position = begin;
        }

        _applied = position;
        ReplayedFrom = position;
        _checkpointedAt = position;
        _queued = queued;
        _held = held >= 0 ? held : CountHeld();
        _lastCheckpointTicks = Environment.TickCount64;
        ReadRules();
        _applier = Task.Run(ApplyLoopAsync);
    }

    /// <summary>Held messages in an index whose checkpoint predates the held count: one scan, once.</summary>
    private long CountHeld()
    {
        long held = 0;
        _index.ForEach((_, value) =>
        {
            if (QueueEntryFormat.State(value) == MessageState.Queued && QueueEntryFormat.Held(value))
            {
                held++;
            }
        });
        return held;
    }

    /// <summary>The index entry of a queued or retired message, or null.</summary>
    internal SpooledMessage? Find(MessageId id)
    {
        if (_index.Read(id, out var n) is not { } value)
        {
            return null;
        }

        try
        {
            return QueueEntryFormat.Summary(id, value.AsSpan(0, n));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(value);
        }
    }

    /// <summary>
    /// The envelope (when asked for; else stepped over and null) and the inline body of a message record;
    /// false when the record is not this message's. <paramref name="chunks"/> is null when the body is all
    /// inline (the usual case: no list then).
    /// </summary>
    private bool ParseMessage(SpooledMessage entry, ReadOnlySpan<byte> record, bool withEnvelope, out SpoolEnvelope? envelope, out List<long>? chunks, out byte[] inline)
    {
        envelope = null;
        chunks = null;
        inline = [];
        if (!RecordFormat.TryReadHeader(record, out var kind, out var flags, out var id) || kind != RecordKind.Message || id != entry.Id)
        {
            return false;
        }

        var reader = new RecordReader(record, RecordFormat.HeaderSize);
        _ = reader.I64();
        var bodyLength = reader.U64();
        var inlineStored = reader.U32();
        var count = (int)reader.U32();
        if (count > 0)
        {
            chunks = new List<long>(count);
            for (var i = 0; i < count; i++)
            {
                chunks.Add(reader.I64());
            }
        }

        if (withEnvelope)
        {
            envelope = EnvelopeBuilder.Read(ref reader);
        }
        else
        {
            _ = EnvelopeBuilder.Skip(ref reader);
        }

        var stored = reader.Take((int)inlineStored);
        inline = (flags & RecordFlags.Compressed) != 0 ? Decompress(stored, (int)bodyLength) : stored.ToArray();
        return true;
    }

    private async Task<byte[]> ReadChunksAsync(MessageId id, List<long> chunks, long bodyLength, CancellationToken cancel)
    {
        // Every byte is written below (a short body throws): no need to zero it first.
        var body = GC.AllocateUninitializedArray<byte>((int)bodyLength);
        var at = 0;
        foreach (var address in chunks)
        {
            var instance = _current;
            if (instance.Disposed)
            {
                throw new IOException("the spool's log is failing (disk full or I/O error); it is reopened every few seconds");
            }

            var (record, length) = await instance.Log.ReadAsync(address, MemoryPool<byte>.Shared, token: cancel);
            using (record)
            {
                at += CopyChunk(id, RecordSpan(record, length), body.AsSpan(at));
            }
        }

        if (at != bodyLength)
        {
            throw new SpoolException($"message {id}: body has {at} bytes, expected {bodyLength}");
        }

        return body;
    }

    /// <summary>
    /// A record read from the log, in a buffer rented from the shared pool: FASTER's byte[] overload of
    /// ReadAsync allocates a new array per read (a record per delivered message, ~10 % of the relay's
    /// allocation from a backlog), which the parse copies from anyway. Null (nothing at the address)
    /// gives an empty span, which the parse rejects.
    /// </summary>
    private static ReadOnlySpan<byte> RecordSpan(IMemoryOwner<byte>? record, int length) =>
        record is null ? default : record.Memory.Span[..length];

    private int CopyChunk(MessageId id, ReadOnlySpan<byte> record, Span<byte> destination)
    {
        if (!RecordFormat.TryReadHeader(record, out var kind, out var flags, out var chunkId) || kind != RecordKind.BodyChunk || chunkId != id)
        {
            throw new SpoolException($"message {id}: a body chunk is missing or belongs to another message");
        }

        var reader = new RecordReader(record, RecordFormat.HeaderSize);
        _ = reader.U32();
        var raw = (int)reader.U32();
        if ((flags & RecordFlags.Compressed) != 0)
        {
            return Unwrap(reader.Rest, destination[..raw]);
        }

        reader.Rest.CopyTo(destination);
        return reader.Rest.Length;
    }

    private byte[] Decompress(ReadOnlySpan<byte> stored, int rawLength)
    {
        // Every byte is written, or the length check below throws.
        var result = GC.AllocateUninitializedArray<byte>(rawLength);
        var n = Unwrap(stored, result);
        return n == rawLength ? result : throw new SpoolException("inline body does not decompress to its recorded length");
    }

    /// <summary>
    /// Decompresses with a context from <see cref="_decompressors"/>: a zstd context holds native tables,
    /// and creating one per message body was a native allocation and its setup each time (~11 % of the
    /// allocation slow path when relaying 100 KiB messages). A context that failed is not reused.
    /// </summary>
    private int Unwrap(ReadOnlySpan<byte> stored, Span<byte> destination)
    {
        var d = _decompressors.TryDequeue(out var spare) ? spare : new Decompressor();
        int n;
        try
        {
            n = d.Unwrap(stored, destination);
        }
        catch
        {
            d.Dispose();
            throw;
        }

        _decompressors.Enqueue(d);
        return n;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "spool recovered {directory} {messages} {elapsed}")]
    private static partial void Recovered(ILogger log, string directory, int messages, TimeSpan elapsed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "spool index unreadable, rebuilt from the log {directory} {from}")]
    private static partial void IndexRebuilt(ILogger log, string directory, long from, Exception e);

    /// <summary>How long a close waits for its final checkpoint.</summary>
    internal static readonly TimeSpan CloseCheckpointTimeout = TimeSpan.FromSeconds(10);

    [LoggerMessage(Level = LogLevel.Warning, Message = "spool close: the final checkpoint did not complete in time and is skipped (the next start replays the log) {directory} {timeout}")]
    private static partial void CloseCheckpointSkipped(ILogger log, string directory, TimeSpan timeout);

    [LoggerMessage(Level = LogLevel.Warning, Message = "spool log reopened after a failure {directory} {generation}")]
    private static partial void Reopened(ILogger log, string directory, int generation);

    [LoggerMessage(Level = LogLevel.Error, Message = "commit failed")]
    private static partial void CommitFailed(ILogger log, Exception e);
}
