using Microsoft.Extensions.Logging;

namespace Tern.Spool;

/// <summary>
/// The free-space reserve of the spool's file system (Postfix's queue_minfree). Below
/// <see cref="SpoolOptions.MinFreeBytes"/> new messages are refused (452 4.3.1) while everything
/// already accepted keeps its room: delivery records, notices (DSNs), checkpoints and compaction
/// write into the reserve. A full disk would otherwise fail the log's commits for all of them alike.
/// The free space is read with statvfs at most once per <see cref="RefreshMilliseconds"/>, by the
/// first caller after that (no syscall per command); the state is logged once per transition.
/// </summary>
internal sealed partial class SpaceReserve
{
    /// <summary>How long a reading of the free space is used.</summary>
    public const long RefreshMilliseconds = 1000;

    private readonly string _directory;
    private readonly ILogger _log;
    private readonly Lock _transition = new();
    private long _free = long.MaxValue;

    /// <summary>Bytes appended to the log since the last reading: subtracted from it, so a fast stream of mail cannot overrun the reserve between two readings.</summary>
    private long _appended;
    private long _readAt = long.MinValue / 2;
    private int _refreshing;
    private volatile bool _low;
    private bool _unknownLogged;

    public SpaceReserve(string directory, long minFree, ILogger log)
    {
        _directory = directory;
        MinFree = Math.Max(0, minFree);
        _log = log;
    }

    /// <summary>Bytes that must stay free (0: no reserve).</summary>
    public long MinFree { get; }

    /// <summary>Free bytes: the last reading less what the log took since (long.MaxValue when unknown).</summary>
    public long Free
    {
        get
        {
            RefreshIfStale();
            return Estimate;
        }
    }

    private long Estimate => Interlocked.Read(ref _free) is var free && free == long.MaxValue ? free : free - Interlocked.Read(ref _appended);

    /// <summary>The log took <paramref name="bytes"/> more (one atomic add per record).</summary>
    public void Consumed(long bytes) => Interlocked.Add(ref _appended, bytes);

    /// <summary>Below the reserve (at the last reading, or by the estimate since): new messages are refused.</summary>
    public bool Low
    {
        get
        {
            RefreshIfStale();
            return Below;
        }
    }

    private bool Below => _low || (MinFree > 0 && Estimate < MinFree);

    /// <summary>Whether a new message may start: free space above the reserve, with room for its declared size (negative: none declared).</summary>
    public bool HasRoom(long declaredSize, out bool sizeRefused)
    {
        RefreshIfStale();
        sizeRefused = false;
        if (MinFree == 0)
        {
            return true;
        }

        if (!_low && Estimate < MinFree)
        {
            // The estimate crossed the line: a reading now decides (one syscall per crossing).
            ReadUnlessReading();
        }

        // Also when another thread was reading meanwhile (the reading above skipped): the estimate
        // below the line refuses until a reading says otherwise.
        if (Below)
        {
            return false;
        }

        // As Postfix: the declared size must fit in what is free beyond the reserve.
        if (declaredSize > 0 && Estimate - declaredSize < MinFree)
        {
            sizeRefused = true;
            return false;
        }

        return true;
    }

    /// <summary>Reads the free space now (for a checkpoint: a decision worth one syscall).</summary>
    public long ReadNow()
    {
        Read();
        return Interlocked.Read(ref _free);
    }

    private void RefreshIfStale()
    {
        if (Environment.TickCount64 - Interlocked.Read(ref _readAt) < RefreshMilliseconds)
        {
            return;
        }

        // One caller reads; the others use the previous reading meanwhile.
        ReadUnlessReading();
    }

    private void ReadUnlessReading()
    {
        if (!TryBeginRead())
        {
            return;
        }

        try
        {
            Read();
        }
        finally
        {
            EndRead();
        }
    }

    /// <summary>Takes the right to read the free space (one reader at a time); false when another thread has it.</summary>
    internal bool TryBeginRead() => Interlocked.Exchange(ref _refreshing, 1) == 0;

    internal void EndRead() => Volatile.Write(ref _refreshing, 0);

    private void Read()
    {
        long free;
        try
        {
            // statvfs(2) of the spool's directory: the bytes an unprivileged writer may still use.
            free = new DriveInfo(_directory).AvailableFreeSpace;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            if (!_unknownLogged)
            {
                _unknownLogged = true;
                FreeSpaceUnknown(_log, _directory, e.Message);
            }

            free = long.MaxValue;
        }

        Interlocked.Exchange(ref _free, free);
        Interlocked.Exchange(ref _appended, 0);
        Interlocked.Exchange(ref _readAt, Environment.TickCount64);
        // Hysteresis: once below, accepting resumes only an eighth of the reserve above it, so that
        // files coming and going (checkpoints) do not flip the state, and its log line, back and forth.
        var low = MinFree > 0 && free < (_low ? MinFree + (MinFree / 8) : MinFree);
        if (low == _low)
        {
            return;
        }

        lock (_transition)
        {
            if (low == _low)
            {
                return;
            }

            _low = low;
            if (low)
            {
                BelowReserve(_log, _directory, free, MinFree);
            }
            else
            {
                ReserveRestored(_log, _directory, free, MinFree);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "spool disk space below min_free: new messages are refused with 452 4.3.1 until space is freed {directory} {free} {min_free}")]
    private static partial void BelowReserve(ILogger log, string directory, long free, long min_free);

    [LoggerMessage(Level = LogLevel.Warning, Message = "spool disk space back above min_free: accepting messages again {directory} {free} {min_free}")]
    private static partial void ReserveRestored(ILogger log, string directory, long free, long min_free);

    [LoggerMessage(Level = LogLevel.Warning, Message = "spool free space cannot be read; min_free is not enforced {directory} {reason}")]
    private static partial void FreeSpaceUnknown(ILogger log, string directory, string reason);
}
