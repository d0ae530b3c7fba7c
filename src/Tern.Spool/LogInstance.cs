using FASTER.core;

namespace Tern.Spool;

/// <summary>
/// One opened FasterLog with its device and commit manager. The spool replaces the instance after
/// an I/O failure (FasterLog stays failed once a write failed): the new one recovers to the last
/// good commit, and the records of the failed commit — whose writers were told 4xx — are dropped.
/// </summary>
internal sealed class LogInstance : IDisposable
{
    /// <summary>Commits between two writes of the commit metadata file (FastCommitMode).</summary>
    private const int CommitMetadataInterval = 1024;

    private LogInstance(int generation, IDevice device, DeviceLogCommitCheckpointManager commits, FasterLog log)
    {
        Generation = generation;
        Device = device;
        Commits = commits;
        Log = log;
    }

    public int Generation { get; }

    public IDevice Device { get; }

    public DeviceLogCommitCheckpointManager Commits { get; }

    public FasterLog Log { get; }

    /// <summary>Cancelled when the instance is retired: writers still waiting on it give up (4xx).</summary>
    public CancellationTokenSource Retired { get; } = new();

    /// <param name="freeSpace">Free bytes on the spool's file system (the spool's reserve reads it at most once a second).</param>
    public static LogInstance Open(SpoolOptions options, int generation, Func<long> freeSpace)
    {
        LogDevice? device = null;
        DeviceLogCommitCheckpointManager? commits = null;
        try
        {
            // FASTER's device for reads and segment files; writes on a thread of their own, with zeros ahead (LogDevice).
            device = new LogDevice(
                Devices.CreateLogDevice(Path.Combine(options.Directory, "tern.log"), preallocateFile: false, deleteOnClose: false, recoverDevice: true),
                options.ZeroAhead,
                margin: options.ZeroAhead / 4,
                freeSpace);

            // FastCommitMode writes each commit record into the log itself (one synchronous write per group
            // commit) instead of a new commit file per commit; the metadata file is refreshed only every
            // CommitMetadataInterval commits, and recovery rolls forward through the in-log commit
            // records. It requires per-entry checksums, which also make a torn tail detectable.
            commits = new DeviceLogCommitCheckpointManager(
                new LocalStorageNamedDeviceFactory(),
                new DefaultCheckpointNamingScheme(options.Directory),
                removeOutdated: true,
                fastCommitThrottleFreq: CommitMetadataInterval);
            var log = new FasterLog(new FasterLogSettings
            {
                LogDevice = device,
                PageSizeBits = options.PageSizeBits,
                MemorySizeBits = options.MemorySizeBits,
                SegmentSizeBits = options.SegmentSizeBits,
                LogCommitManager = commits,
                LogChecksum = LogChecksumType.PerEntry,
                FastCommitMode = true,
                TryRecoverLatest = true,
                // Off: it only serves readers of uncommitted records (scanUncommitted), and the spool
                // reads committed ones only. On, every append ran an epoch action that refreshed the
                // safe tail, allocating and chaining a Task.Run while appends kept coming.
                AutoRefreshSafeTailAddress = false,
            });
            return new LogInstance(generation, device, commits, log);
        }
        catch
        {
            commits?.Dispose();
            device?.Dispose();
            throw;
        }
    }

    private volatile bool _disposed;

    /// <summary>Retired after an I/O failure and not yet replaced (the disk may still be full).</summary>
    public bool Disposed => _disposed;

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        Retired.Cancel();
        try
        {
            Log.Dispose();
        }
        catch (Exception e) when (e is IOException or FasterException or CommitFailureException or ObjectDisposedException)
        {
            // A failed log may fail once more on the way out; its committed part is on disk.
        }

        Commits.Dispose();
        DisposeDevice(Device);
        Retired.Dispose();
    }

    /// <summary>How long closing the log's device may wait for its file handles.</summary>
    private static readonly TimeSpan DeviceCloseTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// FASTER's ManagedLocalStorageDevice.Dispose waits, without a timeout, until every pooled file handle
    /// is back; one kept by an I/O that never returned it hung a spool's close forever (seen once in ~10
    /// runs of the spool tests, the stack in SemaphoreSlim.Wait under AsyncPool.Dispose). The close waits
    /// a bounded time and then leaves the handles to the process's exit: everything committed is on disk.
    /// </summary>
    private static void DisposeDevice(IDevice device)
    {
        var closing = Task.Run(device.Dispose);
        try
        {
            closing.Wait(DeviceCloseTimeout);
        }
        catch (AggregateException e) when (e.InnerException is IOException or ObjectDisposedException)
        {
            // Closing a device whose files are already gone (or closed): nothing left to release.
        }
    }
}
