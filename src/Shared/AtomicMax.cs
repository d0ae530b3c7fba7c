namespace Tern.Platform;

/// <summary>Raising a shared 64-bit value to a maximum without a lock.</summary>
internal static class AtomicMax
{
    /// <summary>Sets <paramref name="location"/> to <paramref name="value"/> unless it already holds as much or more.</summary>
    public static void Raise(ref long location, long value)
    {
        var seen = Interlocked.Read(ref location);
        while (value > seen)
        {
            var was = Interlocked.CompareExchange(ref location, value, seen);
            if (was == seen)
            {
                return;
            }

            seen = was;
        }
    }
}
