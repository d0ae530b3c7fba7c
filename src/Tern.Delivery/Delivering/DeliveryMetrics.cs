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
        var sessions = metrics.Counter("tern_delivery_tls_sessions_total", "SMTP sessions opened by delivery (greeting and EHLO passed), by how TLS was checked: none, opportunistic (unverified), pkix, dane, mtasts (PKIX required by an enforced MTA-STS policy).", "mode");
        _sessions = [.. TlsModes.Select(m => sessions.Labels(m))];
        var requireTls = metrics.Counter("tern_delivery_requiretls_unsupported_total", "REQUIRETLS messages a host or route could not take (RFC 8689, 5.7.30), by reason: no_tls, unverified, not_offered (by the server), transport (routed to a transport that does not verify TLS).", "reason");
        _requireTls = [.. RequireTlsReasons.Select(r => requireTls.Labels(r))];
        var dane = metrics.Counter("tern_delivery_dane_total", "Connections to MX hosts with DANE TLSA records (RFC 7672), by result: verified, unusable_records (TLS required but unverified: no usable record), certificate_rejected (no record matched), no_tls (STARTTLS not offered, refused or failed), tlsa_lookup_failed (the host was skipped).", "result");
        _dane = [.. DaneResults.Select(r => dane.Labels(r))];
        var mtaSts = metrics.Counter("tern_delivery_mtasts_total", "MX hosts tried under the recipient domain's MTA-STS policy (RFC 8461), by result: verified (STARTTLS with a PKIX-valid certificate, enforce), mx_not_listed (skipped: the enforced policy does not name it), certificate_rejected, no_tls (STARTTLS not offered, refused or failed), not_connected (no session for another reason), testing_failure (mode testing: delivered although one of these checks failed).", "result");
        _mtaSts = [.. MtaStsResults.Select(r => mtaSts.Labels(r))];
        var tlsRequiredNo = metrics.Counter("tern_delivery_tls_required_no_total", "MX hosts tried for a message with \"TLS-Required: No\" (RFC 8689 section 5): TLS verification errors ignored and plaintext allowed, by the policy that was set aside: dane, mta_sts, none.", "policy");
        _tlsRequiredNo = [.. TlsPolicies.Select(r => tlsRequiredNo.Labels(r))];

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
    public static readonly string[] TlsModes = ["none", "opportunistic", "pkix", "dane", "mtasts"];

    /// <summary>The result label of each <see cref="MtaStsResult"/>, by its value.</summary>
    public static readonly string[] MtaStsResults = ["verified", "mx_not_listed", "certificate_rejected", "no_tls", "not_connected", "testing_failure"];

    /// <summary>The policy label of each <see cref="TlsPolicy"/>, by its value.</summary>
    public static readonly string[] TlsPolicies = ["none", "dane", "mta_sts"];

    private readonly ICounter[] _mtaSts;
    private readonly ICounter[] _tlsRequiredNo;

    /// <summary>Counts one MX host under an MTA-STS policy.</summary>
    public void MtaSts(MtaStsResult result) => _mtaSts[(int)result].Inc();

    /// <summary>Counts one MX host tried with TLS policy set aside by "TLS-Required: No".</summary>
    public void TlsRequiredNo(TlsPolicy policy) => _tlsRequiredNo[(int)policy].Inc();

    /// <summary>The reason label of each <see cref="RequireTlsReason"/>, by its value.</summary>
    public static readonly string[] RequireTlsReasons = ["no_tls", "unverified", "not_offered", "transport"];

    private readonly IHistogram[,,] _durations;
    private readonly ICounter[] _sessions;
    private readonly ICounter[] _requireTls;
    private readonly ICounter[] _dane;

    /// <summary>The result label of each <see cref="DaneResult"/>, by its value.</summary>
    public static readonly string[] DaneResults = ["verified", "unusable_records", "certificate_rejected", "no_tls", "tlsa_lookup_failed"];

    /// <summary>Counts one connection (or skipped host) under DANE.</summary>
    public void Dane(DaneResult result) => _dane[(int)result].Inc();

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

    /// <summary>PKIX-verified because the recipient domain's enforced MTA-STS policy required it.</summary>
    MtaSts,
}

/// <summary>What an MTA-STS policy (RFC 8461) came to for one MX host.</summary>
internal enum MtaStsResult
{
    Verified,
    MxNotListed,
    CertificateRejected,
    NoTls,
    NotConnected,
    TestingFailure,
}

/// <summary>The TLS policy a "TLS-Required: No" message set aside at one MX host.</summary>
internal enum TlsPolicy
{
    None,
    Dane,
    MtaSts,
}

/// <summary>What DANE (RFC 7672) came to for one connection to an MX host with TLSA records.</summary>
internal enum DaneResult
{
    /// <summary>A usable TLSA record matched the server's certificate.</summary>
    Verified,

    /// <summary>TLSA records, none usable (RFC 7672 section 2.2): TLS was required, the server is not authenticated.</summary>
    UnusableRecords,

    /// <summary>No usable record matched (or DANE-TA's chain or name check failed): the handshake was refused.</summary>
    CertificateRejected,

    /// <summary>STARTTLS not offered, refused, or the handshake failed otherwise: nothing was sent in plaintext.</summary>
    NoTls,

    /// <summary>The TLSA lookup failed (SERVFAIL, timeout): the host was not used (RFC 7672 section 2.2).</summary>
    TlsaLookupFailed,
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
