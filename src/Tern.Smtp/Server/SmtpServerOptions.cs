using System.Net;

namespace Tern.Smtp.Server;

/// <summary>What a listener is for; decides STARTTLS, AUTH and relay rules.</summary>
public enum ListenerKind
{
    /// <summary>MX / relay (port 25 style): STARTTLS offered; relays only for trusted networks or authenticated clients.</summary>
    Relay,

    /// <summary>Submission (RFC 6409, port 587 style): STARTTLS, AUTH required before MAIL.</summary>
    Submission,

    /// <summary>Submission over implicit TLS (RFC 8314, port 465 style).</summary>
    Submissions,
}

/// <summary>Limits applied per session and per listener.</summary>
public sealed record SmtpLimits
{
    /// <summary>Largest message accepted (advertised as SIZE; RFC 1870).</summary>
    public long MaxMessageSize { get; init; } = 50L * 1024 * 1024;

    /// <summary>Recipients per transaction; more get 452 4.5.3 (RFC 5321 4.5.3.1.8 requires at least 100).</summary>
    public int MaxRecipients { get; init; } = 1000;

    /// <summary>Longest command line in bytes, CRLF included (RFC 5321 4.5.3.1.4 sets 512 as the minimum).</summary>
    public int MaxCommandLine { get; init; } = 4096;

    /// <summary>Longest text line in DATA, CRLF included (RFC 5321 4.5.3.1.6: 1000).</summary>
    public int MaxDataLine { get; init; } = 1000;

    /// <summary>Bad commands tolerated in one session before 421 and close.</summary>
    public int MaxErrors { get; init; } = 10;

    /// <summary>Concurrent connections per listener.</summary>
    public int MaxConnections { get; init; } = 1000;

    /// <summary>Concurrent connections from one IP address per listener.</summary>
    public int MaxConnectionsPerIp { get; init; } = 100;

    /// <summary>
    /// NOOP, RSET, VRFY, HELP and repeated HELO/EHLO tolerated between two accepted messages before each
    /// counts as an error (Postfix's smtpd_junk_command_limit, which does not count HELO: here a loop of
    /// EHLO and MAIL would otherwise never end).
    /// </summary>
    public int MaxJunkCommands { get; init; } = 100;

    /// <summary>
    /// Waiting for a command (RFC 5321 4.5.3.2.7 server timeout: 5 minutes). A deadline for the whole
    /// command line, not an idle time per read: a client trickling a byte at a time (slowloris) cannot
    /// extend it (Postfix's smtpd_per_request_deadline).
    /// </summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Waiting for the next chunk of message data (RFC 5321 4.5.3.2.6 data block: 3 minutes). The whole
    /// message (DATA, or all the BDAT chunks and the commands between them) must also arrive within
    /// this time plus one second per <see cref="MinDataRate"/> bytes received, so a trickle cannot hold
    /// a connection for the message size's worth of seconds.
    /// </summary>
    public TimeSpan DataTimeout { get; init; } = TimeSpan.FromMinutes(3);

    /// <summary>Slowest data rate (bytes/second) that extends the DATA deadline (Postfix's smtpd_min_data_rate).</summary>
    public int MinDataRate { get; init; } = 500;

    /// <summary>Time allowed for a TLS handshake.</summary>
    public TimeSpan TlsHandshakeTimeout { get; init; } = TimeSpan.FromMinutes(1);
}

/// <summary>One listening socket.</summary>
public sealed record SmtpListenerOptions
{
    public required string Name { get; init; }

    public required ListenerKind Kind { get; init; }

    public required IPEndPoint Endpoint { get; init; }

    /// <summary>Certificate for STARTTLS / implicit TLS; null: no TLS on this listener (relay only).</summary>
    public ServerCertificate? Certificate { get; init; }

    public SmtpLimits Limits { get; init; } = new();
}

/// <summary>Everything the SMTP server needs; built by the host from its configuration.</summary>
public sealed record SmtpServerOptions
{
    /// <summary>Our name in the greeting, EHLO reply and Received header.</summary>
    public required string Hostname { get; init; }

    public required IReadOnlyList<SmtpListenerOptions> Listeners { get; init; }

    /// <summary>Clients allowed to relay to any domain without authenticating.</summary>
    public IReadOnlyList<IPNetwork> RelayNetworks { get; init; } = [];

    /// <summary>
    /// Domains anyone may send to on a relay listener (mail Tern accepts for, e.g. its own domains),
    /// in lower-case A-label form (see <see cref="Protocol.Idna.ToAscii"/>).
    /// </summary>
    public IReadOnlyList<string> AcceptDomains { get; init; } = [];

    /// <summary>Offer AUTH before TLS (never for PLAIN/LOGIN). Off by default (RFC 8314 advises TLS first).</summary>
    public bool AllowAuthWithoutTls { get; init; }

    /// <summary>SMTP AUTH (RFC 4954); null: AUTH is not offered (submission listeners then accept nothing).</summary>
    public SmtpAuthOptions? Authentication { get; init; }
}

/// <summary>Whether an authenticated account may use <paramref name="sender"/> (UTF-8 mailbox, empty for the null sender).</summary>
public delegate bool SenderPolicy(string user, ReadOnlySpan<byte> sender);

/// <summary>How the server authenticates clients.</summary>
public sealed record SmtpAuthOptions
{
    public required Tern.Sasl.SaslServerFactory Mechanisms { get; init; }

    /// <summary>Called before each AUTH (e.g. to pick up account changes); exceptions are logged and ignored.</summary>
    public Action? BeforeAuthentication { get; init; }

    /// <summary>Checks the envelope sender of an authenticated client (553 5.7.1 when it says no); null allows any.</summary>
    public SenderPolicy? MaySendAs { get; init; }

    /// <summary>
    /// Offer the -PLUS mechanisms on TLS 1.3, bound with tls-server-end-point (RFC 5929): .NET has no
    /// TLS exporter, so tls-exporter (RFC 9266), which most TLS 1.3 clients ask for, is unavailable,
    /// and such a client that picks -PLUS fails instead of falling back. On TLS 1.2, tls-unique is
    /// always used.
    /// </summary>
    public bool PlusOnTls13 { get; init; } = true;

    /// <summary>Failed AUTH attempts from one IP address within <see cref="FailureWindow"/> before it gets 421.</summary>
    public int MaxFailuresPerIp { get; init; } = 10;

    public TimeSpan FailureWindow { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Delay before answering a failed attempt, multiplied by the address's recent failures (capped at 5).</summary>
    public TimeSpan FailureDelay { get; init; } = TimeSpan.FromSeconds(1);
}
