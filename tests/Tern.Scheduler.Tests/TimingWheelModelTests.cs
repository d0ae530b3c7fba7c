using Tern.Scheduler;

namespace Tern.Scheduler.Tests;

/// <summary>
/// Random operations against a plain reference model (every live entry with its due time, scanned in
/// full on each advance): the wheel must hand out exactly the entries the model says are due.
/// </summary>
public sealed class TimingWheelModelTests
{
    [Theory]
    [InlineData(1, 1L, 2, 3)]      // tiny wheel: constant cascading and overflow re-bucketing
    [InlineData(2, 1L, 3, 2)]
    [InlineData(3, 7L, 2, 4)]      // a resolution that does not divide the due times
    [InlineData(4, 100L, 8, 4)]    // the default shape at 100 ms
    [InlineData(5, 1L, 8, 4)]
    public void MatchesTheReferenceModel(int seed, long resolution, int bitsPerLevel, int levels)
    {
        var random = new Random(seed);
        var start = random.NextInt64(0, 1_000_000);
        var wheel = new TimingWheel<long>(resolution, start, 0, bitsPerLevel, levels);
        // DueBy: the time by which the entry is due at once (the clock when it was scheduled; for a
        // posted entry, the clock of the Advance that drains it).
        var model = new Dictionary<long, (long Due, ScheduleHandle Handle, long DueBy)>();
        var live = new List<long>();
        var now = start;
        var nextId = 0L;
        var fired = new List<(long Item, long Due, long Now)>();

        string Describe(IEnumerable<long> ids) => string.Join("; ", ids.Select(id =>
            model.TryGetValue(id, out var e) ? $"{id}: due {e.Due} dueBy {e.DueBy} tick {CeilTick(e.Due, resolution)}" : $"{id}: not in the model"));

        for (var step = 0; step < 20_000; step++)
        {
            var op = random.Next(100);
            if (op < 45)
            {
                var due = NextDue(random, now, resolution);
                var id = nextId++;
                model[id] = (due, wheel.Schedule(id, due), now);
                live.Add(id);
            }
            else if (op < 55 && live.Count > 0)
            {
                var id = TakeRandom(random, live);
                if (model.Remove(id, out var entry))
                {
                    Assert.True(wheel.Cancel(entry.Handle));
                }
            }
            else if (op < 65 && live.Count > 0)
            {
                var id = live[random.Next(live.Count)];
                if (model.TryGetValue(id, out var entry))
                {
                    var due = NextDue(random, now, resolution);
                    Assert.True(wheel.Reschedule(entry.Handle, due));
                    model[id] = (due, entry.Handle, now);
                }
            }
            else if (op < 67)
            {
                // Posted entries: no handle, so the model cannot cancel them.
                var due = NextDue(random, now, resolution);
                wheel.Post(nextId, due);
                model[nextId++] = (due, default, long.MaxValue);
            }
            else
            {
                now += random.Next(10) switch
                {
                    < 6 => random.NextInt64(0, 3 * resolution),
                    < 9 => random.NextInt64(0, 300 * resolution),
                    _ => random.NextInt64(0, 100_000 * resolution),
                };

                fired.Clear();
                TimingWheelTests.AdvanceAll(wheel, now, fired);
                // Required: due by the tick rule, or due when it entered the wheel. Allowed besides: anything
                // due by now (an entry cascading down after its due time goes straight to the due list).
                var nowTick = now / resolution;
                var required = model.Where(e => e.Value.Due <= Math.Min(e.Value.DueBy, now) || CeilTick(e.Value.Due, resolution) <= nowTick).Select(e => e.Key).ToHashSet();
                var actual = fired.Select(f => f.Item).ToList();
                Assert.Equal(actual.Count, actual.Distinct().Count());
                var missing = required.Except(actual).ToList();
                var early = actual.Where(id => !model.TryGetValue(id, out var e) || e.Due > now).ToList();
                if (missing.Count > 0 || early.Count > 0)
                {
                    Assert.Fail($"step {step}, now {now} (tick {nowTick}): missing [{Describe(missing)}], early or unknown [{Describe(early)}]");
                }

                foreach (var f in fired)
                {
                    Assert.Equal(model[f.Item].Due, f.Due);
                    model.Remove(f.Item);
                }

                Assert.Equal(model.Count, wheel.Count);

                // Posted entries have now been drained, at this clock.
                foreach (var (id, entry) in model.Where(e => e.Value.DueBy == long.MaxValue).ToList())
                {
                    model[id] = entry with { DueBy = now };
                }

                if (live.Count > 4 * model.Count + 100)
                {
                    live.RemoveAll(id => !model.ContainsKey(id));
                }
            }
        }
    }

    private static long CeilTick(long due, long resolution) => due <= 0 ? 0 : ((due - 1) / resolution) + 1;

    /// <summary>Mostly near, some far, some past, a few beyond any wheel's span.</summary>
    private static long NextDue(Random random, long now, long resolution) => random.Next(20) switch
    {
        0 => now - random.NextInt64(0, 1000 * resolution),
        < 10 => now + random.NextInt64(0, 20 * resolution),
        < 17 => now + random.NextInt64(0, 5000 * resolution),
        < 19 => now + random.NextInt64(0, 1_000_000 * resolution),
        _ => now + random.NextInt64(0, 1L << 40),
    };

    private static long TakeRandom(Random random, List<long> live)
    {
        var index = random.Next(live.Count);
        var id = live[index];
        live[index] = live[^1];
        live.RemoveAt(live.Count - 1);
        return id;
    }
}
