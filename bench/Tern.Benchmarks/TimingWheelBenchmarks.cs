using BenchmarkDotNet.Attributes;
using Tern.Scheduler;

namespace Tern.Benchmarks;

/// <summary>
/// The delivery scheduler's timing wheel with 10k, 1M and 10M entries scheduled (issue #7): the cost
/// per entry must stay flat as the queue grows. 100 ms ticks in milliseconds; delays are uniform over
/// [1, 2 x Scheduled] ticks, so about one entry falls due per tick at every size and 10M spans ~23 days
/// (the retry and expiry horizon), using every level of the wheel. One operation is one entry.
/// </summary>
[MemoryDiagnoser]
public class TimingWheelBenchmarks
{
    private const long Resolution = 100;
    private const int Batch = 1024;

    private TimingWheel<int> _wheel = null!;
    private DelaySequence _delays = null!;
    private long _now;
    private readonly ScheduleHandle[] _handles = new ScheduleHandle[Batch];

    [Params(10_000, 1_000_000, 10_000_000)]
    public int Scheduled { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(7);
        _delays = new DelaySequence(Scheduled, Resolution, random);

        // Room for the ScheduleCancel batch on top, so no benchmark grows the pool while measured.
        _wheel = new TimingWheel<int>(Resolution, 0, Scheduled + Batch);
        for (var i = 0; i < Scheduled; i++)
        {
            _wheel.Schedule(i, NextDelay());
        }

        if (_wheel.Count != Scheduled)
        {
            throw new InvalidOperationException($"{_wheel.Count} entries scheduled, expected {Scheduled}");
        }

        // Memory per entry: the node pool is all the wheel holds per entry (plus fixed bitmaps and heads).
        var bytes = _wheel.Capacity * _wheel.NodeSize;
        Console.WriteLine($"// TimingWheel: {Scheduled:N0} scheduled, {_wheel.NodeSize} B per node, pool {bytes / (1024.0 * 1024):N1} MiB = {(double)bytes / Scheduled:N1} B per scheduled entry");
    }

    /// <summary>The scheduler's loop: take the next due entry (advancing the clock a tick when none is due) and schedule its next attempt.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public long TakeAndReschedule()
    {
        var sum = 0L;
        for (var i = 0; i < Batch; i++)
        {
            int item;
            while (!_wheel.TryTakeDue(_now, out item, out _))
            {
                _now += Resolution;
            }

            _wheel.Schedule(item, _now + NextDelay());
            sum += item;
        }

        return sum;
    }

    /// <summary>The same with the next attempt posted through the lock-free inbox, as a delivery worker would.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public long TakeAndRepost()
    {
        var sum = 0L;
        for (var i = 0; i < Batch; i++)
        {
            int item;
            while (!_wheel.TryTakeDue(_now, out item, out _))
            {
                _now += Resolution;
            }

            _wheel.Post(item, _now + NextDelay());
            sum += item;
        }

        return sum;
    }

    /// <summary>One Schedule and one Cancel (a message deleted or held) per operation, in a full wheel.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int ScheduleCancel()
    {
        for (var i = 0; i < Batch; i++)
        {
            _handles[i] = _wheel.Schedule(-1, _now + NextDelay());
        }

        var cancelled = 0;
        for (var i = 0; i < Batch; i++)
        {
            cancelled += _wheel.Cancel(_handles[i]) ? 1 : 0;
        }

        return cancelled;
    }

    private long NextDelay() => _delays.Next();
}
