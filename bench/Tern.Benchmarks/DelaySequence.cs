namespace Tern.Benchmarks;

/// <summary>
/// Next-attempt delays for the scheduler benchmarks: uniform over [1, 2 x scheduled] ticks plus a
/// part of a tick (real retry times with jitter are not aligned to ticks), so that about one entry
/// falls due per tick whatever the number scheduled; a fixed seed and a ring of 65,536 values.
/// </summary>
internal sealed class DelaySequence
{
    private const int Count = 1 << 16;
    private readonly long[] _delays = new long[Count];
    private int _next;

    public DelaySequence(int scheduled, long resolution, Random random)
    {
        for (var i = 0; i < _delays.Length; i++)
        {
            _delays[i] = (random.NextInt64(1, 2L * scheduled) * resolution) + random.Next((int)resolution);
        }
    }

    public long Next()
    {
        var delay = _delays[_next];
        _next = (_next + 1) & (Count - 1);
        return delay;
    }
}
