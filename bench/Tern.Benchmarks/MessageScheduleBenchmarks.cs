using BenchmarkDotNet.Attributes;
using Tern.Scheduler;
using Tern.Spool;

namespace Tern.Benchmarks;

/// <summary>
/// The scheduler's own schedule (timing wheel + handle per message id, what the owner loop does for
/// each spool change) with 10k, 1M and 10M messages scheduled (issue #7): O(1) per message whatever
/// the queue size, and no allocation. 100 ms ticks; delays uniform over [1, 2 x Scheduled] ticks so
/// that about one message falls due per tick at every size. One operation is one message.
/// </summary>
[MemoryDiagnoser]
public class MessageScheduleBenchmarks
{
    private const long Resolution = 100;
    private const int Batch = 1024;

    private MessageSchedule<MessageId> _schedule = null!;
    private MessageId[] _ids = [];
    private DelaySequence _delays = null!;
    private int _nextId;
    private long _now;

    [Params(10_000, 1_000_000, 10_000_000)]
    public int Scheduled { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(7);
        _delays = new DelaySequence(Scheduled, Resolution, random);

        _ids = new MessageId[Scheduled];
        var before = GC.GetTotalMemory(true);
        _schedule = new MessageSchedule<MessageId>(Resolution, 0, Scheduled + Batch);
        for (var i = 0; i < Scheduled; i++)
        {
            _ids[i] = new MessageId((ulong)random.NextInt64(), (ulong)i);
            _schedule.Set(_ids[i], NextDelay());
        }

        var bytes = GC.GetTotalMemory(true) - before;
        Console.WriteLine($"// MessageSchedule: {Scheduled:N0} scheduled, {bytes / (1024.0 * 1024):N1} MiB = {(double)bytes / Scheduled:N1} B per scheduled message (wheel nodes + handle dictionary)");
    }

    /// <summary>An attempt ends: the message's entry changes and it moves to its next attempt time.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int Move()
    {
        for (var i = 0; i < Batch; i++)
        {
            _schedule.Set(_ids[_nextId], _now + NextDelay());
            _nextId = (_nextId + 1) % _ids.Length;
        }

        return _schedule.Count;
    }

    /// <summary>The owner loop: take the next due message (a tick later when none is due) and schedule it again.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public long TakeAndSet()
    {
        var sum = 0L;
        for (var i = 0; i < Batch; i++)
        {
            MessageId id;
            while (!_schedule.TryTakeDue(_now, out id))
            {
                _now += Resolution;
            }

            _schedule.Set(id, _now + NextDelay());
            sum += (long)id.Low;
        }

        return sum;
    }

    /// <summary>A message is held (taken off) and released (set again).</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int RemoveAndSet()
    {
        for (var i = 0; i < Batch; i++)
        {
            var id = _ids[_nextId];
            _nextId = (_nextId + 1) % _ids.Length;
            _schedule.Remove(id);
            _schedule.Set(id, _now + NextDelay());
        }

        return _schedule.Count;
    }

    private long NextDelay() => _delays.Next();
}
