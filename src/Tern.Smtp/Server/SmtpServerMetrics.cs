using Tern.Observability.Metrics;
using Tern.Smtp.Protocol;

namespace Tern.Smtp.Server;

/// <summary>
/// The SMTP server's instruments, created once; every labelled child is resolved up front so that a
/// command costs one array lookup and one increment.
/// </summary>
internal sealed class SmtpServerMetrics
{
    private static readonly string[] ReplyClasses = ["2xx", "3xx", "4xx", "5xx"];
    private readonly ICounter[,] _commands;
    private readonly ICounter[] _rejected;
    private readonly Dictionary<string, (ICounter Success, ICounter Failure)> _auth = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ICounter> _tlsOk;
    private readonly ICounter _tlsFailed;

    public SmtpServerMetrics(IMetrics metrics)
    {
        var verbs = Enum.GetValues<SmtpVerb>();
        var commands = metrics.Counter("tern_smtp_commands_total", "SMTP commands received, by verb and reply class.", "verb", "class");
        _commands = new ICounter[verbs.Length, ReplyClasses.Length];
        foreach (var verb in verbs)
        {
            for (var c = 0; c < ReplyClasses.Length; c++)
            {
                _commands[(int)verb, c] = commands.Labels(VerbName(verb), ReplyClasses[c]);
            }
        }

        var rejected = metrics.Counter("tern_smtp_messages_rejected_total", "Messages refused at the end of DATA/BDAT or before, by reason.", "reason");
        var reasons = Enum.GetValues<RejectReason>();
        _rejected = new ICounter[reasons.Length];
        foreach (var r in reasons)
        {
            _rejected[(int)r] = rejected.Labels(ReasonName(r));
        }

        Connections = metrics.Counter("tern_smtp_connections_total", "SMTP connections accepted, by listener.", "listener");
        ConnectionsRefused = metrics.Counter("tern_smtp_connections_refused_total", "SMTP connections refused by a connection limit, by listener.", "listener");
        ActiveConnections = metrics.Gauge("tern_smtp_connections_active", "SMTP connections open now.");
        Accepted = metrics.Counter("tern_smtp_messages_accepted_total", "Messages accepted (250 after DATA/BDAT).");
        BytesReceived = metrics.Counter("tern_smtp_received_bytes_total", "Message bytes received (after dot-unstuffing).");
        TlsHandshakes = metrics.Counter("tern_smtp_tls_handshakes_total", "TLS handshakes, by protocol version and result.", "version", "result");
        _tlsOk = new Dictionary<string, ICounter>(StringComparer.Ordinal);
        foreach (var version in (string[])["TLSv1.3", "TLSv1.2", "other"])
        {
            _tlsOk[version] = TlsHandshakes.Labels(version, "ok");
        }

        _tlsFailed = TlsHandshakes.Labels("unknown", "failed");
        var auth = metrics.Counter("tern_smtp_auth_total", "AUTH attempts, by mechanism and result.", "mechanism", "result");
        foreach (var m in Tern.Sasl.SaslMechanisms.All)
        {
            _auth[m] = (auth.Labels(m, "success"), auth.Labels(m, "failure"));
        }

        CommitLatency = metrics.Histogram(
            "tern_smtp_data_commit_seconds",
            "Time from the end of message data to the reply (the durable commit).",
            Buckets.FastLatencySeconds);
    }

    public ICounterFamily Connections { get; }

    public ICounterFamily ConnectionsRefused { get; }

    public IGaugeFamily ActiveConnections { get; }

    public ICounterFamily Accepted { get; }

    public ICounterFamily BytesReceived { get; }

    public ICounterFamily TlsHandshakes { get; }

    public IHistogramFamily CommitLatency { get; }

    public void Command(SmtpVerb verb, byte replyFirstDigit)
    {
        var c = replyFirstDigit - '2';
        if ((uint)c < 4)
        {
            _commands[(int)verb, c].Inc();
        }
    }

    public void Rejected(RejectReason reason) => _rejected[(int)reason].Inc();

    /// <summary>A handshake that completed, by the version name (<see cref="SmtpSession.TlsVersionName"/>).</summary>
    public void TlsEstablished(string version) => (_tlsOk.TryGetValue(version, out var c) ? c : _tlsOk["other"]).Inc();

    public void TlsFailed() => _tlsFailed.Inc();

    public void Auth(string mechanism, bool success)
    {
        if (_auth.TryGetValue(mechanism, out var c))
        {
            (success ? c.Success : c.Failure).Inc();
        }
    }

    internal static string VerbName(SmtpVerb verb) => verb == SmtpVerb.StartTls ? "STARTTLS" : verb.ToString().ToUpperInvariant();

    private static string ReasonName(RejectReason r) => r switch
    {
        RejectReason.TooBig => "too_big",
        RejectReason.BareLineEnding => "bare_line_ending",
        RejectReason.LineTooLong => "line_too_long",
        RejectReason.RelayDenied => "relay_denied",
        RejectReason.AuthRequired => "auth_required",
        RejectReason.StoreFailure => "store_failure",
        _ => "too_many_recipients",
    };
}

internal enum RejectReason
{
    TooBig,
    BareLineEnding,
    LineTooLong,
    RelayDenied,
    AuthRequired,
    StoreFailure,
    TooManyRecipients,
}
