using System.Buffers;
using FASTER.core;
using Microsoft.Extensions.Logging;
using Tern.Spool.Queue;

namespace Tern.Spool;

/// <summary>
/// Compaction: a long-deferred message keeps the log segment of its body alive, and with it every
/// finished message around it. When the log grows beyond <see cref="SpoolOptions.CompactAbove"/>
/// and its oldest segment is pinned, the queued messages in the oldest part are copied forward (a
/// Copy record: same id, same envelope, new body address), so the next checkpoint can truncate the
/// log. Copies are ordinary appends, one message at a time, so acceptance never stalls. Each copy is
/// followed by a State record of the message's entry, so the copy carries its state too.
/// </summary>
public sealed partial class Spool
{
    private async Task CompactLoopAsync()
    {
        while (true)
        {
            try
            {
                await _compactRequested.WaitAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            var below = Volatile.Read(ref _compactBelow);
            var ids = new List<MessageId>();
            _index.ForEach((id, value) =>
            {
                if (QueueEntryFormat.State(value) == MessageState.Queued && QueueEntryFormat.FirstAddress(value) < below)
                {
                    ids.Add(id);
                }
            });

            foreach (var id in ids)
            {
                try
                {
                    await CopyForwardAsync(id, below, _stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                catch (Exception e) when (e is IOException or FasterException or SpoolException or FormatException)
                {
                    // Tried again after the next checkpoint; meanwhile the log simply stays longer.
                    CompactionFailed(_log2, id.ToString(), e);
                    break;
                }
            }

            Metrics.CompactionRuns.Inc();
            if (ids.Count > 0)
            {
                Compacted(_log2, ids.Count, below);
            }
        }
    }

    /// <summary>Copies one queued message whose body lies below <paramref name="below"/> to the log's tail.</summary>
    internal async Task<bool> CopyForwardAsync(MessageId id, long below, CancellationToken cancel)
    {
        var stripe = _stripes[Stripe(id)];
        await stripe.WaitAsync(cancel).ConfigureAwait(false);
        try
        {
            if (ReadEntry(id) is not { State: MessageState.Queued } entry || entry.FirstAddress >= below
                || await ReadAsync(id, cancel).ConfigureAwait(false) is not { } stored)
            {
                return false;
            }

            if (!_pool.TryDequeue(out var writer))
            {
                writer = new SpoolWriter(this);
            }

            var instance = _current;
            writer.Start(id, instance.Generation, copy: true);
            try
            {
                writer.Envelope.CopyFrom(stored.Envelope);
                writer.Write(stored.Body);
                if (writer.Failed)
                {
                    throw new IOException("a body chunk could not be appended");
                }

                var record = writer.BuildMessageRecord(entry.Received, out var length);
                long address;
                try
                {
                    address = Append(record.AsSpan(0, length), instance.Generation);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(record);
                }

                // The entry is carried forward with its body: once the log is truncated past the
                // original, an index rebuilt from the log still finds the message's state (attempts,
                // hold, next attempt, recipients) after the copy, not a fresh message.
                address = AppendState(id, entry, instance.Generation);
                await SettleAsync(instance, address, cancel).ConfigureAwait(false);
            }
            finally
            {
                writer.Dispose();
            }

            Metrics.Compacted.Inc();
            return true;
        }
        finally
        {
            stripe.Release();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "spool compaction copied queued messages forward {messages} {below}")]
    private static partial void Compacted(ILogger log, int messages, long below);

    [LoggerMessage(Level = LogLevel.Warning, Message = "spool compaction stopped {id}")]
    private static partial void CompactionFailed(ILogger log, string id, Exception e);
}
