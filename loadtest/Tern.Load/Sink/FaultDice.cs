namespace Tern.Load.Sink;

/// <summary>
/// The random draws of one connection's injected faults. Each connection has its own generator,
/// seeded from <c>--seed</c> and the connection's number, so a run with the same seed and the same
/// client makes the same decisions without a lock shared by all connections.
/// </summary>
internal sealed class FaultDice(int seed, long connection, IReadOnlyList<int> codes)
{
#pragma warning disable CA5394 // Fault injection wants a reproducible generator, not a secure one.
    private readonly Random _random = new(unchecked(seed ^ (int)(connection * 0x9E3779B1L)));

    /// <summary>True with probability <paramref name="p"/> (no draw at all when p is 0).</summary>
    public bool Roll(double p) => p > 0 && (p >= 1 || _random.NextDouble() < p);

    /// <summary>The reply code of one injected failure.</summary>
    public int Code() => codes.Count == 1 ? codes[0] : codes[_random.Next(codes.Count)];
#pragma warning restore CA5394
}
