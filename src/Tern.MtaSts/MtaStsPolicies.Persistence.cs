using System.Text.Json;
using Tern.Dns;
using Tern.Platform;

namespace Tern.MtaSts;

/// <summary>
/// The cache file: loaded once at construction, rewritten whole (temporary file, fsync, rename: see
/// <see cref="LockedFile"/>) after changes, by one background writer that coalesces bursts. The
/// cache is an optimisation and an outage cushion, never a reason to fail: read and write errors are
/// logged and delivery goes on.
/// </summary>
public sealed partial class MtaStsPolicies
{
    private readonly Lock _writerGate = new();
    private readonly Lock _fileGate = new();
    private bool _dirty;
    private bool _writing;
    private Task _writer = Task.CompletedTask;

    /// <summary>
    /// Reads a cache file without a running instance (for the CLI): the entries that are valid, by
    /// domain. Nothing is swept or changed.
    /// </summary>
    /// <param name="cacheDirectory">The <see cref="MtaStsOptions.CacheDirectory"/>.</param>
    /// <exception cref="IOException">The file cannot be read.</exception>
    /// <exception cref="InvalidDataException">The file is not a cache file Tern can read.</exception>
    public static IReadOnlyList<MtaStsCacheEntry> ReadCache(string cacheDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(cacheDirectory);
        var path = Path.Combine(Path.GetFullPath(cacheDirectory), CacheFileName);
        if (!File.Exists(path))
            return [];
        var file = ReadFile(path, out var error) ?? throw new InvalidDataException($"MTA-STS cache {path}: {error}");
        var list = new List<MtaStsCacheEntry>();
        foreach (var stored in file.Entries ?? [])
        {
            if (Restore(stored, out var entry, out _))
                list.Add(entry!.ToPublic());
        }
        list.Sort(static (a, b) => string.CompareOrdinal(a.Domain, b.Domain));
        return list;
    }

    /// <summary>Writes the cache now (waiting for a background write in progress); nothing when memory-only.</summary>
    public async Task FlushAsync()
    {
        if (CachePath is null)
            return;
        Task writer;
        lock (_writerGate)
        {
            writer = _writer;
        }
        await writer;
        await Task.Run(WriteNow);
    }

    private void Load(string path)
    {
        if (!File.Exists(path))
            return;
        var file = ReadFile(path, out var error);
        if (file is null)
        {
            CacheUnreadable(_log, path, error!);
            return;
        }
        foreach (var stored in file.Entries ?? [])
        {
            if (Restore(stored, out var entry, out var entryError))
                _entries[entry!.Domain] = entry;
            else
                EntrySkipped(_log, path, stored?.Domain, entryError!);
        }
        Loaded(_log, path, _entries.Count);
    }

    /// <summary>The parsed file, or null with the reason (unreadable, not JSON, unknown version).</summary>
    private static CacheFile? ReadFile(string path, out string? error)
    {
        CacheFile? file;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            file = JsonSerializer.Deserialize(stream, CacheFileJsonContext.Default.CacheFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or NotSupportedException)
        {
            error = e.Message;
            return null;
        }
        if (file is null || file.Version != CacheFile.CurrentVersion)
        {
            error = $"not a version {CacheFile.CurrentVersion} MTA-STS cache file";
            return null;
        }
        error = null;
        return file;
    }

    /// <summary>An entry from the file, checked as strictly as a fetched one (the policy is parsed again).</summary>
    private static bool Restore(CacheFileEntry? stored, out CacheEntry? entry, out string? error)
    {
        entry = null;
        if (stored?.Domain is not { } domain || !DomainName.TryNormalize(domain, out var normalized, out _) || normalized != domain)
        {
            error = "missing or invalid domain";
            return false;
        }
        if (stored.Policy is { } text)
        {
            if (stored.Id is null || stored.Fetched is not { } fetched || stored.RefreshAt is not { } refreshAt)
            {
                error = "policy without id, fetch or refresh time";
                return false;
            }
            if (!MtaStsPolicy.TryParse(text, stored.Id, out var policy, out error))
                return false;
            entry = new CacheEntry(domain, policy, fetched, refreshAt, stored.Failed, stored.Error, stored.LastUsed, 0);
            return true;
        }
        if (stored.Failed is not { } failed)
        {
            error = "neither a policy nor a failure";
            return false;
        }
        entry = new CacheEntry(domain, null, failed, failed, failed, stored.Error, stored.LastUsed, 0);
        error = null;
        return true;
    }

    /// <summary>Marks the cache changed and makes sure the background writer runs.</summary>
    private void RequestPersist()
    {
        if (CachePath is null)
            return;
        lock (_writerGate)
        {
            _dirty = true;
            if (_writing)
                return;
            _writing = true;
            _writer = Task.Run(WriteLoop);
        }
    }

    private void WriteLoop()
    {
        while (true)
        {
            lock (_writerGate)
            {
                if (!_dirty)
                {
                    _writing = false;
                    return;
                }
                _dirty = false;
            }
            try
            {
                WriteNow();
            }
            catch
            {
                // Anything unexpected: the next change starts a new writer instead of finding this one "running".
                lock (_writerGate)
                {
                    _writing = false;
                }

                throw;
            }
        }
    }

    private void WriteNow()
    {
        var path = CachePath!;
        var file = new CacheFile { Version = CacheFile.CurrentVersion, Entries = Snapshot() };
        lock (_fileGate)
        {
            try
            {
                var locked = new LockedFile(path, "MTA-STS cache", static (message, inner) => new IOException(message, inner));
                using (locked.Lock())
                {
                    locked.Replace(stream => JsonSerializer.Serialize(stream, file, CacheFileJsonContext.Default.CacheFile));
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                WriteFailed(_log, path, e.Message);
            }
        }
    }

    private CacheFileEntry[] Snapshot()
    {
        var list = new List<CacheFileEntry>(_entries.Count);
        foreach (var entry in _entries.Values)
        {
            list.Add(new CacheFileEntry
            {
                Domain = entry.Domain,
                Id = entry.Policy?.Id,
                Policy = entry.Policy?.Text,
                Fetched = entry.Policy is null ? null : entry.Fetched,
                RefreshAt = entry.Policy is null ? null : entry.RefreshAt,
                Failed = entry.Failed,
                Error = entry.Error,
                LastUsed = entry.LastUsed,
            });
        }
        list.Sort(static (a, b) => string.CompareOrdinal(a.Domain, b.Domain));
        return [.. list];
    }

    /// <summary>At most every <see cref="SweepInterval"/>: removes entries unused for <see cref="UnusedLifetime"/> and failures past their backoff.</summary>
    private void SweepIfDue(DateTimeOffset now)
    {
        var due = Interlocked.Read(ref _nextSweepTicks);
        if (now.UtcTicks < due || Interlocked.CompareExchange(ref _nextSweepTicks, (now + SweepInterval).UtcTicks, due) != due)
            return;
        var changed = false;
        foreach (var entry in _entries.Values)
        {
            if (entry.LastUsed + UnusedLifetime <= now)
            {
                changed |= TryRemoveUnchanged(entry);
                Removed(_log, entry.Domain, "not looked up for 180 days");
            }
            else if (entry.Policy is null && !entry.InBackoff(now))
            {
                changed |= TryRemoveUnchanged(entry);
            }
        }
        if (changed)
            RequestPersist();
    }

    private bool TryRemoveUnchanged(CacheEntry entry)
    {
        lock (_gate)
        {
            return _entries.TryRemove(KeyValuePair.Create(entry.Domain, entry));
        }
    }
}
