using Tern.Scheduler;

namespace Tern.Scheduler.Tests;

public sealed class TimingWheelConcurrencyTests
{
    private const int Producers = 8;
    private const int PerProducer = 100_000;

    private struct Checker(int[] seen, long now) : IDueConsumer<long>
    {
        public readonly void OnDue(long item, long dueTime)
        {
            if (dueTime > now)
            {
                throw new InvalidOperationException($"item {item} due at {dueTime} handed out at {now}");
            }

            // Only the consumer thread writes here; the test reads after joining it.
            seen[item]++;
        }
    }

    /// <summary>
    /// 8 threads post 100k entries each while one consumer advances its clock: every entry comes out
    /// exactly once, never before its due time.
    /// </summary>
    [Fact]
    public async Task ManyProducersOneConsumerLoseAndDuplicateNothing()
    {
        var wheel = new TimingWheel<long>(10, 0);
        var seen = new int[Producers * PerProducer];
        var clock = 0L;
        using var go = new Barrier(Producers + 1);
        var producersDone = 0;

        var producers = Enumerable.Range(0, Producers).Select(p => Task.Factory.StartNew(() =>
        {
            var random = new Random(p);
            go.SignalAndWait();
            for (var i = 0; i < PerProducer; i++)
            {
                // Due times around the consumer's clock: some already past, most within a few thousand ticks.
                var due = Volatile.Read(ref clock) + random.NextInt64(-1_000, 50_000);
                wheel.Post((long)p * PerProducer + i, due);
            }

            Interlocked.Increment(ref producersDone);
        }, TaskCreationOptions.LongRunning)).ToArray();

        var consumer = Task.Factory.StartNew(() =>
        {
            go.SignalAndWait();
            while (Volatile.Read(ref producersDone) < Producers || wheel.Count > 0 || wheel.DrainInbox() > 0)
            {
                var now = Volatile.Read(ref clock) + 97;
                Volatile.Write(ref clock, now);
                var checker = new Checker(seen, now);
                wheel.Advance(now, ref checker);
            }
        }, TaskCreationOptions.LongRunning);

        await Task.WhenAll([.. producers, consumer]);

        Assert.Equal(0, wheel.Count);
        Assert.All(seen, count => Assert.Equal(1, count));
    }
}
