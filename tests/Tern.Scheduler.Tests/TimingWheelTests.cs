using Tern.Scheduler;

namespace Tern.Scheduler.Tests;

public sealed class TimingWheelTests
{
    private const long Ms = 1;
    private const long Resolution = 100 * Ms;
    private const long Day = 24L * 3600 * 1000 * Ms;

    /// <summary>Collects what Advance hands out, with the time of the call.</summary>
    internal struct Collector(List<(long Item, long Due, long Now)> fired, long now) : IDueConsumer<long>
    {
        public readonly void OnDue(long item, long dueTime) => fired.Add((item, dueTime, now));
    }

    internal static List<(long Item, long Due, long Now)> AdvanceAll(TimingWheel<long> wheel, long now, List<(long Item, long Due, long Now)>? into = null)
    {
        into ??= [];
        var collector = new Collector(into, now);
        wheel.Advance(now, ref collector);
        return into;
    }

    /// <summary>
    /// A tiny wheel (3 levels of 4 slots, 64 ticks, then the overflow list) with every delta from 0 to
    /// 300 ticks and several start offsets: each entry must come out exactly at its tick, crossing every
    /// level boundary, every cascade and several overflow re-bucketings on the way.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(15)]
    [InlineData(16)]
    [InlineData(63)]
    [InlineData(64)]
    [InlineData(1000)]
    public void EveryDeltaFiresAtItsTickInASmallWheel(long start)
    {
        var wheel = new TimingWheel<long>(1, start, 0, bitsPerLevel: 2, levels: 3);
        for (var delta = 0L; delta <= 300; delta++)
        {
            wheel.Schedule(delta, start + delta);
        }

        var fired = new List<(long Item, long Due, long Now)>();
        for (var now = start; now <= start + 301; now++)
        {
            AdvanceAll(wheel, now, fired);
        }

        Assert.Equal(301, fired.Count);
        Assert.All(fired, f => Assert.Equal(f.Due, f.Now));
        Assert.Equal(0, wheel.Count);
    }

    /// <summary>The same in the default wheel at 100 ms, around every level's span and up to 30 days and beyond the 2^32-tick horizon.</summary>
    [Fact]
    public void LevelBoundariesAndFarFutureCascadeToTheirExactTick()
    {
        var start = 1_234_567L * Resolution + 37;
        var wheel = new TimingWheel<long>(Resolution, start);
        long[] tickDeltas =
        [
            1, 2, 255, 256, 257, 511, 512, 65_535, 65_536, 65_537, 131_072, (1 << 24) - 1, 1 << 24, (1 << 24) + 1,
            30 * Day / Resolution, (1L << 32) - 1, 1L << 32, (1L << 32) + 1, (1L << 33) + 12_345,
        ];

        // Aligned due times fire at that time; one unit past a tick rounds up to the next tick.
        var expected = new Dictionary<long, long>();
        var startTick = start / Resolution;
        var id = 0L;
        foreach (var delta in tickDeltas)
        {
            var aligned = (startTick + delta) * Resolution;
            wheel.Schedule(id, aligned);
            expected[id++] = aligned;
            wheel.Schedule(id, aligned + 1);
            expected[id++] = aligned + Resolution;
        }

        // Visit each expected time and the instant before it: an entry recorded at anything but its
        // expected time came out early or late.
        var fired = new List<(long Item, long Due, long Now)>();
        foreach (var at in expected.Values.Order())
        {
            AdvanceAll(wheel, at - 1, fired);
            AdvanceAll(wheel, at, fired);
        }

        Assert.Equal(expected.Count, fired.Count);
        Assert.All(fired, f => Assert.Equal(expected[f.Item], f.Now));
        Assert.Equal(0, wheel.Count);
    }

    [Fact]
    public void AdvancingTickByTickAcrossALevelZeroRotationHandsOutInTickOrder()
    {
        var wheel = new TimingWheel<long>(Resolution, 0);
        for (var i = 1000L; i >= 1; i--)
        {
            wheel.Schedule(i, i * Resolution);
        }

        var fired = new List<(long Item, long Due, long Now)>();
        for (var now = 0L; now <= 1000 * Resolution; now += Resolution)
        {
            AdvanceAll(wheel, now, fired);
        }

        Assert.Equal(Enumerable.Range(1, 1000).Select(i => (long)i), fired.Select(f => f.Item));
    }

    [Fact]
    public void PastDueEntriesAreDueAtOnce()
    {
        var now = 50 * Resolution + 10;
        var wheel = new TimingWheel<long>(Resolution, now);
        wheel.Schedule(1, now);
        wheel.Schedule(2, now - 1);
        wheel.Schedule(3, 0);
        wheel.Schedule(4, -5_000);
        wheel.Schedule(5, long.MinValue);

        var fired = AdvanceAll(wheel, now);
        Assert.Equal([1L, 2, 3, 4, 5], fired.Select(f => f.Item).Order());

        // After time has moved on, a due time behind it is also due at the next call, whatever now says.
        AdvanceAll(wheel, now + 10 * Resolution);
        wheel.Schedule(6, now + Resolution);
        Assert.Equal([6L], AdvanceAll(wheel, now).Select(f => f.Item));
    }

    [Fact]
    public void NeverEarlyAndAtMostOneResolutionLate()
    {
        var wheel = new TimingWheel<long>(Resolution, 0);
        wheel.Schedule(1, 150);
        Assert.Empty(AdvanceAll(wheel, 150));
        Assert.Empty(AdvanceAll(wheel, 199));
        Assert.Equal([1L], AdvanceAll(wheel, 200).Select(f => f.Item));
    }

    [Fact]
    public void CancelledEntriesNeverFireAndHandlesGoStale()
    {
        var wheel = new TimingWheel<long>(Resolution, 0);
        var near = wheel.Schedule(1, 5 * Resolution);
        var far = wheel.Schedule(2, 10 * Day);
        var kept = wheel.Schedule(3, 5 * Resolution);
        var overflow = wheel.Schedule(4, long.MaxValue);
        Assert.Equal(4, wheel.Count);

        Assert.True(wheel.Cancel(near));
        Assert.True(wheel.Cancel(far));
        Assert.True(wheel.Cancel(overflow));
        Assert.False(wheel.Cancel(near));
        Assert.False(wheel.Cancel(default));
        Assert.False(wheel.Cancel(new ScheduleHandle(int.MaxValue, 0)));
        Assert.False(wheel.Cancel(new ScheduleHandle(-1, 0)));
        Assert.Equal(1, wheel.Count);

        // The node freed last is reused first: its old handle must not reach the new entry.
        var reused = wheel.Schedule(5, 6 * Resolution);
        Assert.Equal(overflow.Index, reused.Index);
        Assert.False(wheel.Cancel(overflow));
        Assert.False(wheel.Reschedule(overflow, 0));

        var fired = AdvanceAll(wheel, 20 * Day);
        Assert.Equal([3L, 5], fired.Select(f => f.Item));
        Assert.False(wheel.Cancel(kept));
        Assert.False(wheel.Cancel(reused));
        Assert.Equal(0, wheel.Count);
    }

    [Fact]
    public void CancellingTheLastEntryOfASlotLetsAdvanceSkipIt()
    {
        var wheel = new TimingWheel<long>(1, 0, 0, bitsPerLevel: 2, levels: 2);
        var handle = wheel.Schedule(1, 9);
        wheel.Schedule(2, 40);
        Assert.True(wheel.Cancel(handle));
        Assert.Empty(AdvanceAll(wheel, 39));
        Assert.Equal([2L], AdvanceAll(wheel, 40).Select(f => f.Item));
    }

    [Fact]
    public void RescheduleMovesLaterEarlierAndIntoThePast()
    {
        var wheel = new TimingWheel<long>(Resolution, 0);
        var a = wheel.Schedule(1, 10 * Resolution);
        var b = wheel.Schedule(2, 10 * Resolution);
        var c = wheel.Schedule(3, 3 * Day);

        Assert.True(wheel.Reschedule(a, 2 * Day));
        Assert.True(wheel.Reschedule(c, 20 * Resolution));
        Assert.True(wheel.Reschedule(b, -1));

        Assert.Equal([2L], AdvanceAll(wheel, 0).Select(f => f.Item));
        Assert.Empty(AdvanceAll(wheel, 20 * Resolution - 1));
        Assert.Equal([3L], AdvanceAll(wheel, 20 * Resolution).Select(f => f.Item));
        Assert.Empty(AdvanceAll(wheel, 2 * Day - 1));
        var last = AdvanceAll(wheel, 2 * Day);
        Assert.Equal((1L, 2 * Day), (last.Single().Item, last.Single().Due));
        Assert.False(wheel.Reschedule(a, 0));
    }

    [Fact]
    public void ADueEntryNotYetTakenCanBeRescheduledOrCancelled()
    {
        var wheel = new TimingWheel<long>(Resolution, 0);
        var a = wheel.Schedule(1, Resolution);
        var b = wheel.Schedule(2, Resolution);
        wheel.Schedule(3, Resolution);

        Assert.True(wheel.TryTakeDue(Resolution, out var first, out _));
        Assert.Equal(1, first);
        Assert.False(wheel.Cancel(a));

        // 2 and 3 are due and waiting: pulling 2 back into the wheel leaves 3 to be taken.
        Assert.True(wheel.Reschedule(b, 5 * Resolution));
        Assert.True(wheel.TryTakeDue(Resolution, out var second, out _));
        Assert.Equal(3, second);
        Assert.False(wheel.TryTakeDue(4 * Resolution, out _, out _));
        Assert.True(wheel.TryTakeDue(5 * Resolution, out var third, out var due));
        Assert.Equal((2L, 5 * Resolution), (third, due));
    }

    private struct Rescheduler(TimingWheel<long> wheel, List<long> seen) : IDueConsumer<long>
    {
        public readonly void OnDue(long item, long dueTime)
        {
            seen.Add(item);
            wheel.Schedule(item, dueTime - 1);
        }
    }

    [Fact]
    public void AConsumerReschedulingIntoThePastDoesNotLoop()
    {
        var wheel = new TimingWheel<long>(Resolution, 0);
        wheel.Schedule(1, Resolution);
        wheel.Schedule(2, Resolution);
        var seen = new List<long>();
        var consumer = new Rescheduler(wheel, seen);

        Assert.Equal(2, wheel.Advance(Resolution, ref consumer));
        Assert.Equal(2, wheel.Advance(Resolution, ref consumer));
        Assert.Equal([1L, 2, 1, 2], seen);
        Assert.Equal(2, wheel.Count);
    }

    [Fact]
    public void TryTakeDueHandsOutOneAtATime()
    {
        var wheel = new TimingWheel<long>(Resolution, 0);
        for (var i = 0L; i < 10; i++)
        {
            wheel.Schedule(i, (i % 3) * Resolution);
        }

        var taken = new List<long>();
        while (wheel.TryTakeDue(Resolution, out var item, out var due))
        {
            Assert.True(due <= Resolution);
            taken.Add(item);
        }

        Assert.Equal([0L, 3, 6, 9, 1, 4, 7], taken);
        Assert.Equal(3, wheel.Count);
    }

    [Fact]
    public void PostedEntriesReachTheWheelAtTheNextAdvance()
    {
        var wheel = new TimingWheel<long>(Resolution, 0);
        wheel.Post(1, Resolution);
        wheel.Post(2, 3 * Day);
        Assert.Equal(0, wheel.Count);

        Assert.Empty(AdvanceAll(wheel, 0));
        Assert.Equal(2, wheel.Count);
        Assert.Equal([1L], AdvanceAll(wheel, Resolution).Select(f => f.Item));
        Assert.Equal([2L], AdvanceAll(wheel, 3 * Day).Select(f => f.Item));
    }

    [Fact]
    public void ThePoolGrowsByChunksAndReusesFreedNodes()
    {
        var wheel = new TimingWheel<int>(Resolution, 0);
        var handles = new ScheduleHandle[200_000];
        for (var i = 0; i < handles.Length; i++)
        {
            handles[i] = wheel.Schedule(i, (1 + (i % 5000)) * Resolution);
        }

        var capacity = wheel.Capacity;
        Assert.True(capacity >= handles.Length);
        Assert.Equal(24, wheel.NodeSize);
        for (var i = 0; i < handles.Length; i += 2)
        {
            Assert.True(wheel.Cancel(handles[i]));
        }

        for (var i = 0; i < handles.Length; i += 2)
        {
            handles[i] = wheel.Schedule(i, 1);
        }

        Assert.Equal(capacity, wheel.Capacity);
        var count = 0;
        while (wheel.TryTakeDue(6000 * Resolution, out _, out _))
        {
            count++;
        }

        Assert.Equal(handles.Length, count);
        Assert.Equal(0, wheel.Count);
    }
}
