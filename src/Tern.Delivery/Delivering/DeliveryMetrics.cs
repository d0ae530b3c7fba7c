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

        // Every series exists from the start, so that rate() and increase() see the first event; the
        // children are resolved once, so that counting a recipient allocates nothing.
        _attempts = new ICounter[KindLabels.Length, Results.Length];
        for (var k = 0; k < KindLabels.Length; k++)
        {
            for (var r = 0; r < Results.Length; r++)
            {
                _attempts[k, r] = Recipients.Labels(Results[r], KindLabels[k]);
            }
        }
    }

    /// <summary>The result label of each <see cref="Tern.Smtp.Client.SmtpOutcome"/> (Delivered, TemporaryFailure, PermanentFailure).</summary>
    public static readonly string[] Results = ["delivered", "deferred", "failed"];

    /// <summary>The transport label of each <see cref="TransportKind"/>, by its value.</summary>
    public static readonly string[] KindLabels = [.. Enum.GetValues<TransportKind>().Select(k => k.ToString().ToLowerInvariant())];

    private readonly ICounter[,] _attempts;

    /// <summary>Counts one recipient's attempt.</summary>
    public void Attempt(TransportKind kind, Tern.Smtp.Client.SmtpOutcome outcome) => _attempts[(int)kind, (int)outcome].Inc();

    public ICounterFamily Recipients { get; }

    public IHistogramFamily Duration { get; }

    public ICounterFamily Opened { get; }

    public ICounterFamily Reused { get; }

    public ICounterFamily PlaintextFallbacks { get; }
}
