namespace Tern.Smtp.Client;

/// <summary>How a session uses TLS.</summary>
public enum SmtpTlsMode : byte
{
    /// <summary>Never TLS (e.g. the retry in plaintext after a TLS failure of opportunistic delivery).</summary>
    None,

    /// <summary>STARTTLS when the server offers it; plaintext when it does not or refuses the command.</summary>
    Opportunistic,

    /// <summary>
    /// STARTTLS always, even when not offered (an attacker may have removed the keyword); no
    /// plaintext delivery (DANE, MTA-STS enforce, REQUIRETLS, a smarthost on port 587).
    /// </summary>
    Required,

    /// <summary>TLS from the first byte (RFC 8314 submissions, port 465), then the greeting.</summary>
    Implicit,
}

/// <summary>Timeouts of one session. Defaults are RFC 5321 4.5.3.2's; tests use short ones.</summary>
public sealed record SmtpClientTimeouts
{
    /// <summary>RFC 5321 4.5.3.2.1: initial 220 message, 5 minutes.</summary>
    public TimeSpan Greeting { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>EHLO/HELO, STARTTLS, AUTH steps, RSET, QUIT (RFC 5321 sets none for these; 5 minutes like MAIL).</summary>
    public TimeSpan Command { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>The TLS handshake (mail-behaviour.md: 1 minute).</summary>
    public TimeSpan TlsHandshake { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>RFC 5321 4.5.3.2.2: MAIL, 5 minutes.</summary>
    public TimeSpan Mail { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>RFC 5321 4.5.3.2.3: RCPT, 5 minutes.</summary>
    public TimeSpan Rcpt { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>RFC 5321 4.5.3.2.4: DATA initiation (the 354), 2 minutes.</summary>
    public TimeSpan DataInitiation { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>RFC 5321 4.5.3.2.5: each write of message data, 3 minutes.</summary>
    public TimeSpan DataBlock { get; init; } = TimeSpan.FromMinutes(3);

    /// <summary>RFC 5321 4.5.3.2.6: the reply after the final ".", 10 minutes (the server may be filtering).</summary>
    public TimeSpan DataTermination { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>The whole session, from construction to QUIT: a server trickling replies cannot hold a connection for ever.</summary>
    public TimeSpan Session { get; init; } = TimeSpan.FromMinutes(30);
}

/// <summary>Credentials for AUTH (RFC 4954) to a smarthost.</summary>
public sealed record SmtpClientAuthOptions
{
    public required string Username { get; init; }

    public required string Password { get; init; }

    /// <summary>
    /// Mechanisms to use, in order of preference (the first the server offers wins); null: Tern.Sasl's
    /// default order (SCRAM-SHA-256-PLUS ... CRAM-MD5, then PLAIN/LOGIN only over verified TLS).
    /// </summary>
    public IReadOnlyList<string>? Mechanisms { get; init; }

    /// <summary>
    /// A 5xx answer to AUTH defers the mail instead of failing it, as Postfix's
    /// smtp_sasl_auth_soft_bounce (default yes): a wrong password is the operator's to fix, not a
    /// reason to return every message.
    /// </summary>
    public bool SoftBounce { get; init; } = true;
}

/// <summary>Everything a session needs to know; built by the delivery layer from its configuration.</summary>
public sealed record SmtpClientOptions
{
    /// <summary>The name this client gives in EHLO/HELO (RFC 5321 4.1.1.1: a fully-qualified domain or an address literal).</summary>
    public required string LocalHostname { get; init; }

    public SmtpTlsMode TlsMode { get; init; } = SmtpTlsMode.Opportunistic;

    /// <summary>Certificate checks and SNI for STARTTLS and implicit TLS; required unless <see cref="TlsMode"/> is None.</summary>
    public ClientTlsOptions? Tls { get; init; }

    /// <summary>AUTH after EHLO (after STARTTLS when TLS is used); null: no AUTH.</summary>
    public SmtpClientAuthOptions? Auth { get; init; }

    public SmtpClientTimeouts Timeouts { get; init; } = new();

    public SmtpReplyLimits ReplyLimits { get; init; } = new();

    /// <summary>
    /// Most recipients per transaction (RFC 5321 4.5.3.1.8: servers must accept at least 100). A
    /// server's LIMITS RCPTMAX lowers it; the rest go in further transactions on the connection.
    /// </summary>
    public int MaxRecipientsPerTransaction { get; init; } = 100;

    /// <summary>
    /// An 8-bit message to a server without 8BITMIME fails (554 5.6.3) instead of being sent as is.
    /// Default off: most such servers take 8-bit data anyway (mail-behaviour.md).
    /// </summary>
    public bool Strict8BitMime { get; init; }

    /// <summary>
    /// Send messages with BDAT whenever the server offers CHUNKING. Off by default: DATA is what
    /// every server implements well, and BDAT is only needed for BINARYMIME content (which always
    /// uses it).
    /// </summary>
    public bool PreferChunking { get; init; }

    /// <summary>Size of one BDAT chunk.</summary>
    public int ChunkSize { get; init; } = 1024 * 1024;
}
