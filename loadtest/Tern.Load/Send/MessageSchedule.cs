using System.Diagnostics;

namespace Tern.Load.Send;

/// <summary>
/// Hands out the run's messages to its sessions: sequence numbers from 1 (the SEQ of the
/// Message-ID), at most --messages of them, none due after --duration or once the run is cancelled,
/// and each with the time it is due. Without --rate a message is due when claimed. With --rate R:
/// the closed model spaces claims at least 1/R apart (a global cap on sessions that otherwise send
/// as fast as replies come); the open model makes message n due at start + (n-1)/R whatever the
/// replies, and the sender measures latency from that due time, so a server that stalls shows its
/// stall in the latency instead of hiding it by slowing the sender down (coordinated omission).
/// </summary>
internal sealed class MessageSchedule
{
    private readonly long _limit;
    private readonly long _start;
    private readonly long _deadline;
    private readonly double _ticksPerMessage;
    private readonly LoadModel _model;
    private readonly CancellationToken _cancel;
    private long _claimed;
    private long _nextDue;

    public MessageSchedule(long messages, TimeSpan duration, double rate, LoadModel model, CancellationToken cancel)
    {
        _limit = messages;
        _start = Stopwatch.GetTimestamp();
        _deadline = _start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        _ticksPerMessage = rate > 0 ? Stopwatch.Frequency / rate : 0;
        _model = model;
        _cancel = cancel;
        _nextDue = _start;
    }

    /// <summary>Messages claimed so far (may overshoot the limit by the sessions that asked last).</summary>
    public long Claimed => Math.Min(Interlocked.Read(ref _claimed), _limit);

    /// <summary>No more messages will be handed out: all claimed, past the deadline, or cancelled.</summary>
    public bool Exhausted => _cancel.IsCancellationRequested || Interlocked.Read(ref _claimed) >= _limit || Stopwatch.GetTimestamp() >= _deadline;

    /// <summary>The next message and when it is due (a Stopwatch timestamp); false when the run has no more.</summary>
    public bool TryClaim(out long seq, out long due)
    {
        due = 0;
        seq = 0;
        var now = Stopwatch.GetTimestamp();
        if (_cancel.IsCancellationRequested || now >= _deadline)
        {
            return false;
        }

        seq = Interlocked.Increment(ref _claimed);
        if (seq > _limit)
        {
            return false;
        }

        if (_ticksPerMessage == 0)
        {
            due = now;
        }
        else if (_model == LoadModel.Open)
        {
            due = _start + (long)((seq - 1) * _ticksPerMessage);
        }
        else
        {
            // Closed model with a cap: the next free slot at least 1/R after the previous one.
            long previous, next;
            do
            {
                previous = Interlocked.Read(ref _nextDue);
                due = Math.Max(now, previous);
                next = due + (long)_ticksPerMessage;
            }
            while (Interlocked.CompareExchange(ref _nextDue, next, previous) != previous);
        }

        return due < _deadline;
    }

    /// <summary>Waits until <paramref name="due"/>; false when the run was cancelled meanwhile.</summary>
    public ValueTask<bool> WaitUntilAsync(long due)
    {
        var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
        return wait < TimeSpan.FromMilliseconds(1) ? ValueTask.FromResult(!_cancel.IsCancellationRequested) : DelayAsync(wait);
    }

    private async ValueTask<bool> DelayAsync(TimeSpan wait)
    {
        try
        {
            await Task.Delay(wait, _cancel);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
