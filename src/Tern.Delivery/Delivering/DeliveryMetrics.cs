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
        var sessions = metrics.Counter("tern_delivery_tls_sessions_total", "SMTP sessions opened by delivery (greeting and EHLO passed), by how TLS was checked: none, opportunistic (unverified), pkix, dane.", "mode");
        _sessions = [.. TlsModes.Select(m => sessions.Labels(m))];
        var requireTls = metrics.Counter("tern_delivery_requiretls_unsupported_total", "REQUIRETLS messages a host or route could not take (RFC 8689, 5.7.30), by reason: no_tls, unverified, not_offered (by the server), transport (routed to a transport that does not verify TLS).", "reason");
        _requireTls = [.. RequireTlsReasons.Select(r => requireTls.Labels(r))];

        // Every series exists from the start, so that rate() and increase() see the first event; the
        // children are resolved once, so that counting a recipient allocates nothing.
        _attempts = new ICounter[KindLabels.Length, Results.Length];
        _durations = new IHistogram[KindLabels.Length, Results.Length, TlsModes.Length];
        for (var k = 0; k < KindLabels.Length; k++)
        {
            for (var r = 0; r < Results.Length; r++)
            {
                _attempts[k, r] = Recipients.Labels(Results[r], KindLabels[k]);
                for (var t = 0; t < TlsModes.Length; t++)
                {
                    _durations[k, r, t] = Duration.Labels(Results[r], KindLabels[k], TlsModes[t]);
                }
            }
        }
    }

    /// <summary>The tls label of each <see cref="TlsMode"/>, by its value.</summary>
    public static readonly string[] TlsModes = ["none", "opportunistic", "pkix", "dane"];

    /// <summary>The reason label of each <see cref="RequireTlsReason"/>, by its value.</summary>
    public static readonly string[] RequireTlsReasons = ["no_tls", "unverified", "not_offered", "transport"];

    private readonly IHistogram[,,] _durations;
    private readonly ICounter[] _sessions;
    private readonly ICounter[] _requireTls;

    /// <summary>Observes one batch's duration.</summary>
    public void Batch(TransportKind kind, Tern.Smtp.Client.SmtpOutcome worst, TlsMode tls, double seconds) => _durations[(int)kind, (int)worst, (int)tls].Observe(seconds);

    /// <summary>Counts one session opened, by its TLS mode.</summary>
    public void Session(TlsMode tls) => _sessions[(int)tls].Inc();

    /// <summary>Counts one REQUIRETLS refusal (per host or route, not per recipient).</summary>
    public void RequireTlsUnsupported(RequireTlsReason reason) => _requireTls[(int)reason].Inc();

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

/// <summary>How a delivery session's TLS was checked (the <c>tls</c> and <c>mode</c> labels).</summary>
internal enum TlsMode
{
    None,
    Opportunistic,
    Pkix,
    Dane,
}

/// <summary>Why a REQUIRETLS message could not go to a host or through a route (RFC 8689 section 4.2.1).</summary>
internal enum RequireTlsReason
{
    /// <summary>The session has no TLS (the server offers no STARTTLS, or it failed).</summary>
    NoTls,

    /// <summary>TLS, but the certificate was not verified (neither PKIX nor DANE).</summary>
    Unverified,

    /// <summary>Verified TLS, but the server does not offer REQUIRETLS.</summary>
    NotOffered,

    /// <summary>The route picked a transport that does not verify TLS.</summary>
    Transport,
}
