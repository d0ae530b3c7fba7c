using System.Collections.Concurrent;
using Tern.Spool;

namespace Tern.Scheduler;

/// <summary>
/// Work posted one item at a time and handled in batches: a loop takes up to <c>batchSize</c> items at
/// a time and hands each batch to a task of its own, at most <c>concurrency</c> at once; what arrives
/// meanwhile waits for the next batch. One task, and one commit in the spool, per batch instead of per
/// item: under load the batches grow by themselves.
/// </summary>
/// <param name="concurrency">Batches handled at once.</param>
/// <param name="batchSize">Items in one batch at most.</param>
/// <param name="admit">Whether a dequeued item goes into the batch (false: it is dropped here).</param>
/// <param name="handle">Handles one batch.</param>
/// <param name="spawn">Starts a batch's task (the owner tracks it and catches what it throws).</param>
internal sealed class BatchDrain<T>(int concurrency, int batchSize, Func<T, bool> admit, Func<List<T>, Task> handle, Action<Func<Task>> spawn)
{
    private readonly ConcurrentQueue<T> _items = new();
    private readonly AsyncSignal _wake = new();
    private int _running;

    /// <summary>Items waiting for a batch.</summary>
    public int Count => _items.Count;

    public void Post(T item)
    {
        _items.Enqueue(item);
        _wake.Set();
    }

    /// <summary>Wakes the loop (to see the stop, or items enqueued by <see cref="Post"/> elsewhere).</summary>
    public void Wake() => _wake.Set();

    /// <summary>Takes every item still waiting, admitted ones only (after the loop stopped, for a last round).</summary>
    public List<T> TakeAll()
    {
        var left = new List<T>();
        while (_items.TryDequeue(out var item))
        {
            if (admit(item))
            {
                left.Add(item);
            }
        }

        return left;
    }

    /// <summary>The loop; ends when <paramref name="stop"/> is cancelled and the loop is woken.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            while (Volatile.Read(ref _running) < concurrency && !_items.IsEmpty)
            {
                var batch = new List<T>(Math.Min(batchSize, 16));
                while (batch.Count < batchSize && _items.TryDequeue(out var item))
                {
                    if (admit(item))
                    {
                        batch.Add(item);
                    }
                }

                if (batch.Count > 0)
                {
                    Interlocked.Increment(ref _running);
                    spawn(() => HandleAsync(batch));
                }
            }

            await _wake.WaitAsync().ConfigureAwait(false);
        }
    }

    private async Task HandleAsync(List<T> batch)
    {
        try
        {
            await handle(batch).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _running);
            _wake.Set();
        }
    }
}
