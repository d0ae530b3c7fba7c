namespace Tern.Scheduler;

/// <summary>
/// Names one scheduled entry of a <see cref="TimingWheel{T}"/> for <see cref="TimingWheel{T}.Cancel"/>
/// and <see cref="TimingWheel{T}.Reschedule"/>. The version makes a handle go stale once its entry is
/// handed out or cancelled, so a late Cancel can never hit the entry that reused the same node.
/// <c>default</c> is never valid (index 0 is one of the wheel's list heads).
/// </summary>
public readonly record struct ScheduleHandle(int Index, uint Version);

/// <summary>
/// Receives the entries <see cref="TimingWheel{T}.Advance{TConsumer}"/> hands out. A struct so the
/// call is not virtual on the hot path (as Kestrel's parser handlers). It may schedule, cancel or
/// reschedule on the same wheel while it runs.
/// </summary>
public interface IDueConsumer<T>
{
    void OnDue(T item, long dueTime);
}
