using System.Collections.Concurrent;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Tern.Scheduler;

/// <summary>
/// A hierarchical timing wheel of next-attempt times: Schedule, Cancel and Reschedule in O(1), and
/// Advance hands out every entry whose time has come in O(1) amortised per entry, whatever the
/// number of entries scheduled (Varghese and Lauck's scheme 7, with occupancy bitmaps so that idle
/// time is skipped instead of walked tick by tick).
/// </summary>
/// <remarks>
/// <para><b>Time.</b> Times are plain <c>long</c>s in whatever monotonic unit the owner uses
/// (milliseconds, <see cref="TimeProvider.GetTimestamp"/> units, ...); <c>resolution</c> is one tick in
/// that unit. A due time is rounded <i>up</i> to its tick, so an entry is never handed out before its
/// due time and at most one resolution after the first Advance that reaches it. Entries whose tick has
/// already been passed (due at or before the latest time given to Advance) are due at once. Entries
/// come out in tick order when Advance is called every tick; the order among the entries one call hands
/// out is otherwise not specified. No timers inside: the owner calls Advance.</para>
/// <para><b>Levels.</b> <c>levels</c> wheels of 2^<c>bitsPerLevel</c> slots (defaults 4 x 256), level L
/// slot s holding the entries whose tick shares every digit above L with the current tick and has digit
/// L = s. The defaults span 2^32 ticks: 13.6 years at 100 ms, 49 days at 1 ms. Beyond that an entry
/// waits in an overflow list that is re-bucketed each time the top level wraps. An entry moves down at
/// most once per level, so its total cost is bounded by the level count.</para>
/// <para><b>Concurrency.</b> One owner thread (the scheduler's loop) calls every member except
/// <see cref="Post"/>; there is no lock anywhere. Any number of other threads (SMTP sessions, delivery
/// workers) call <see cref="Post"/>, which enqueues into a lock-free MPSC inbox (a
/// <see cref="ConcurrentQueue{T}"/> of structs: its segments are reused ring buffers, so it allocates
/// only while the inbox grows past its largest backlog so far); the owner drains it into the wheel at
/// the start of every Advance/TryTakeDue (or <see cref="DrainInbox"/>). A posted entry gets no handle:
/// what must be cancellable is scheduled by the owner, which keeps the handle with the entry's state
/// (posters send it a command instead), or the item carries a generation the owner checks when due.</para>
/// <para><b>Memory.</b> Entries live in arrays of structs (chunks of 65,536 nodes, allocated as the count
/// grows and then reused through a free list): 16 bytes of links and version plus the due time and
/// <typeparamref name="T"/>, 24 bytes per entry for an <c>int</c> item. Nothing is allocated per operation
/// once the pool and the inbox have reached their high-water marks.</para>
/// </remarks>
public sealed class TimingWheel<T>
{
    private const int ChunkShift = 16;
    private const int ChunkSize = 1 << ChunkShift;
    private const int ChunkMask = ChunkSize - 1;

    /// <summary>Marks a node on the free list (a linked node's Prev is always a valid index).</summary>
    private const int FreeMark = -1;

    private readonly long _resolution;
    private readonly int _bitsPerLevel;
    private readonly int _levels;
    private readonly int _slotMask;
    private readonly int _wordsPerLevel;

    // List heads are sentinel nodes at the start of the pool, so that every list is circular and an
    // entry can be unlinked without knowing which list holds it (no per-entry bucket field).
    private readonly int _ready;     // due, waiting to be handed out
    private readonly int _handout;   // detached from _ready by the Advance in progress
    private readonly int _overflow;  // beyond the top level's span
    private readonly int _sentinels;

    /// <summary>One bit per slot and level: set while the slot's list is not empty.</summary>
    private readonly ulong[] _occupied;

    /// <summary>Level of an entry by the highest bit in which its tick differs from the current one.</summary>
    private readonly byte[] _levelOfBit = new byte[64];

    private readonly ConcurrentQueue<Posted> _inbox = new();

    private Node[][] _chunks;
    private int _chunkCount;
    private int _allocated;
    private int _freeHead = FreeMark;
    private int _count;

    /// <summary>The next tick to process: every tick before it has been moved to the due list.</summary>
    private long _current;

    /// <summary>The latest time Advance was given: a due time at or before it is due at once.</summary>
    private long _now;

    /// <param name="resolution">One tick in the owner's time unit, e.g. 100 for 100 ms ticks in milliseconds.</param>
    /// <param name="startTime">The owner's current time; entries due at or before it are due at once.</param>
    /// <param name="initialCapacity">Entries to make room for up front (rounded up to chunks of 65,536).</param>
    public TimingWheel(long resolution, long startTime, int initialCapacity = 0)
        : this(resolution, startTime, initialCapacity, bitsPerLevel: 8, levels: 4)
    {
    }

    /// <summary>Any shape of wheel, so that tests can reach every level boundary and the overflow quickly.</summary>
    internal TimingWheel(long resolution, long startTime, int initialCapacity, int bitsPerLevel, int levels)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(resolution, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(startTime);
        ArgumentOutOfRangeException.ThrowIfNegative(initialCapacity);
        ArgumentOutOfRangeException.ThrowIfLessThan(bitsPerLevel, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bitsPerLevel, 12);
        ArgumentOutOfRangeException.ThrowIfLessThan(levels, 1);
        // Ticks are non-negative longs: the top level's span must stay below bit 62.
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bitsPerLevel * levels, 62);

        _resolution = resolution;
        _bitsPerLevel = bitsPerLevel;
        _levels = levels;
        _slotMask = (1 << bitsPerLevel) - 1;
        _wordsPerLevel = Math.Max(1, (1 << bitsPerLevel) / 64);
        _occupied = new ulong[_wordsPerLevel * levels];
        for (var bit = 0; bit < 64; bit++)
        {
            _levelOfBit[bit] = (byte)Math.Min(bit / bitsPerLevel, levels);
        }

        var slots = levels << bitsPerLevel;
        _ready = slots;
        _handout = slots + 1;
        _overflow = slots + 2;
        _sentinels = slots + 3;

        var chunks = Math.Max(1, (int)(((long)initialCapacity + _sentinels + ChunkMask) >> ChunkShift));
        _chunks = new Node[chunks][];
        for (var i = 0; i < chunks; i++)
        {
            _chunks[i] = new Node[ChunkSize];
        }

        _chunkCount = chunks;
        for (var i = 0; i < _sentinels; i++)
        {
            ref var sentinel = ref At(i);
            sentinel.Next = i;
            sentinel.Prev = i;
        }

        _allocated = _sentinels;
        _now = startTime;
        _current = TickAtOrBefore(startTime) + 1;
    }

    /// <summary>Entries scheduled and not yet handed out or cancelled (posted ones count once drained).</summary>
    public int Count => _count;

    /// <summary>Nodes the pool holds (in use or free): memory is about this times the node size.</summary>
    public long Capacity => ((long)_chunkCount << ChunkShift) - _sentinels;

    /// <summary>Size of one node in bytes, for reporting memory per entry.</summary>
    public int NodeSize => Unsafe.SizeOf<Node>();

    /// <summary>Schedules <paramref name="item"/> at <paramref name="dueTime"/>. Owner thread only.</summary>
    public ScheduleHandle Schedule(T item, long dueTime)
    {
        var index = Allocate();
        ref var node = ref At(index);
        node.Item = item;
        node.Due = dueTime;
        Insert(index, dueTime);
        return new ScheduleHandle(index, node.Version);
    }

    /// <summary>
    /// Schedules from any thread: lock-free, the entry reaches the wheel at the owner's next drain.
    /// </summary>
    public void Post(T item, long dueTime) => _inbox.Enqueue(new Posted(item, dueTime));

    /// <summary>Removes the entry; false when it was already handed out or cancelled. Owner thread only.</summary>
    public bool Cancel(ScheduleHandle handle)
    {
        if (!IsLive(handle))
        {
            return false;
        }

        Unlink(handle.Index);
        Free(handle.Index);
        return true;
    }

    /// <summary>
    /// Moves the entry to <paramref name="dueTime"/>, keeping its handle; false when it was already
    /// handed out or cancelled. An entry that was due and not yet handed out goes back in the wheel.
    /// Owner thread only.
    /// </summary>
    public bool Reschedule(ScheduleHandle handle, long dueTime)
    {
        if (!IsLive(handle))
        {
            return false;
        }

        Unlink(handle.Index);
        At(handle.Index).Due = dueTime;
        Insert(handle.Index, dueTime);
        return true;
    }

    /// <summary>
    /// Drains the inbox, moves every entry due by <paramref name="now"/> out of the wheel and hands
    /// each to <paramref name="consumer"/>; returns how many. Entries the consumer schedules in the
    /// past while it runs wait for the next call, so a consumer that keeps rescheduling cannot loop.
    /// If the consumer throws, the entries not yet handed out are handed out by the next call.
    /// </summary>
    public int Advance<TConsumer>(long now, ref TConsumer consumer)
        where TConsumer : struct, IDueConsumer<T>
    {
        MoveTimeTo(now);
        DrainInbox();
        AdvanceTo(TickAtOrBefore(now));
        SpliceAll(_ready, _handout);

        var handedOut = 0;
        while (At(_handout).Next is var index && index != _handout)
        {
            Unlink(index);
            ref var node = ref At(index);
            var item = node.Item;
            var due = node.Due;
            Free(index);
            consumer.OnDue(item, due);
            handedOut++;
        }

        return handedOut;
    }

    /// <summary>
    /// Hands out one entry due by <paramref name="now"/>, if any: the pull form of Advance, for a loop
    /// that stops after a batch. Owner thread only.
    /// </summary>
    public bool TryTakeDue(long now, out T item, out long dueTime)
    {
        MoveTimeTo(now);
        DrainInbox();
        var list = !IsEmpty(_handout) ? _handout : _ready;
        if (IsEmpty(list))
        {
            AdvanceTo(TickAtOrBefore(now));
            if (IsEmpty(_ready))
            {
                item = default!;
                dueTime = 0;
                return false;
            }

            list = _ready;
        }

        var index = At(list).Next;
        Unlink(index);
        ref var node = ref At(index);
        item = node.Item;
        dueTime = node.Due;
        Free(index);
        return true;
    }

    /// <summary>Moves everything posted so far into the wheel; returns how many. Owner thread only.</summary>
    public int DrainInbox()
    {
        var drained = 0;
        while (_inbox.TryDequeue(out var posted))
        {
            Schedule(posted.Item, posted.DueTime);
            drained++;
        }

        return drained;
    }

    /// <summary>Time only moves forward: an earlier <paramref name="now"/> (a clock step) hands out nothing new.</summary>
    private void MoveTimeTo(long now) => _now = Math.Max(_now, now);

    /// <summary>The last tick whose entries are due at <paramref name="time"/>.</summary>
    private long TickAtOrBefore(long time) => time < 0 ? -1 : time / _resolution;

    /// <summary>The first tick at whose processing an entry due at <paramref name="time"/> may go out.</summary>
    private long TickAtOrAfter(long time) => time <= 0 ? 0 : ((time - 1) / _resolution) + 1;

    private bool IsLive(ScheduleHandle handle)
    {
        if ((uint)handle.Index >= (uint)_allocated || handle.Index < _sentinels)
        {
            return false;
        }

        ref var node = ref At(handle.Index);
        return node.Prev != FreeMark && node.Version == handle.Version;
    }

    private bool IsEmpty(int sentinel) => At(sentinel).Next == sentinel;

    /// <summary>Puts a detached node in the list its tick calls for, relative to the current tick.</summary>
    private void Insert(int index, long dueTime)
    {
        int list;
        if (dueTime <= _now)
        {
            // Already due: not rounded up to a tick, which could hold it back by up to a resolution.
            list = _ready;
        }
        else
        {
            // After _now, hence at or after _current (= _now's tick + 1): never in a processed slot.
            var tick = TickAtOrAfter(dueTime);
            var difference = tick ^ _current;
            int level = difference == 0 ? 0 : _levelOfBit[63 - BitOperations.LeadingZeroCount((ulong)difference)];
            if (level >= _levels)
            {
                list = _overflow;
            }
            else
            {
                var slot = (int)(tick >> (level * _bitsPerLevel)) & _slotMask;
                list = (level << _bitsPerLevel) + slot;
                _occupied[(level * _wordsPerLevel) + (slot >> 6)] |= 1UL << slot;
            }
        }

        LinkLast(list, index);
    }

    /// <summary>
    /// Processes every tick up to <paramref name="target"/>, jumping straight to the next tick at
    /// which some slot is due or must be cascaded, so idle time costs nothing per tick.
    /// </summary>
    private void AdvanceTo(long target)
    {
        while (_current <= target)
        {
            var next = NextEventTick();
            if (next > target)
            {
                // No slot needs attention up to target: every entry keeps its slot (they share the
                // digits above their level with any tick before their slot starts).
                _current = target + 1;
                return;
            }

            _current = next;
            ProcessTick(next);
            _current = next + 1;
        }
    }

    /// <summary>Cascades the slots that start at <paramref name="tick"/>, top level first, then makes level 0's due.</summary>
    private void ProcessTick(long tick)
    {
        var span = _levels * _bitsPerLevel;
        if ((tick & ((1L << span) - 1)) == 0 && !IsEmpty(_overflow))
        {
            Rebucket(_overflow);
        }

        for (var level = _levels - 1; level >= 1; level--)
        {
            var shift = level * _bitsPerLevel;
            if ((tick & ((1L << shift) - 1)) == 0)
            {
                var slot = (int)(tick >> shift) & _slotMask;
                if (TakeSlotBit(level, slot))
                {
                    Rebucket((level << _bitsPerLevel) + slot);
                }
            }
        }

        var slot0 = (int)tick & _slotMask;
        if (TakeSlotBit(0, slot0))
        {
            SpliceAll(slot0, _ready);
        }
    }

    private bool TakeSlotBit(int level, int slot)
    {
        ref var word = ref _occupied[(level * _wordsPerLevel) + (slot >> 6)];
        var bit = 1UL << slot;
        if ((word & bit) == 0)
        {
            return false;
        }

        word &= ~bit;
        return true;
    }

    /// <summary>Re-inserts every entry of a list relative to the current tick (they all move down).</summary>
    private void Rebucket(int sentinel)
    {
        ref var head = ref At(sentinel);
        var index = head.Next;
        head.Next = sentinel;
        head.Prev = sentinel;
        while (index != sentinel)
        {
            ref var node = ref At(index);
            var next = node.Next;
            Insert(index, node.Due);
            index = next;
        }
    }

    /// <summary>
    /// The earliest tick, not before the current one, at which a slot is due or must be cascaded;
    /// long.MaxValue when the wheel is empty. A scan of the bitmaps (levels x slots/64 words).
    /// </summary>
    private long NextEventTick()
    {
        var best = long.MaxValue;
        for (var level = 0; level < _levels; level++)
        {
            var shift = level * _bitsPerLevel;
            var digit = (int)(_current >> shift) & _slotMask;
            var slot = FirstOccupiedFrom(level, digit);
            if (slot < 0)
            {
                continue;
            }

            // Slots below the current digit are empty (their ticks would be in the past); the slot
            // at the current digit can only be occupied when the current tick is its start.
            var upper = (_current >> (shift + _bitsPerLevel)) << (shift + _bitsPerLevel);
            var start = Math.Max(upper | ((long)slot << shift), _current);
            best = Math.Min(best, start);
        }

        if (!IsEmpty(_overflow))
        {
            // The first top-level wrap at or after the current tick (the current one if not yet processed).
            var span = _levels * _bitsPerLevel;
            var mask = (1L << span) - 1;
            best = Math.Min(best, (_current + mask) & ~mask);
        }

        return best;
    }

    private int FirstOccupiedFrom(int level, int slot)
    {
        var baseWord = level * _wordsPerLevel;
        var word = slot >> 6;
        var bits = _occupied[baseWord + word] & (ulong.MaxValue << (slot & 63));
        while (true)
        {
            if (bits != 0)
            {
                return (word << 6) + BitOperations.TrailingZeroCount(bits);
            }

            if (++word == _wordsPerLevel)
            {
                return -1;
            }

            bits = _occupied[baseWord + word];
        }
    }

    private void LinkLast(int sentinel, int index)
    {
        ref var head = ref At(sentinel);
        var last = head.Prev;
        ref var node = ref At(index);
        node.Prev = last;
        node.Next = sentinel;
        At(last).Next = index;
        head.Prev = index;
    }

    private void Unlink(int index)
    {
        ref var node = ref At(index);
        var prev = node.Prev;
        var next = node.Next;
        At(prev).Next = next;
        At(next).Prev = prev;

        // The list became empty: if it was a wheel slot, clear its bit so Advance does not stop there.
        if (prev == next && prev < _ready)
        {
            var level = prev >> _bitsPerLevel;
            var slot = prev & _slotMask;
            _occupied[(level * _wordsPerLevel) + (slot >> 6)] &= ~(1UL << slot);
        }
    }

    /// <summary>Appends the whole of one list to another in O(1).</summary>
    private void SpliceAll(int from, int to)
    {
        ref var source = ref At(from);
        if (source.Next == from)
        {
            return;
        }

        var first = source.Next;
        var last = source.Prev;
        source.Next = from;
        source.Prev = from;

        ref var target = ref At(to);
        var tail = target.Prev;
        At(tail).Next = first;
        At(first).Prev = tail;
        At(last).Next = to;
        target.Prev = last;
    }

    private int Allocate()
    {
        int index;
        if (_freeHead != FreeMark)
        {
            index = _freeHead;
            _freeHead = At(index).Next;
        }
        else
        {
            if (_allocated == _chunkCount << ChunkShift)
            {
                Grow();
            }

            index = _allocated++;
        }

        _count++;
        return index;
    }

    private void Free(int index)
    {
        ref var node = ref At(index);
        // A new version makes every handle to this entry stale before the node is reused.
        node.Version++;
        node.Prev = FreeMark;
        node.Item = default!;
        node.Next = _freeHead;
        _freeHead = index;
        _count--;
    }

    /// <summary>One more chunk; only the small array of chunk references is ever copied.</summary>
    private void Grow()
    {
        if (_chunkCount == _chunks.Length)
        {
            Array.Resize(ref _chunks, _chunks.Length * 2);
        }

        if (_chunkCount == int.MaxValue >> ChunkShift)
        {
            throw new InvalidOperationException("the timing wheel is full");
        }

        _chunks[_chunkCount++] = new Node[ChunkSize];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref Node At(int index) => ref _chunks[index >> ChunkShift][index & ChunkMask];

    /// <summary>
    /// One entry, or a list head. Due first and the small fields last so that an int item packs into
    /// 24 bytes. Next doubles as the free-list link; Prev is <see cref="FreeMark"/> while free.
    /// </summary>
    private struct Node
    {
        public long Due;
        public T Item;
        public int Next;
        public int Prev;
        public uint Version;
    }

    private readonly record struct Posted(T Item, long DueTime);
}
