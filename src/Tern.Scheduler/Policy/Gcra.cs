namespace Tern.Scheduler;

/// <summary>
/// A rate limiter by the generic cell rate algorithm (GCRA, as in ATM traffic shaping and
/// redis-cell): one 64-bit "theoretical arrival time" updated by compare-and-swap, so any number of
/// delivery workers take slots without a lock. Times are in <see cref="TimeProvider"/> timestamp units.
/// </summary>
public sealed class Gcra
{
    private readonly long _interval;
    private readonly long _tolerance;
    private long _tat;

    /// <param name="perSecond">Slots per second (above 0).</param>
    /// <param name="burst">Slots that may be taken back to back (at least 1).</param>
    /// <param name="frequency">Timestamp units per second (<see cref="TimeProvider.TimestampFrequency"/>).</param>
    public Gcra(double perSecond, int burst, long frequency)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(perSecond);
        _interval = Math.Max(1, (long)(frequency / perSecond));
        _tolerance = _interval * (Math.Max(1, burst) - 1);
    }

    /// <summary>
    /// Takes the next slot: returns 0 when it may start at <paramref name="now"/>, else how many units
    /// later it may start (the slot is reserved for then: the caller waits, then goes).
    /// </summary>
    public long Reserve(long now)
    {
        while (true)
        {
            var tat = Volatile.Read(ref _tat);
            var start = Math.Max(tat, now);
            var wait = start - _tolerance - now;
            if (Interlocked.CompareExchange(ref _tat, start + _interval, tat) == tat)
            {
                return Math.Max(0, wait);
            }
        }
    }
}
