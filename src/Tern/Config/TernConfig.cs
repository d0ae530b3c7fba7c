using System.Net;
using Tern.Observability.Logging;
using Tern.Smtp.Server;

namespace Tern.Config;

/// <summary>The whole configuration as the host sees it. Libraries get their own option objects built from it.</summary>
public sealed record TernConfig
{
    /// <summary>Where the configuration came from: a file path, or <see cref="EmbeddedSource"/>.</summary>
    public required string Source { get; init; }

    public const string EmbeddedSource = "(embedded default)";

    public bool IsEmbeddedDefault => Source == EmbeddedSource;

    /// <summary>Name used in the SMTP greeting, EHLO and Received headers.</summary>
    public required string Hostname { get; init; }

    /// <summary>Absolute path of the data directory (spool, certificates, accounts).</summary>
    public required string DataDirectory { get; init; }

    public required LogConfig Log { get; init; }

    public required HttpConfig Http { get; init; }

    public required RelayConfig Relay { get; init; }

    public required IReadOnlyList<ListenerConfig> Listeners { get; init; }

    public required AuthConfig Auth { get; init; }

    /// <summary>How long SIGTERM waits for in-flight SMTP transactions before closing them.</summary>
    public required TimeSpan ShutdownGrace { get; init; }

    public required SpoolConfig Spool { get; init; }

    public DnsConfig Dns { get; init; } = new();

    public DeliveryConfig Delivery { get; init; } = new();

    public InjectionConfig Injection { get; init; } = new();
}

/// <summary>The <c>[spool]</c> section: group commit, compression, the queue index and its upkeep.</summary>
public sealed record SpoolConfig
{
    /// <summary>How long a commit waits for more records after the first (0: commit at once; records arriving meanwhile share the next commit).</summary>
    public TimeSpan CommitDelay { get; init; } = TimeSpan.Zero;

    /// <summary>Within <see cref="CommitDelay"/>, commit as soon as this many records wait.</summary>
    public int CommitBatch { get; init; } = 1024;

    public long CompressAbove { get; init; } = 32 * 1024;

    public int CompressionLevel { get; init; } = 1;

    public TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromMinutes(1);

    public long CheckpointBytes { get; init; } = 256L << 20;

    public TimeSpan Retention { get; init; } = TimeSpan.FromDays(7);

    public long CompactAbove { get; init; } = 4L << 30;

    /// <summary>In-memory part of the log (a power of two).</summary>
    public long LogMemory { get; init; } = 16L << 20;

    /// <summary>In-memory part of the queue index (a power of two).</summary>
    public long IndexMemory { get; init; } = 16L << 20;

    /// <summary>Hash table of a new queue index (a power of two, 64 bytes per bucket of 7 entries).</summary>
    public long IndexTable { get; init; } = 8L << 20;

    /// <summary>
    /// Free space the spool's file system keeps: below it new messages are refused (452 4.3.1).
    /// Negative: not configured, the host derives it (<see cref="MinFreeFloor"/>, or twice the largest
    /// message accepted); 0: no reserve.
    /// </summary>
    public long MinFree { get; init; } = -1;

    /// <summary>The least reserve by default: room for a checkpoint of the queue index (about 36 MiB) and the records and notices of delivery.</summary>
    public const long MinFreeFloor = 100L << 20;
}

public sealed record LogConfig(TernLogLevel Level, IReadOnlyDictionary<string, TernLogLevel> Components);

/// <summary>The <c>[http]</c> section: the listener for /metrics, /healthz, /readyz and the admin API.</summary>
/// <param name="AdminTokenFile">A file holding the admin API's bearer token (absolute); null: <paramref name="AdminToken"/> or the generated <c>DATA/http-admin.token</c>.</param>
/// <param name="AdminToken">The admin API's bearer token written in the configuration; never printed (see <see cref="PrintMembers"/>).</param>
public sealed record HttpConfig(IPEndPoint Listen, string? AdminTokenFile = null, string? AdminToken = null)
{
    /// <summary>The token is a secret: a logged or printed configuration shows only whether it is set.</summary>
    private bool PrintMembers(System.Text.StringBuilder builder)
    {
        builder.Append($"Listen = {Listen}, AdminTokenFile = {AdminTokenFile}, AdminToken = {(AdminToken is null ? "" : "(set)")}");
        return true;
    }
}

/// <summary>
/// Who may relay without authenticating (<paramref name="Networks"/>), and the domains anyone may
/// send to (<paramref name="Domains"/>). Submission always requires AUTH.
/// </summary>
public sealed record RelayConfig(IReadOnlyList<IPNetwork> Networks, IReadOnlyList<string> Domains);

/// <param name="TlsCertificate">PEM certificate chain file; null: the self-signed certificate in the data directory.</param>
/// <param name="TlsKey">PEM private key file; set together with <paramref name="TlsCertificate"/>.</param>
/// <summary>SMTP AUTH settings; accounts live in <c>DATA/accounts.json</c> (managed with <c>tern account</c>).</summary>
/// <param name="Mechanisms">Advertised in this order, where usable (PLUS needs a channel binding, PLAIN/LOGIN need TLS).</param>
/// <param name="AllowWithoutTls">Offer AUTH before STARTTLS (never PLAIN/LOGIN).</param>
/// <param name="Iterations">PBKDF2 iterations for new SCRAM keys.</param>
/// <param name="PlusOnTls13">Offer -PLUS on TLS 1.3 (bound with tls-server-end-point).</param>
public sealed record AuthConfig(IReadOnlyList<string> Mechanisms, bool AllowWithoutTls, int MaxFailuresPerIp, TimeSpan FailureWindow, TimeSpan FailureDelay, int Iterations, bool PlusOnTls13 = true)
{
    public static AuthConfig Default { get; } = new(
        new Tern.Sasl.SaslServerOptions().Mechanisms,
        false,
        10,
        TimeSpan.FromMinutes(10),
        TimeSpan.FromSeconds(1),
        Tern.Sasl.Credentials.AccountStore.DefaultIterationCount);

    public bool Equals(AuthConfig? other) =>
        other is not null && Mechanisms.SequenceEqual(other.Mechanisms) && AllowWithoutTls == other.AllowWithoutTls &&
        MaxFailuresPerIp == other.MaxFailuresPerIp && FailureWindow == other.FailureWindow && FailureDelay == other.FailureDelay && Iterations == other.Iterations &&
        PlusOnTls13 == other.PlusOnTls13;

    public override int GetHashCode() => HashCode.Combine(Mechanisms.Count, AllowWithoutTls, MaxFailuresPerIp, FailureWindow, FailureDelay, Iterations);
}

/// <param name="Limits">The <c>[smtp]</c> limits with this listener's overrides applied.</param>
public sealed record ListenerConfig(string Name, ListenerKind Kind, IPEndPoint Address, string? TlsCertificate, string? TlsKey, SmtpLimits Limits)
{
    /// <summary>
    /// <c>requiretls</c>: whether a submission gets REQUIRETLS (RFC 8689) without asking, when every
    /// recipient domain took it on its last delivery. Auto by default on submission listeners, as mox
    /// does; relay listeners are always off (their clients choose).
    /// </summary>
    public ListenerRequireTls RequireTls { get; init; }
}

/// <summary>The REQUIRETLS choice of a submission listener (<c>requiretls</c>).</summary>
public enum ListenerRequireTls
{
    /// <summary>Only what the client asked for (MAIL FROM ... REQUIRETLS).</summary>
    Off,

    /// <summary>
    /// Also REQUIRETLS for an authenticated submission over TLS without it and without a TLS-Required
    /// header field, when every recipient domain's last delivery had verified TLS and REQUIRETLS.
    /// </summary>
    Auto,
}

/// <summary>
/// The <c>[injection]</c> section: the HTTP injection API (<c>POST /api/v1/messages</c> on the
/// <c>[http]</c> listener). Its limits default to the <c>[smtp]</c> ones, so a message refused over
/// SMTP is refused here too.
/// </summary>
public sealed record InjectionConfig
{
    /// <summary>Serve the API (it still needs a token: <c>tern account token NAME</c>).</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>The largest message, as stored (headers Tern adds included).</summary>
    public long MaxMessageSize { get; init; } = new SmtpLimits().MaxMessageSize;

    public int MaxRecipients { get; init; } = new SmtpLimits().MaxRecipients;

    /// <summary>The longest line of a message, CRLF included (<c>[smtp]</c> <c>max_data_line</c>).</summary>
    public int MaxLineLength { get; init; } = new SmtpLimits().MaxDataLine;
}
