using Tern.Platform;

namespace Tern.Spool.Tests;

/// <summary>The log device's threads sleep on it: no set may be lost, sets while the waiter runs collapse.</summary>
public sealed class WakeEventTests
{
    [Fact]
    public void A_set_before_the_wait_lets_it_through_once()
    {
        var e = new WakeEvent();
        e.Set();
        e.Set();
        e.Wait();

        // Both sets were consumed by that one wait: the next one sleeps until another set.
        var woke = new ManualResetEventSlim();
        var waiter = new Thread(() =>
        {
            e.Wait();
            woke.Set();
        });
        waiter.Start();
        Assert.False(woke.Wait(200));
        e.Set();
        Assert.True(woke.Wait(5000));
        waiter.Join();
    }

    [Fact]
    public void A_producer_and_a_sleeping_consumer_lose_no_item()
    {
        const int Items = 200_000;
        var e = new WakeEvent();
        var queue = new System.Collections.Concurrent.ConcurrentQueue<int>();
        var taken = 0;
        var consumer = new Thread(() =>
        {
            while (taken < Items)
            {
                while (queue.TryDequeue(out _))
                {
                    taken++;
                }

                if (taken < Items)
                {
                    e.Wait();
                }
            }
        });
        consumer.Start();
        for (var i = 0; i < Items; i++)
        {
            queue.Enqueue(i);
            e.Set();
            if (i % 1000 == 0)
            {
                Thread.Yield();
            }
        }

        Assert.True(consumer.Join(TimeSpan.FromSeconds(30)), $"the consumer is stuck at {taken} of {Items}");
        Assert.Equal(Items, taken);
    }
}
