using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Win32.SafeHandles;
using Tern.Platform;

namespace Tern.Suppression;

/// <summary>
/// The suppression list: recipients that mail is no longer attempted to. An address is suppressed
/// at once by a permanent failure that says the mailbox is gone or refuses us
/// (<see cref="SuppressionRules.SuppressesAtOnce(string)"/>), after <see cref="Threshold"/>
/// consecutive permanent failures of any other kind, or by the operator.
/// </summary>
/// <remarks>
/// <para>Addresses are compared whole, ignoring the case of ASCII letters only (see
/// <see cref="AddressComparer"/>): <c>Bob@Example.ORG</c> and <c>bob@example.org</c> are one
/// entry, which keeps the spelling it was first recorded with.</para>
/// <para>Lookups (<see cref="TryGet"/>, <see cref="Count"/>) take no lock and allocate nothing.
/// Changes are rare; they are serialised by one lock that is never held while waiting for the
/// disk. Each is made in memory and queued as a line of a journal (format: <see cref="Journal"/>),
/// and the call returns once that line is written and fsynced. Concurrent changes share the write
/// and the fsync (group commit: the first to commit writes every queued line, the others wait for
/// it). A change is visible to lookups a moment before it is durable; if the journal cannot be
/// written the call throws, and the change stays in memory only (until a restart). The journal is
/// replayed by <see cref="Open"/> and rewritten (temporary file, fsync, rename, directory fsync)
/// once it grows past twice the size of what it describes. A crash can leave a torn last line: it
/// is dropped at the next open (<see cref="DiscardedTornBytes"/>, and a warning), since its change
/// never returned.</para>
/// <para>Failure counts of addresses that are not (yet) suppressed are kept for at most
/// <see cref="MaxTracked"/> addresses; past that the one that failed longest ago is forgotten.</para>
/// </remarks>
public sealed partial class SuppressionList : IDisposable
{
    /// <summary>The file's name in the data directory.</summary>
    public const string FileName = "suppression.tsv";

    public const int DefaultThreshold = 3;

    public const int DefaultMaxTracked = 100_000;

    /// <summary>RFC 5321 section 4.5.3.1.3: a path is at most 256 octets, an address inside it 254.</summary>
    public const int MaxAddressOctets = 254;

    /// <summary>Longer reasons (a remote server's reply, an operator's text) are cut to this many characters.</summary>
    public const int MaxReasonLength = 4000;

    /// <summary>A page holds at most this many entries.</summary>
    public const int MaxPageSize = 100_000;

    private const UnixFileMode PrivateFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly ConcurrentDictionary<string, SuppressionEntry> _entries = new(AddressComparer.Instance);

    /// <summary>Failure counts; changed under <see cref="_write"/>, read without it (the fast path of <see cref="RecordDelivered"/>).</summary>
    private readonly ConcurrentDictionary<string, LinkedListNode<Counter>> _counters = new(AddressComparer.Instance);

    /// <summary>The counters, least recently failed first (under <see cref="_write"/>).</summary>
    private readonly LinkedList<Counter> _counterOrder = new();

    /// <summary>Serialises changes to the in-memory state and to <see cref="_pending"/>. Never held while waiting for the disk.</summary>
    private readonly Lock _write = new();

    /// <summary>
    /// Guards <see cref="_flushing"/> and <see cref="_durable"/>; committers wait on it (Monitor) for
    /// their change to become durable. Never taken while holding <see cref="_write"/>.
    /// </summary>
    private readonly object _flushSync = new();

    /// <summary>Lines of changes made in memory and not yet written to the file (under <see cref="_write"/>).</summary>
    private readonly MemoryStream _pending = new();

    private readonly TimeProvider _clock;
    private readonly ILogger _log;
    private readonly string _directory;
    private readonly string _tempPath;

    /// <summary>The journal file (replaced by compaction; the flusher's).</summary>
    private SafeFileHandle _journal;

    /// <summary>The journal's length up to its last complete line: where the next lines go (by the flusher).</summary>
    private long _length;

    /// <summary>A write failed part way: the bytes after <see cref="_length"/> must be cut before the next (by the flusher).</summary>
    private bool _tornWrite;

    /// <summary>What a compacted journal would take: header, entries, counters (under <see cref="_write"/>).</summary>
    private long _liveBytes;

    /// <summary>Changes made (under <see cref="_write"/>), and changes known to be on disk (under <see cref="_flushSync"/>).</summary>
    private long _appended;
    private long _durable;

    /// <summary>
    /// One thread (the flusher) owns the file: it writes, fsyncs, compacts, swaps the handle, and
    /// alone touches <see cref="_journal"/>, <see cref="_length"/> and <see cref="_tornWrite"/>.
    /// Taken with <see cref="EnterFlush"/> (which may wait on <see cref="_flushSync"/>), given back
    /// with <see cref="ExitFlush"/>.
    /// </summary>
    private bool _flushing;

    private int _count;
    private long _version;
    private SortedSnapshot? _sorted;
    private bool _disposed;

    private SuppressionList(string path, TimeProvider clock, int threshold, int maxTracked, ILogger log, SafeFileHandle journal)
    {
        FilePath = path;
        _directory = Path.GetDirectoryName(path)!;
        _tempPath = path + ".tmp";
        _clock = clock;
        Threshold = threshold;
        MaxTracked = maxTracked;
        _log = log;
        _journal = journal;
    }

    /// <summary>The journal file (absolute).</summary>
    public string FilePath { get; }

    /// <summary>Consecutive permanent failures that suppress an address whose failures do not suppress it at once.</summary>
    public int Threshold { get; }

    /// <summary>At most this many not-yet-suppressed addresses have their failures counted.</summary>
    public int MaxTracked { get; }

    /// <summary>How many addresses are suppressed.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>How many addresses have failures counted without being suppressed.</summary>
    public int TrackedFailures
    {
        get
        {
            lock (_write)
            {
                return _counterOrder.Count;
            }
        }
    }

    /// <summary>
    /// The size of the unterminated last line <see cref="Open"/> found and dropped (a write cut short
    /// by a crash; its change had not returned), or 0.
    /// </summary>
    public long DiscardedTornBytes { get; private set; }

    /// <summary>How many times the journal was rewritten since <see cref="Open"/>.</summary>
    public int Compactions { get; private set; }

    /// <summary>The journal's current size in bytes.</summary>
    public long JournalBytes
    {
        get
        {
            lock (_write)
            {
                return Volatile.Read(ref _length) + _pending.Length;
            }
        }
    }

    /// <summary>fsyncs of the journal for changes (group commit makes them fewer than the changes).</summary>
    internal long Flushes { get; private set; }

    /// <summary>The journal is rewritten once it is larger than twice its live size and at least this large.</summary>
    internal long CompactionMinBytes { get; set; } = 64 * 1024;

    /// <summary>The suppression file of a data directory.</summary>
    public static string PathIn(string dataDirectory) => Path.Combine(dataDirectory, FileName);

    /// <summary>
    /// Opens the list at <paramref name="path"/>, replaying its journal, or creates an empty one
    /// (mode 0600). The directory must exist.
    /// </summary>
    /// <param name="path">The journal, e.g. <c>DATA/suppression.tsv</c> (<see cref="PathIn"/>).</param>
    /// <param name="clock">For the time an address is suppressed.</param>
    /// <param name="threshold">Consecutive permanent failures that suppress an address (1 to 100).</param>
    /// <param name="log">Torn lines, compactions, suppressions.</param>
    /// <param name="maxTracked">At most this many addresses have their failures counted (at least 1).</param>
    /// <exception cref="SuppressionStoreException">The file cannot be opened, or a line is corrupt (the message names the file and the line).</exception>
    public static SuppressionList Open(string path, TimeProvider? clock = null, int threshold = DefaultThreshold, ILogger? log = null, int maxTracked = DefaultMaxTracked)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentOutOfRangeException.ThrowIfLessThan(threshold, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(threshold, 100);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTracked, 1);
        var full = Path.GetFullPath(path);
        log ??= NullLogger.Instance;

        SafeFileHandle handle;
        try
        {
            if (!File.Exists(full) || new FileInfo(full).Length == 0)
            {
                CreateEmpty(full);
            }

            handle = File.OpenHandle(full, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SuppressionStoreException($"suppression list {full}: cannot open: {e.Message}", e);
        }

        var list = new SuppressionList(full, clock ?? TimeProvider.System, threshold, maxTracked, log, handle);
        try
        {
            list.Replay();
        }
        catch
        {
            handle.Dispose();
            throw;
        }

        if (list.NeedsCompaction())
        {
            try
            {
                list.Compact();
            }
            catch (SuppressionStoreException e)
            {
                // Not a reason to refuse to start: the journal as it is works.
                CompactionFailed(log, full, e.Message);
            }
        }

        return list;
    }

    /// <summary>
    /// Whether <paramref name="address"/> is suppressed, and why. Lock-free and allocation-free:
    /// the delivery workers' check before every attempt.
    /// </summary>
    public bool TryGet(string address, [MaybeNullWhen(false)] out SuppressionEntry entry)
    {
        if (Volatile.Read(ref _count) == 0)
        {
            entry = null;
            return false;
        }

        return _entries.TryGetValue(address, out entry);
    }

    /// <summary>The consecutive permanent failures counted for an address that is not suppressed (0 when none).</summary>
    public int FailureCount(string address) => _counters.TryGetValue(address, out var node) ? Volatile.Read(ref node.Value.Count) : 0;

    /// <summary>
    /// Records a permanent failure of delivery to <paramref name="address"/>. Suppresses it at once
    /// when the reply says so (<see cref="SuppressionRules.SuppressesAtOnce(string)"/>), else counts
    /// the failure and suppresses it at the <see cref="Threshold"/>-th consecutive one. A reply that
    /// is not a 5xx (a 4xx, or text without a reply code) is ignored. Durable when it returns.
    /// </summary>
    /// <param name="address">The recipient.</param>
    /// <param name="reply">The full reply text, first line "550 5.1.1 ...", possibly more lines.</param>
    /// <returns>The entry when the address is now suppressed (also when it already was), else null.</returns>
    /// <exception cref="SuppressionStoreException">The journal cannot be written.</exception>
    public SuppressionEntry? RecordPermanentFailure(string address, string reply)
    {
        ArgumentException.ThrowIfNullOrEmpty(address);
        ArgumentNullException.ThrowIfNull(reply);
        if (!SuppressionRules.TryParse(reply, out var code) || !code.IsPermanent)
        {
            return null;
        }

        if (TryGet(address, out var existing))
        {
            return existing;
        }

        SuppressionEntry? suppressed = null;
        long commit;
        lock (_write)
        {
            ThrowIfDisposed();
            if (_entries.TryGetValue(address, out existing))
            {
                return existing;
            }

            var text = Reason(reply);
            if (SuppressionRules.SuppressesAtOnce(code))
            {
                suppressed = new SuppressionEntry(address, text, Now(), SuppressionSource.Bounce);
            }
            else
            {
                var failures = FailureCount(address) + 1;
                if (failures >= Threshold)
                {
                    // Spelt as when its failures were first counted.
                    var spelling = _counters.TryGetValue(address, out var node) ? node.Value.Address : address;
                    var why = failures == 1 ? text : $"{failures} consecutive permanent failures, the last: {text}";
                    suppressed = new SuppressionEntry(spelling, Cut(why), Now(), SuppressionSource.RepeatedFailures);
                }
                else
                {
                    Append(Journal.CountLine(address, failures));
                    SetCounter(address, failures);
                }
            }

            if (suppressed is not null)
            {
                Append(Journal.AddLine(suppressed));
                Suppress(suppressed);
            }

            commit = _appended;
        }

        Commit(commit);
        if (suppressed is not null)
        {
            Suppressed(_log, suppressed.Address, Journal.SourceName(suppressed.Source), code.ToString());
        }

        return suppressed;
    }

    /// <summary>
    /// Records a delivery to <paramref name="address"/>: its consecutive failures start again from 0.
    /// Costs nothing (no lock, no I/O) for an address without counted failures.
    /// </summary>
    /// <exception cref="SuppressionStoreException">The journal cannot be written.</exception>
    public void RecordDelivered(string address)
    {
        ArgumentException.ThrowIfNullOrEmpty(address);
        if (!_counters.ContainsKey(address))
        {
            return;
        }

        long commit;
        lock (_write)
        {
            ThrowIfDisposed();
            if (!_counters.ContainsKey(address))
            {
                return;
            }

            Append(Journal.CountLine(address, 0));
            RemoveCounter(address);
            commit = _appended;
        }

        Commit(commit);
    }

    /// <summary>Suppresses an address on the operator's word. Durable when it returns.</summary>
    /// <param name="address">The address (see <see cref="CheckAddress"/>).</param>
    /// <param name="reason">Why (given to senders in the failure notice); empty: "suppressed by the operator".</param>
    /// <returns>False when the address is already suppressed (the entry is left as it is).</returns>
    /// <exception cref="ArgumentException">Not an address.</exception>
    /// <exception cref="SuppressionStoreException">The journal cannot be written.</exception>
    public bool Add(string address, string reason)
    {
        if (CheckAddress(address) is { } problem)
        {
            throw new ArgumentException(problem, nameof(address));
        }

        long commit;
        lock (_write)
        {
            ThrowIfDisposed();
            if (_entries.ContainsKey(address))
            {
                return false;
            }

            var entry = new SuppressionEntry(address, string.IsNullOrWhiteSpace(reason) ? "suppressed by the operator" : Reason(reason), Now(), SuppressionSource.Operator);
            Append(Journal.AddLine(entry));
            Suppress(entry);
            commit = _appended;
        }

        Commit(commit);
        return true;
    }

    /// <summary>
    /// Takes an address off the list and forgets its failure count: mail to it is attempted again.
    /// Durable when it returns.
    /// </summary>
    /// <returns>False when the address was not suppressed.</returns>
    /// <exception cref="SuppressionStoreException">The journal cannot be written.</exception>
    public bool Remove(string address)
    {
        ArgumentException.ThrowIfNullOrEmpty(address);
        bool removed;
        long commit;
        lock (_write)
        {
            ThrowIfDisposed();
            removed = _entries.ContainsKey(address);
            if (!removed && !_counters.ContainsKey(address))
            {
                return false;
            }

            Append(Journal.RemoveLine(address));
            Unsuppress(address);
            RemoveCounter(address);
            commit = _appended;
        }

        Commit(commit);
        return removed;
    }

    /// <summary>One page of suppressed addresses in address order (ASCII case ignored).</summary>
    /// <param name="contains">Only addresses containing this text (case ignored); null: all.</param>
    /// <param name="limit">At most this many (1 to <see cref="MaxPageSize"/>).</param>
    /// <param name="after">Only addresses after this one (the previous page's last).</param>
    public IReadOnlyList<SuppressionEntry> List(string? contains = null, int limit = 100, string? after = null) => Page(contains, limit, after).Entries;

    /// <summary>As <see cref="List"/>, with the total that match <paramref name="contains"/> and the cursor of the next page.</summary>
    public SuppressionPage Page(string? contains = null, int limit = 100, string? after = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(limit, MaxPageSize);
        if (contains is { Length: 0 })
        {
            contains = null;
        }

        var sorted = Sorted();
        var start = 0;
        if (after is not null)
        {
            // The first entry ordered after the cursor (which need not be on the list any more).
            var lo = 0;
            var hi = sorted.Length;
            while (lo < hi)
            {
                var mid = (lo + hi) >>> 1;
                if (AddressComparer.Instance.Compare(sorted[mid].Address, after) <= 0)
                {
                    lo = mid + 1;
                }
                else
                {
                    hi = mid;
                }
            }

            start = lo;
        }

        var entries = new List<SuppressionEntry>(Math.Min(limit, sorted.Length - start));
        var total = 0;
        var more = false;
        for (var i = 0; i < sorted.Length; i++)
        {
            if (contains is not null && !sorted[i].Address.Contains(contains, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            total++;
            if (i < start)
            {
                continue;
            }

            if (entries.Count < limit)
            {
                entries.Add(sorted[i]);
            }
            else
            {
                more = true;
            }
        }

        return new SuppressionPage(entries, total, more ? entries[^1].Address : null);
    }

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

    /// <summary>
    /// Writes what is still pending and closes the journal. Lookups keep working; changes throw
    /// <see cref="ObjectDisposedException"/>.
    /// </summary>
    public void Dispose()
    {
        EnterFlush(long.MaxValue);
        try
        {
            if (_disposed)
            {
                return;
            }

            try
            {
                WritePending();
            }
            catch (SuppressionStoreException e)
            {
                // Their callers got (or get) the same error from their own commit.
                CloseFailed(_log, FilePath, e.Message);
            }

            lock (_write)
            {
                _disposed = true;
            }

            _journal.Dispose();
        }
        finally
        {
            ExitFlush();
        }
    }

    /// <summary>
    /// What is wrong with an address an operator typed, or null: it must have an '@' with text on
    /// both sides, no white space or control characters, and at most <see cref="MaxAddressOctets"/>
    /// octets in UTF-8.
    /// </summary>
    /// <param name="address">The address.</param>
    /// <param name="allowSpaces">
    /// Accept white space (for finding an entry: a delivery may have recorded an address with a
    /// quoted local part such as <c>"john doe"@example.com</c>).
    /// </param>
    public static string? CheckAddress(string? address, bool allowSpaces = false)
    {
        if (string.IsNullOrEmpty(address))
        {
            return "the address is empty";
        }

        foreach (var c in address)
        {
            if (char.IsControl(c) || (char.IsWhiteSpace(c) && !allowSpaces))
            {
                return $"\"{Printable(address)}\" is not an address: it contains {(char.IsWhiteSpace(c) && !char.IsControl(c) ? "white space" : "a control character")}";
            }
        }

        var at = address.LastIndexOf('@');
        if (at <= 0 || at == address.Length - 1)
        {
            return $"\"{Printable(address)}\" is not an address: expected local-part@domain";
        }

        var octets = Encoding.UTF8.GetByteCount(address);
        return octets > MaxAddressOctets ? $"the address is {octets} octets long; at most {MaxAddressOctets} are allowed" : null;
    }

    private static string Printable(string text)
    {
        var escaped = Journal.Escape(text);
        return escaped.Length <= 64 ? escaped : string.Concat(escaped.AsSpan(0, 64), "...");
    }

    /// <summary>The reply (or reason) as stored: without trailing line breaks, at most <see cref="MaxReasonLength"/> characters.</summary>
    private static string Reason(string text) => Cut(text.TrimEnd('\r', '\n', ' ', '\t'));

    private static string Cut(string text) => text.Length <= MaxReasonLength ? text : string.Concat(text.AsSpan(0, MaxReasonLength - 3), "...");

    /// <summary>Now, to the millisecond the journal keeps (so an entry reads back as it was).</summary>
    private DateTimeOffset Now()
    {
        var now = _clock.GetUtcNow();
        return new DateTimeOffset(now.UtcTicks - (now.UtcTicks % TimeSpan.TicksPerMillisecond), TimeSpan.Zero);
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    // ---- in-memory state (under _write) ----

    private void Suppress(SuppressionEntry entry)
    {
        RemoveCounter(entry.Address);
        if (_entries.TryGetValue(entry.Address, out var old))
        {
            _liveBytes -= Journal.Bytes(Journal.AddLine(old));
        }
        else
        {
            Volatile.Write(ref _count, _count + 1);
        }

        _entries[entry.Address] = entry;
        _liveBytes += Journal.Bytes(Journal.AddLine(entry));
        Changed();
    }

    private void Unsuppress(string address)
    {
        if (_entries.TryRemove(address, out var old))
        {
            _liveBytes -= Journal.Bytes(Journal.AddLine(old));
            Volatile.Write(ref _count, _count - 1);
            Changed();
        }
    }

    private void SetCounter(string address, int count)
    {
        if (count <= 0)
        {
            RemoveCounter(address);
            return;
        }

        var bytes = Journal.Bytes(Journal.CountLine(address, count));
        if (_counters.TryGetValue(address, out var node))
        {
            _liveBytes += bytes - node.Value.LineBytes;
            Volatile.Write(ref node.Value.Count, count);
            node.Value.LineBytes = bytes;

            // The most recently failed go last; the first is forgotten first.
            _counterOrder.Remove(node);
            _counterOrder.AddLast(node);
            return;
        }

        node = _counterOrder.AddLast(new Counter(address, count, bytes));
        _counters[address] = node;
        _liveBytes += bytes;
        while (_counterOrder.Count > MaxTracked)
        {
            var oldest = _counterOrder.First!;
            _counterOrder.RemoveFirst();
            _counters.TryRemove(oldest.Value.Address, out _);
            _liveBytes -= oldest.Value.LineBytes;
        }
    }

    private void RemoveCounter(string address)
    {
        if (_counters.TryRemove(address, out var node))
        {
            _counterOrder.Remove(node);
            _liveBytes -= node.Value.LineBytes;
        }
    }

    private void Changed()
    {
        Interlocked.Increment(ref _version);
        Volatile.Write(ref _sorted, null);
    }

    /// <summary>The entries in address order; rebuilt after a change, without blocking writers.</summary>
    private SuppressionEntry[] Sorted()
    {
        var version = Volatile.Read(ref _version);
        if (Volatile.Read(ref _sorted) is { } cached && cached.Version == version)
        {
            return cached.Entries;
        }

        var entries = _entries.Values.ToArray();
        Array.Sort(entries, static (a, b) => AddressComparer.Instance.Compare(a.Address, b.Address));
        Volatile.Write(ref _sorted, new SortedSnapshot(version, entries));
        return entries;
    }

    // ---- the journal ----

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

    // ---- replay ----

    private void Replay()
    {
        long offset = 0;
        var lineNumber = 0;
        var buffer = new byte[64 * 1024];
        var used = 0;
        var fileLength = RandomAccess.GetLength(_journal);
        long read = 0;
        var utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        while (true)
        {
            if (used == buffer.Length)
            {
                Array.Resize(ref buffer, buffer.Length * 2);
            }

            var n = read < fileLength ? RandomAccess.Read(_journal, buffer.AsSpan(used), read) : 0;
            read += n;
            used += n;
            var start = 0;
            while (true)
            {
                var nl = buffer.AsSpan(start, used - start).IndexOf((byte)'\n');
                if (nl < 0)
                {
                    break;
                }

                lineNumber++;
                var bytes = buffer.AsSpan(start, nl);
                if (bytes.EndsWith("\r"u8))
                {
                    bytes = bytes[..^1];
                }

                string line;
                try
                {
                    line = utf8.GetString(bytes);
                }
                catch (DecoderFallbackException)
                {
                    throw Corrupt(lineNumber, "not UTF-8");
                }

                Apply(line, lineNumber);
                start += nl + 1;
                offset += nl + 1;
            }

            if (start > 0)
            {
                buffer.AsSpan(start, used - start).CopyTo(buffer);
                used -= start;
            }

            if (n == 0)
            {
                break;
            }
        }

        if (lineNumber == 0)
        {
            // Not even a complete header. A file cut short while it was being created holds a
            // prefix of the header (nothing else was ever in it): start it again; anything else
            // is not ours.
            var header = Encoding.UTF8.GetBytes(Journal.Header + "\n");
            if (!header.AsSpan().StartsWith(buffer.AsSpan(0, used)))
            {
                throw Corrupt(1, $"not a Tern suppression list (no header line \"{Journal.Escape(Journal.Header)}\")");
            }

            try
            {
                RandomAccess.SetLength(_journal, 0);
                RandomAccess.Write(_journal, header, 0);
                RandomAccess.FlushToDisk(_journal);
            }
            catch (IOException e)
            {
                throw new SuppressionStoreException($"suppression list {FilePath}: cannot write the header: {e.Message}", e);
            }

            DiscardedTornBytes = used;
            _length = header.Length;
            _liveBytes = header.Length;
            return;
        }

        _length = offset;
        if (used > 0)
        {
            // A line without its newline: the write was cut short by a crash, so the change it
            // carried never returned to its caller. Dropped, and cut off so appends start clean.
            DiscardedTornBytes = used;
            TornLine(_log, FilePath, lineNumber + 1, used);
            try
            {
                RandomAccess.SetLength(_journal, _length);
                RandomAccess.FlushToDisk(_journal);
            }
            catch (IOException e)
            {
                throw new SuppressionStoreException($"suppression list {FilePath}: cannot cut the torn line {lineNumber + 1}: {e.Message}", e);
            }
        }

        _version++;
    }

    private void Apply(string line, int lineNumber)
    {
        var fields = line.Split('\t');
        if (lineNumber == 1)
        {
            if (line != Journal.Header)
            {
                throw Corrupt(1, $"not a Tern suppression list (expected the header \"{Journal.Escape(Journal.Header)}\")");
            }

            _liveBytes = Journal.Bytes(line);
            return;
        }

        switch (fields[0])
        {
            case Journal.Add when fields.Length == 5:
            {
                var address = Field(fields[1], lineNumber, "address");
                if (!DateTimeOffset.TryParseExact(fields[2], "yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var since))
                {
                    throw Corrupt(lineNumber, $"bad time \"{Journal.Escape(fields[2])}\"");
                }

                if (!Journal.TryParseSource(fields[3], out var source))
                {
                    throw Corrupt(lineNumber, $"unknown source \"{Journal.Escape(fields[3])}\"");
                }

                Suppress(new SuppressionEntry(address, Field(fields[4], lineNumber, "reason"), since, source));
                break;
            }

            case Journal.Remove when fields.Length == 2:
            {
                var address = Field(fields[1], lineNumber, "address");
                Unsuppress(address);
                RemoveCounter(address);
                break;
            }

            case Journal.Count when fields.Length == 3:
            {
                var address = Field(fields[1], lineNumber, "address");
                if (!int.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out var count))
                {
                    throw Corrupt(lineNumber, $"bad count \"{Journal.Escape(fields[2])}\"");
                }

                SetCounter(address, count);
                break;
            }

            case Journal.Add or Journal.Remove or Journal.Count:
                throw Corrupt(lineNumber, $"{fields[0]}: expected {(fields[0] == Journal.Add ? 5 : fields[0] == Journal.Remove ? 2 : 3)} tab-separated fields, found {fields.Length}");

            default:
                throw Corrupt(lineNumber, $"unknown record \"{Printable(fields[0])}\"");
        }
    }

    private string Field(string text, int lineNumber, string name)
    {
        var value = Journal.Unescape(text, out var error) ?? throw Corrupt(lineNumber, $"{name}: {error}");
        return name == "address" && value.Length == 0 ? throw Corrupt(lineNumber, "empty address") : value;
    }

    private SuppressionStoreException Corrupt(int lineNumber, string problem) =>
        new($"suppression list {FilePath}:{lineNumber}: {problem} (fix or delete that line, or move the file away to start with an empty list)");

    [LoggerMessage(Level = LogLevel.Information, Message = "address suppressed {address} {source} {code}")]
    private static partial void Suppressed(ILogger log, string address, string source, string code);

    [LoggerMessage(Level = LogLevel.Warning, Message = "suppression list torn last line dropped {path} {line} {bytes}")]
    private static partial void TornLine(ILogger log, string path, int line, int bytes);

    [LoggerMessage(Level = LogLevel.Information, Message = "suppression list compacted {path} {before} {after}")]
    private static partial void Compacted(ILogger log, string path, long before, long after);

    [LoggerMessage(Level = LogLevel.Warning, Message = "suppression list not fully written at close {path} {error}")]
    private static partial void CloseFailed(ILogger log, string path, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "suppression list compaction failed {path} {error}")]
    private static partial void CompactionFailed(ILogger log, string path, string error);

    /// <summary>A not-yet-suppressed address's consecutive permanent failures.</summary>
    private sealed class Counter(string address, int count, int lineBytes)
    {
        public readonly string Address = address;
        public int Count = count;
        public int LineBytes = lineBytes;
    }

    private sealed record SortedSnapshot(long Version, SuppressionEntry[] Entries);
}
