namespace Tern.Scheduler.Tests.Engine;

/// <summary>How the scheduler starts runners and batch handlers: on the calling thread, nested only to a bounded depth.</summary>
public sealed class InlineStartTests
{
    [Fact]
    public void Work_starts_on_the_calling_thread_and_runs_there_until_its_first_wait()
    {
        var caller = Environment.CurrentManagedThreadId;
        var ranOn = 0;
        var gate = new TaskCompletionSource();
        var afterWait = false;
        InlineStart.Run(async () =>
        {
            ranOn = Environment.CurrentManagedThreadId;
            await gate.Task;
            afterWait = true;
        });

        // Run returned at the wait: the part before it has run, here.
        Assert.Equal(caller, ranOn);
        Assert.False(afterWait);
        Assert.Equal(0, InlineStart.Depth);
        gate.SetResult();
        Assert.True(afterWait);
    }

    [Fact]
    public async Task Starts_nested_ten_thousand_deep_go_to_the_pool_past_the_depth_limit_and_all_run()
    {
        var ran = 0;
        var deepest = 0;
        var done = new TaskCompletionSource();
        Task Step(int left)
        {
            deepest = Math.Max(deepest, InlineStart.Depth);
            Interlocked.Increment(ref ran);
            if (left == 0)
            {
                done.SetResult();
            }
            else
            {
                InlineStart.Run(() => Step(left - 1));
            }

            return Task.CompletedTask;
        }

        InlineStart.Run(() => Step(10_000));
        await done.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(10_001, ran);
        Assert.Equal(InlineStart.MaxDepth, deepest);
    }
}
