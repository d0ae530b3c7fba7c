using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Tern.Delivery;

/// <summary>
/// The file: read once at open, replaced atomically (temporary file, fsync, rename, directory
/// fsync; mode 0600) by a timer when the table changed, and at <see cref="Dispose"/>.
/// </summary>
public sealed partial class DomainTlsHistory
{
    /// <summary>A larger file is not ours (10,000 domains take about 1 MiB).</summary>
    private const long MaxFileBytes = 64L << 20;

    private readonly Platform.LockedFile _file;
    private readonly TimeProvider _clock;
    private readonly Lock _writing = new();
    private ITimer? _timer;
    private int _changed;
    private bool _failing;
    private bool _disposed;

    /// <summary>Where the history is kept.</summary>
    public string FilePath { get; }

    /// <summary>
    /// Reads the file (missing: empty; unreadable: logged, empty) and starts the timer that writes
    /// changes. Never throws for the file's content: the history is a hint, not worth refusing to start.
    /// </summary>
    public static DomainTlsHistory Open(string path, DomainTlsHistoryOptions? options = null, ILogger? log = null, TimeProvider? clock = null)
    {
        options ??= new DomainTlsHistoryOptions();
        var history = new DomainTlsHistory(path, options, log ?? NullLogger.Instance, clock ?? TimeProvider.System);
        history.Load();
        history._timer = history._clock.CreateTimer(static state => ((DomainTlsHistory)state!).Tick(), history, options.WriteInterval, options.WriteInterval);
        return history;
    }

    /// <summary>Whether a change waits for the next write.</summary>
    public bool HasUnwrittenChanges => Volatile.Read(ref _changed) != 0;

    /// <summary>
    /// Writes the table now if it changed since the last write (the timer does this; tests and
    /// shutdown call it). A failure is logged and the change stays pending for the next try.
    /// </summary>
    /// <returns>Whether the file is up to date.</returns>
    public bool Flush()
    {
        lock (_writing)
        {
            if (Interlocked.Exchange(ref _changed, 0) == 0)
            {
                return true;
            }

            var file = new DomainTlsFile
            {
                Version = DomainTlsFile.CurrentVersion,
                Domains = [.. Sorted().Select(r => new DomainTlsFileEntry
                {
                    Domain = r.Domain,
                    LastDelivery = r.LastDelivery,
                    StartTls = r.StartTls,
                    Verified = r.Verified,
                    RequireTls = r.RequireTls,
                })],
            };
            try
            {
                _file.Replace(stream => JsonSerializer.Serialize(stream, file, DomainTlsJsonContext.Default.DomainTlsFile));
                if (_failing)
                {
                    _failing = false;
                    WriteRecovered(_log, FilePath);
                }

                return true;
            }
            catch (IOException e)
            {
                // Kept for the next tick; logged once per outage, not every few seconds.
                Volatile.Write(ref _changed, 1);
                if (!_failing)
                {
                    _failing = true;
                    WriteFailed(_log, FilePath, e.Message);
                }

                return false;
            }
        }
    }

    /// <summary>Stops the timer and writes what changed since the last write.</summary>
    public void Dispose()
    {
        lock (_writing)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        _timer?.Dispose();
        Flush();
    }

    private void MarkChanged() => Volatile.Write(ref _changed, 1);

    private void Tick()
    {
        if (HasUnwrittenChanges)
        {
            Flush();
        }
    }

    private void Load()
    {
        DomainTlsFile? file;
        try
        {
            var info = new FileInfo(FilePath);
            if (!info.Exists)
            {
                return;
            }

            if (info.Length > MaxFileBytes)
            {
                Unreadable(_log, FilePath, $"{info.Length} bytes, more than this file ever holds");
                return;
            }

            using var stream = File.OpenRead(FilePath);
            file = JsonSerializer.Deserialize(stream, DomainTlsJsonContext.Default.DomainTlsFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            Unreadable(_log, FilePath, e.Message);
            return;
        }

        if (file is null || file.Version != DomainTlsFile.CurrentVersion)
        {
            Unreadable(_log, FilePath, file is null ? "null instead of an object" : $"version {file.Version}, this Tern reads version {DomainTlsFile.CurrentVersion}");
            return;
        }

        // The newest first, so that a file from a larger cap keeps the most recent domains.
        var skipped = 0;
        foreach (var e in (file.Domains ?? []).OrderByDescending(e => e.LastDelivery))
        {
            if (e is null || Normalize(e.Domain ?? string.Empty) is not { } domain || Volatile.Read(ref _count) >= _max)
            {
                skipped++;
                continue;
            }

            if (_domains.TryAdd(domain, new DomainTlsRecord(domain, e.LastDelivery, e.StartTls, e.Verified, e.RequireTls)))
            {
                _count++;
            }
            else
            {
                skipped++;
            }
        }

        if (skipped > 0)
        {
            // Rewritten without them.
            MarkChanged();
        }

        Loaded(_log, FilePath, _count, skipped);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "domain TLS history loaded {file} {domains} {skipped}")]
    private static partial void Loaded(ILogger log, string file, int domains, int skipped);

    [LoggerMessage(Level = LogLevel.Error, Message = "domain TLS history unreadable, starting empty {file} {error}")]
    private static partial void Unreadable(ILogger log, string file, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "domain TLS history not written, retrying {file} {error}")]
    private static partial void WriteFailed(ILogger log, string file, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "domain TLS history written again {file}")]
    private static partial void WriteRecovered(ILogger log, string file);
}
