using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Win32.SafeHandles;

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
}
