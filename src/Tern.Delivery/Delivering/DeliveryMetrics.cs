using Tern.Observability.Metrics;

namespace Tern.Delivery;

/// <summary>
/// The deliverer's instruments. Labels stay low-cardinality: the transport's kind (not its name, not
/// the destination), the result, the TLS mode.
/// </summary>
internal sealed class DeliveryMetrics
{
    public DeliveryMetrics(IMetrics metrics)
    {
        Recipients = metrics.Counter("tern_delivery_attempts_total", "Recipient delivery attempts by result (delivered, deferred, failed) and transport kind.", "result", "transport");
        Duration = metrics.Histogram("tern_delivery_duration_seconds", "Time to deliver one batch (routing, DNS, connection, SMTP), by result, transport kind and TLS mode.", Buckets.NetworkLatencySeconds, "result", "transport", "tls");
        Opened = metrics.Counter("tern_delivery_connections_opened_total", "SMTP connections opened by delivery.");
        Reused = metrics.Counter("tern_delivery_connections_reused_total", "Batches sent over a connection kept open from an earlier batch.");
        PlaintextFallbacks = metrics.Counter("tern_delivery_plaintext_fallbacks_total", "Opportunistic STARTTLS that failed and was retried in plaintext.");

        // Every series exists from the start, so that rate() and increase() see the first event.
        foreach (var transport in Enum.GetNames<TransportKind>())
        {
            foreach (var result in Results)
            {
                Recipients.Labels(result, transport.ToLowerInvariant());
            }
        }
    }

    private static readonly string[] Results = ["delivered", "deferred", "failed"];

    public ICounterFamily Recipients { get; }

    public IHistogramFamily Duration { get; }

    public ICounterFamily Opened { get; }

    public ICounterFamily Reused { get; }

    public ICounterFamily PlaintextFallbacks { get; }
}
