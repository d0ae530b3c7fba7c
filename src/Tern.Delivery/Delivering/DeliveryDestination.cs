namespace Tern.Delivery;

/// <summary>
/// Where a batch actually goes, as the scheduler groups work: the transport and, for direct delivery,
/// the recipient domain's MX host set, so that domains served by the same MX hosts share one queue and
/// one set of limits (MX rollup). Computed from cached DNS; a destination that cannot be resolved now
/// is keyed by its domain (the attempt then reports the DNS failure).
/// </summary>
/// <param name="Key">Equal for batches that go to the same place: "transport|host,host..." or "transport|domain".</param>
/// <param name="Transport">The transport's name (or the unknown override's name).</param>
/// <param name="Hosts">The MX host names (direct), the smarthost's name, or empty (fail transport, DNS failure).</param>
public sealed record DeliveryDestination(string Key, string Transport, IReadOnlyList<string> Hosts);

/// <summary>What the scheduler needs from delivery: where a batch goes, and delivering it. <see cref="Deliverer"/> is the implementation.</summary>
public interface IBatchDeliverer
{
    /// <summary>The destination a batch with these properties goes to (routes, then cached MX lookup).</summary>
    ValueTask<DeliveryDestination> DestinationAsync(RouteRequest request, CancellationToken cancel = default);

    /// <summary>One attempt of one batch; every recipient's result with the reply that decided it.</summary>
    Task<BatchResult> DeliverAsync(DeliveryBatch batch, CancellationToken cancel = default);

    /// <summary>
    /// The caller named <paramref name="batch"/> as a <see cref="DeliveryBatch.Next"/> and will not deliver it after
    /// all (held, withdrawn, paused, its destination suspended, stopping): a connection kept for it is closed.
    /// </summary>
    ValueTask DiscardAsync(DeliveryBatch batch);
}
