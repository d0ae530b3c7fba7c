namespace Tern.Scheduler;

/// <summary>
/// The next attempt of every scheduled message: a <see cref="TimingWheel{T}"/> plus the handle of each
/// key, so that a message can be moved or taken off in O(1) when its entry changes. Owner thread only
/// (the scheduler's loop); memory is one wheel node and one dictionary entry per message.
/// </summary>
/// <typeparam name="TKey">The message id.</typeparam>
public sealed class MessageSchedule<TKey>
    where TKey : notnull, IEquatable<TKey>
{
    private readonly TimingWheel<TKey> _wheel;
    private readonly Dictionary<TKey, (ScheduleHandle Handle, long Due)> _handles;

    /// <param name="resolution">One tick, in the unit of the times (milliseconds for the scheduler).</param>
    /// <param name="now">The current time.</param>
    /// <param name="capacity">Messages to make room for up front (the rebuild at start knows the count).</param>
    public MessageSchedule(long resolution, long now, int capacity = 0)
    {
        _wheel = new TimingWheel<TKey>(resolution, now, capacity);
        _handles = new Dictionary<TKey, (ScheduleHandle, long)>(capacity);
    }

    public int Count => _handles.Count;

    /// <summary>Bytes held per scheduled message by the wheel's node pool (the dictionary adds its entries).</summary>
    public long WheelBytes => _wheel.Capacity * _wheel.NodeSize;

    /// <summary>Schedules <paramref name="key"/> at <paramref name="due"/>, moving it if it was scheduled already.</summary>
    public void Set(TKey key, long due)
    {
        if (_handles.TryGetValue(key, out var known) && _wheel.Reschedule(known.Handle, due))
        {
            _handles[key] = (known.Handle, due);
            return;
        }

        _handles[key] = (_wheel.Schedule(key, due), due);
    }

    /// <summary>Takes <paramref name="key"/> off the schedule; false when it was not on it.</summary>
    public bool Remove(TKey key)
    {
        if (!_handles.Remove(key, out var known))
        {
            return false;
        }

        _wheel.Cancel(known.Handle);
        return true;
    }

    /// <summary>Takes one message due by <paramref name="now"/> off the schedule, if any.</summary>
    public bool TryTakeDue(long now, out TKey key)
    {
        if (!_wheel.TryTakeDue(now, out key, out _))
        {
            return false;
        }

        _handles.Remove(key);
        return true;
    }

    /// <summary>Every scheduled message with its due time (a copy; for tests and diagnostics).</summary>
    public Dictionary<TKey, long> Snapshot() => _handles.ToDictionary(p => p.Key, p => p.Value.Due);
}
