using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using FASTER.core;
using Microsoft.Extensions.Logging;
using Tern.Observability.Logging;
using Tern.Observability.Metrics;
using ZstdSharp;

namespace Tern.Spool;

/// <summary>
/// The durable spool: a FasterLog write-ahead log. Accepting a message appends its records and
/// waits for the commit that covers them; one commit covers every record appended before it, so
/// concurrent messages share one disk sync (group commit). The index of messages is rebuilt by
/// scanning the log from its last commit on open.
/// </summary>
public sealed partial class Spool : IAsyncDisposable
{
    /// <summary>How long the spool waits after a failure before reopening its log.</summary>
    private static readonly TimeSpan ReopenDelay = TimeSpan.FromSeconds(2);

    /// <summary>Appends take it shared; replacing the log instance takes it exclusively.</summary>
    private readonly ReaderWriterLockSlim _gate = new();
    private volatile LogInstance _current;
    private readonly ConcurrentDictionary<MessageId, SpooledMessage> _index = new();
    private readonly ConcurrentQueue<SpoolWriter> _pool = new();
    private readonly SemaphoreSlim _commitRequested = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _commitLoop;
    private readonly ILogger _log2;
    private readonly ICounter _panics;
    private readonly TimeProvider _clock;
    private long _appendedSinceCommit;
    private long _preparedSegment = -1;

    private Spool(SpoolOptions options, LogInstance instance, ILogger logger, IMetrics metrics, TimeProvider clock)
    {
        Options = options;
        _current = instance;
        _log2 = logger;
        _clock = clock;
        Metrics = new SpoolMetrics(metrics);
        _panics = Panics.For(metrics, LogComponents.Spool);
        metrics.OnCollect(() =>
        {
            Metrics.Messages.Set(_index.Count);
            var log = _current.Log;
            Metrics.LogBytes.Set(log.TailAddress - log.BeginAddress);
        });
        _commitLoop = Task.Run(CommitLoopAsync);
    }

    public SpoolOptions Options { get; }

    /// <summary>Messages in the spool.</summary>
    public int Count => _index.Count;

    /// <summary>
    /// True after a commit failed (disk full, I/O error) until one succeeds again. Meanwhile the
    /// spool reopens its log every few seconds (recovering to the last good commit), so it comes
    /// back by itself once space returns.
    /// </summary>
    public bool Failing { get; private set; }

    /// <summary>A snapshot of the index, oldest first.</summary>
    public IReadOnlyList<SpooledMessage> Messages => [.. _index.Values.OrderBy(m => m.Id.High).ThenBy(m => m.Id.Low)];

    internal SpoolMetrics Metrics { get; }

    /// <summary>Opens (creating if needed) the spool and recovers it: the log to its last commit, then the index by a scan.</summary>
    /// <exception cref="SpoolException">The directory is unusable or the log cannot be recovered.</exception>
    public static Spool Open(SpoolOptions options, ILoggerFactory loggers, IMetrics metrics, TimeProvider? clock = null)
    {
        var logger = loggers.CreateLogger(LogComponents.Spool);
        LogInstance? instance = null;
        try
        {
            Directory.CreateDirectory(options.Directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var started = Stopwatch.GetTimestamp();
            instance = LogInstance.Open(options, generation: 1);
            var spool = new Spool(options, instance, logger, metrics, clock ?? TimeProvider.System);
            var (messages, skipped) = spool.Recover();

            // Whatever FASTER created while opening (segment, commit metadata) is made durable.
            Tern.Platform.Posix.FsyncDirectory(options.Directory);
            spool.PrepareNextSegment(instance);
            Recovered(logger, options.Directory, messages, skipped, Stopwatch.GetElapsedTime(started));
            return spool;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FasterException or FormatException)
        {
            instance?.Dispose();
            throw new SpoolException($"spool {options.Directory}: cannot open: {e.Message}", e);
        }
    }

    /// <summary>Starts a message.</summary>
    public SpoolWriter Begin()
    {
        if (!_pool.TryDequeue(out var writer))
        {
            writer = new SpoolWriter(this);
        }

        writer.Start(MessageId.New(_clock), _current.Generation);
        return writer;
    }

    /// <summary>Reads a message back (envelope and body).</summary>
    public async Task<StoredMessage?> ReadAsync(MessageId id, CancellationToken cancel = default)
    {
        if (!_index.TryGetValue(id, out var entry))
        {
            return null;
        }

        var (record, length) = await _current.Log.ReadAsync(entry.Address, token: cancel);
        return ParseMessage(entry, record.AsSpan(0, length), out var chunks, out var inline) is { } envelope
            ? new StoredMessage(entry, envelope, chunks.Count == 0 ? inline : await ReadChunksAsync(id, chunks, entry.BodyLength, cancel))
            : null;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _commitRequested.Release();
        await _commitLoop;
        var instance = _current;
        try
        {
            await instance.Log.CommitAsync();
        }
        catch (Exception e) when (e is IOException or FasterException or CommitFailureException)
        {
            CommitFailed(_log2, e);
        }

        instance.Dispose();
        _gate.Dispose();
        _commitRequested.Dispose();
        _stop.Dispose();
    }

    /// <summary>Appends a record to the current log; fails when the writer started on a log that was since replaced.</summary>
    internal long Append(ReadOnlySpan<byte> record, int generation)
    {
        _gate.EnterReadLock();
        try
        {
            var instance = _current;
            if (instance.Generation != generation)
            {
                throw new IOException("the spool's log was reopened after an I/O failure");
            }

            var address = instance.Log.Enqueue(record);
            Interlocked.Increment(ref _appendedSinceCommit);
            return address;
        }
        finally
        {
            _gate.ExitReadLock();
        }
    }

    internal long Append(ReadOnlySpan<byte> record) => Append(record, _current.Generation);

    internal void Return(SpoolWriter writer) => _pool.Enqueue(writer);

    /// <summary>
    /// Marks a message whose commit failed as abandoned (the client got a 4xx), so that if its record
    /// still became durable, recovery drops it instead of queueing a message nobody acknowledged.
    /// Best effort: when the log cannot take even this record, the next start may find the message.
    /// </summary>
    internal void Abandon(MessageId id, LogInstance? instance = null)
    {
        try
        {
            Span<byte> record = stackalloc byte[RecordFormat.HeaderSize];
            RecordFormat.WriteHeader(record, RecordKind.Abandoned, RecordFlags.None, id);
            Append(record, (instance ?? _current).Generation);
            _commitRequested.Release();
        }
        catch (Exception e) when (e is IOException or FasterException or ObjectDisposedException)
        {
            CommitFailed(_log2, e);
        }
    }

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
            _commitRequested.Release();
        }
        catch (Exception e) when (e is IOException or FasterException)
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
        long address;
        try
        {
            if (writer.Failed || instance.Generation != writer.Generation)
            {
                throw new IOException("a body chunk could not be appended");
            }

            var record = writer.BuildMessageRecord(received, out var length);
            try
            {
                address = Append(record.AsSpan(0, length), writer.Generation);
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
            return false;
        }

        _commitRequested.Release();
        try
        {
            // No timeout once the record is in the log: giving up while a later commit still made it
            // durable would store a message nobody acknowledged. A failure, or the retirement of this
            // log instance after one, ends the wait.
            if (cancel.CanBeCanceled)
            {
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancel, instance.Retired.Token);
                await instance.Log.WaitForCommitAsync(address + 1, token: wait.Token);
            }
            else
            {
                // The common case (the SMTP session passes no token): no linked source to allocate.
                await instance.Log.WaitForCommitAsync(address + 1, token: instance.Retired.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or CommitFailureException or IOException or FasterException or ObjectDisposedException)
        {
            Failing |= e is not OperationCanceledException || instance.Retired.IsCancellationRequested;
            CommitFailed(_log2, e);
            Metrics.CommitFailures.Inc();
            Abandon(writer.Id, instance);
            return false;
        }

        _index[writer.Id] = new SpooledMessage(writer.Id, address, received, writer.BodyLength, writer.Envelope.RecipientCount);
        Metrics.CommitSeconds.Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
        return true;
    }

    /// <summary>
    /// Issues commits while appends are pending: a writer's request arrives during the current commit,
    /// so everything appended meanwhile goes out together with the next one (group commit).
    /// </summary>
    private async Task CommitLoopAsync()
    {
        while (true)
        {
            try
            {
                await _commitRequested.WaitAsync(_stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            // Every request that arrived so far is covered by this one commit.
            while (_commitRequested.CurrentCount > 0 && _commitRequested.Wait(0))
            {
            }

            var records = Interlocked.Exchange(ref _appendedSinceCommit, 0);
            var instance = _current;
            try
            {
                await instance.Log.CommitAsync(_stop.Token);
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
                if (!await ReopenAsync(instance))
                {
                    return;
                }
            }
        }
    }

    /// <summary>
    /// Replaces a failed log instance: waits a little (space may come back), then, with appends
    /// held off, retires the old instance (its waiters give up) and opens a new one, which
    /// recovers to the last good commit. The index is kept: it only holds committed messages.
    /// Returns false when the spool is stopping.
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
                _current = LogInstance.Open(Options, failed.Generation + 1);
                Reopened(_log2, Options.Directory, _current.Generation);
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

    private (int Messages, int Skipped) Recover()
    {
        var skipped = 0;
        var log = _current.Log;
        using var iterator = log.Scan(log.BeginAddress, log.TailAddress);
        while (iterator.GetNext(MemoryPool<byte>.Shared, out var owner, out var length, out var address))
        {
            using (owner)
            {
                var record = owner.Memory.Span[..length];
                if (!RecordFormat.TryReadHeader(record, out var kind, out _, out var id))
                {
                    skipped++;
                    continue;
                }

                if (kind == RecordKind.Abandoned)
                {
                    _index.TryRemove(id, out _);
                    continue;
                }

                if (kind != RecordKind.Message)
                {
                    continue;
                }

                var reader = new RecordReader(record, RecordFormat.HeaderSize);
                var received = DateTimeOffset.FromUnixTimeMilliseconds(reader.I64());
                var bodyLength = (long)reader.U64();
                _ = reader.U32();
                var chunkCount = reader.U32();
                reader.Take(checked((int)chunkCount * 8));
                var envelope = EnvelopeBuilder.Read(ref reader);
                _index[id] = new SpooledMessage(id, address, received, bodyLength, envelope.Recipients.Count);
            }
        }

        return (_index.Count, skipped);
    }

    private static SpoolEnvelope? ParseMessage(SpooledMessage entry, ReadOnlySpan<byte> record, out List<long> chunks, out byte[] inline)
    {
        chunks = [];
        inline = [];
        if (!RecordFormat.TryReadHeader(record, out var kind, out var flags, out var id) || kind != RecordKind.Message || id != entry.Id)
        {
            return null;
        }

        var reader = new RecordReader(record, RecordFormat.HeaderSize);
        _ = reader.I64();
        var bodyLength = reader.U64();
        var inlineStored = reader.U32();
        var count = reader.U32();
        for (var i = 0; i < count; i++)
        {
            chunks.Add(reader.I64());
        }

        var envelope = EnvelopeBuilder.Read(ref reader);
        var stored = reader.Take((int)inlineStored);
        inline = (flags & RecordFlags.Compressed) != 0 ? Decompress(stored, (int)bodyLength) : stored.ToArray();
        return envelope;
    }

    private async Task<byte[]> ReadChunksAsync(MessageId id, List<long> chunks, long bodyLength, CancellationToken cancel)
    {
        var body = new byte[bodyLength];
        var at = 0;
        foreach (var address in chunks)
        {
            var (record, length) = await _current.Log.ReadAsync(address, token: cancel);
            at += CopyChunk(id, record.AsSpan(0, length), body.AsSpan(at));
        }

        if (at != bodyLength)
        {
            throw new SpoolException($"message {id}: body has {at} bytes, expected {bodyLength}");
        }

        return body;
    }

    private static int CopyChunk(MessageId id, ReadOnlySpan<byte> record, Span<byte> destination)
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
            using var d = new Decompressor();
            return d.Unwrap(reader.Rest, destination[..raw]);
        }

        reader.Rest.CopyTo(destination);
        return reader.Rest.Length;
    }

    private static byte[] Decompress(ReadOnlySpan<byte> stored, int rawLength)
    {
        using var d = new Decompressor();
        var result = new byte[rawLength];
        var n = d.Unwrap(stored, result);
        return n == rawLength ? result : throw new SpoolException("inline body does not decompress to its recorded length");
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "spool recovered {directory} {messages} {skipped} {elapsed}")]
    private static partial void Recovered(ILogger log, string directory, int messages, int skipped, TimeSpan elapsed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "spool log reopened after a failure {directory} {generation}")]
    private static partial void Reopened(ILogger log, string directory, int generation);

    [LoggerMessage(Level = LogLevel.Error, Message = "commit failed")]
    private static partial void CommitFailed(ILogger log, Exception e);
}
