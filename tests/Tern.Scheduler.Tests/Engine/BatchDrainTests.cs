using System.Collections.Concurrent;

namespace Tern.Scheduler.Tests.Engine;

/// <summary>The drain behind preparing due messages and recording finished attempts: batches grow while earlier ones are handled.</summary>
public sealed class BatchDrainTests
{
    [Fact]
    public async Task What_arrives_while_the_batches_are_busy_goes_into_the_next_batch_and_admission_filters()
    {
        var batches = new ConcurrentQueue<List<int>>();
        var gate = new TaskCompletionSource();
        var tasks = new ConcurrentBag<Task>();
        var drain = new BatchDrain<int>(
            concurrency: 1,
            batchSize: 4,
            admit: i => i % 10 != 7,
            handle: async batch =>
            {
                batches.Enqueue(batch);
                await gate.Task;
            },
            spawn: work => tasks.Add(Task.Run(work)));
        using var stop = new CancellationTokenSource();
        var loop = drain.RunAsync(stop.Token);

        drain.Post(1);
        await Eventually(() => batches.Count == 1);

        // The only batch slot is busy: these wait, and then go four at a time; 7 and 17 are not admitted.
        foreach (var i in new[] { 2, 3, 7, 4, 5, 6, 17, 8 })
        {
            drain.Post(i);
        }

        await Task.Delay(100);
        Assert.Single(batches);
        Assert.Equal(8, drain.Count);
        gate.SetResult();
        await Eventually(() => batches.Count == 3);
        Assert.Equal([[1], [2, 3, 4, 5], [6, 8]], batches.ToArray());

        await stop.CancelAsync();
        drain.Wake();
        await loop;
        await Task.WhenAll(tasks);
    }

    [Fact]
    public async Task Batches_run_side_by_side_up_to_the_concurrency()
    {
        var running = 0;
        var most = 0;
        var handled = 0;
        var gate = new TaskCompletionSource();
        var drain = new BatchDrain<int>(3, 1, _ => true, async _ =>
        {
            var now = Interlocked.Increment(ref running);
            InterlockedMax(ref most, now);
            await gate.Task;
            Interlocked.Decrement(ref running);
            Interlocked.Increment(ref handled);
        }, work => _ = Task.Run(work));
        using var stop = new CancellationTokenSource();
        var loop = drain.RunAsync(stop.Token);
        for (var i = 0; i < 10; i++)
        {
            drain.Post(i);
        }

        await Eventually(() => Volatile.Read(ref running) == 3);
        await Task.Delay(100);
        Assert.Equal(3, Volatile.Read(ref most));
        gate.SetResult();
        await Eventually(() => Volatile.Read(ref handled) == 10);
        Assert.Equal(3, most);
        await stop.CancelAsync();
        drain.Wake();
        await loop;
    }

    private static void InterlockedMax(ref int target, int value)
    {
        var seen = Volatile.Read(ref target);
        while (value > seen && Interlocked.CompareExchange(ref target, value, seen) is var was && was != seen)
        {
            seen = was;
        }
    }

    private static Task Eventually(Func<bool> condition) => SchedulerFixture.Eventually(condition, "the drain catches up");
}
