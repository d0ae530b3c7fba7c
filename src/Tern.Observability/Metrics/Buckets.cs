namespace Tern.Observability.Metrics;

/// <summary>Histogram bucket layouts shared by components, in base units (seconds, bytes, counts).</summary>
public static class Buckets
{
    /// <summary>Exponential bounds: <paramref name="start"/>, start*factor, ... (<paramref name="count"/> bounds).</summary>
    public static double[] Exponential(double start, double factor, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(start);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(factor, 1);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        var result = new double[count];
        var v = start;
        for (var i = 0; i < count; i++)
        {
            result[i] = v;
            v *= factor;
        }

        return result;
    }

    /// <summary>Latencies of fast local operations (fsync, commit, parse): 50 us to ~6.5 s.</summary>
    public static readonly double[] FastLatencySeconds = Exponential(0.00005, 2, 18);

    /// <summary>Network operations (an SMTP delivery, a DNS lookup): 1 ms to ~9 min.</summary>
    public static readonly double[] NetworkLatencySeconds = Exponential(0.001, 2.5, 15);

    /// <summary>Message sizes: 1 KiB to 64 MiB.</summary>
    public static readonly double[] MessageBytes = Exponential(1024, 4, 9);
}
