namespace Tern.Scheduler;

/// <summary>
/// Starts asynchronous work on the calling thread, where it runs until its first wait, instead of queueing it to the
/// thread pool. A runner or a batch handler queued to the pool cost a work item and often a worker's wake-up and sleep
/// (two context switches) for each batch: ~0.55 per relayed message (bench/README.md). Starts nested on one thread (a
/// runner that ends synchronously starts the next) go to the pool past <see cref="MaxDepth"/>, so the stack stays
/// bounded.
/// </summary>
internal static class InlineStart
{
    internal const int MaxDepth = 4;

    [ThreadStatic]
    private static int t_depth;

    /// <summary>Starts nested on this thread right now (tests).</summary>
    internal static int Depth => t_depth;

    /// <summary>Calls <paramref name="start"/>, which must not throw (it is an async method with its own catch).</summary>
    public static void Run(Func<Task> start)
    {
        if (t_depth >= MaxDepth)
        {
            _ = Task.Run(start);
            return;
        }

        t_depth++;
        try
        {
            _ = start();
        }
        finally
        {
            t_depth--;
        }
    }
}
