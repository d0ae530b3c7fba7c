using System.Net.Security;
using System.Security.Authentication;

namespace Tern.Smtp.Client;

/// <summary>What became of a recipient in one attempt.</summary>
public enum SmtpOutcome : byte
{
    Delivered,
    TemporaryFailure,
    PermanentFailure,
}

/// <summary>Where in the conversation an outcome was decided.</summary>
public enum SmtpStage : byte
{
    /// <summary>Reaching the server (the delivery layer's connect; the session never reports it itself).</summary>
    Connect,
    Greeting,

    /// <summary>EHLO, or HELO after EHLO was refused.</summary>
    Ehlo,

    /// <summary>STARTTLS and its handshake, or the implicit TLS handshake; also any TLS failure on the first read after it.</summary>
    StartTls,
    Auth,
    Mail,
    Rcpt,

    /// <summary>The DATA command (waiting for 354), or a BDAT chunk before the last.</summary>
    Data,

    /// <summary>The reply after the message: the final "." or BDAT LAST.</summary>
    DataEnd,
    Rset,
    Quit,
}

/// <summary>What kind of event decided a failure, for the delivery layer's retry choices and TLS reporting.</summary>
public enum SmtpFailureKind : byte
{
    /// <summary>The server said so (the reply is the server's).</summary>
    Reply,

    /// <summary>Tern refused before sending: size, 8BITMIME, SMTPUTF8, REQUIRETLS, no AUTH mechanism, MAILMAX.</summary>
    Policy,

    /// <summary>The connection was closed or failed.</summary>
    ConnectionLost,

    /// <summary>A command or the session timed out.</summary>
    Timeout,

    /// <summary>The TLS handshake failed, the certificate was refused, or the first read after the handshake failed (a TLS alert from the peer).</summary>
    Tls,

    /// <summary>The server broke the protocol (a malformed or over-long reply, data after the STARTTLS 220).</summary>
    Protocol,

    /// <summary>The caller cancelled.</summary>
    Cancelled,
}

/// <summary>Why a session or transaction could not go on.</summary>
/// <param name="Stage">The step that failed.</param>
/// <param name="Outcome">TemporaryFailure or PermanentFailure.</param>
/// <param name="Reply">The server's reply, or one made up by Tern (<see cref="SmtpReply.IsLocal"/>).</param>
/// <param name="Kind">What happened.</param>
public sealed record SmtpFailure(SmtpStage Stage, SmtpOutcome Outcome, SmtpReply Reply, SmtpFailureKind Kind);

/// <summary>One recipient's result.</summary>
/// <param name="Recipient">The recipient as given.</param>
/// <param name="Outcome">Delivered, or how it failed.</param>
/// <param name="Stage">DataEnd when delivered; otherwise where it failed.</param>
/// <param name="Reply">The reply that decided it, every line (for the DSN's Diagnostic-Code).</param>
/// <param name="Kind">Reply when the server decided; otherwise what happened.</param>
public sealed record SmtpRecipientResult(SmtpRecipient Recipient, SmtpOutcome Outcome, SmtpStage Stage, SmtpReply Reply, SmtpFailureKind Kind);

/// <summary>The result of sending one message, which may have taken several transactions (RCPTMAX, 452).</summary>
/// <param name="Recipients">One result per recipient, in the message's order.</param>
/// <param name="Failure">
/// What stopped the message as a whole, or null: MAIL refused, the last RCPT reply when every RCPT
/// was refused, a lost connection, a local refusal. Per-recipient results say the same in detail.
/// </param>
/// <param name="Transactions">MAIL commands sent.</param>
public sealed record SmtpTransactionResult(IReadOnlyList<SmtpRecipientResult> Recipients, SmtpFailure? Failure, int Transactions)
{
    /// <summary>
    /// The envelope of the next message the caller named went with this one's end of data (RFC 2920 3.1):
    /// the session's next call must send that message.
    /// </summary>
    public bool NextSentAhead { get; init; }

    /// <summary>Every recipient failed with <paramref name="failure"/> (e.g. the session could not be opened).</summary>
    public static SmtpTransactionResult Failed(SmtpMessage message, SmtpFailure failure)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(failure);
        var results = new SmtpRecipientResult[message.Recipients.Count];
        for (var i = 0; i < results.Length; i++)
        {
            results[i] = new SmtpRecipientResult(message.Recipients[i], failure.Outcome, failure.Stage, failure.Reply, failure.Kind);
        }

        return new SmtpTransactionResult(results, failure, 0);
    }
}

/// <summary>Facts about a session, for logs, the Received-like trace of an attempt, TLS reporting and the TLS-policy memory.</summary>
public sealed record SmtpSessionInfo
{
    /// <summary>The 220 greeting (its first line names the server: TLSRPT's receiving-mx-helo).</summary>
    public SmtpReply? Greeting { get; init; }

    /// <summary>EHLO was accepted (false: HELO fallback, no extensions).</summary>
    public bool Esmtp { get; init; }

    /// <summary>The latest EHLO reply's extensions (after STARTTLS: those announced over TLS).</summary>
    public SmtpExtensions Extensions { get; init; } = SmtpExtensions.None;

    /// <summary>STARTTLS was in the EHLO reply before TLS.</summary>
    public bool StartTlsOffered { get; init; }

    /// <summary>The server answered STARTTLS with something other than 220 (opportunistic TLS then goes on in plaintext).</summary>
    public SmtpReply? StartTlsRefused { get; init; }

    /// <summary>TLS is active (STARTTLS or implicit).</summary>
    public bool Tls { get; init; }

    public bool ImplicitTls { get; init; }

    /// <summary>The negotiated TLS version (None without TLS).</summary>
    public SslProtocols TlsProtocol { get; init; }

    /// <summary>The negotiated cipher suite, null without TLS.</summary>
    public TlsCipherSuite? CipherSuite { get; init; }

    /// <summary>What the certificate checks said (null when no handshake got as far as the certificate).</summary>
    public TlsVerification? Verification { get; init; }

    /// <summary>Why TLS failed (handshake, refused certificate, alert on the first read), null when it did not.</summary>
    public string? TlsError { get; init; }

    /// <summary>The SASL mechanism that authenticated the session, null without AUTH.</summary>
    public string? AuthMechanism { get; init; }

    /// <summary>REQUIRETLS offered (RFC 8689: only ever over TLS).</summary>
    public bool RequireTlsOffered => Extensions.RequireTls;

    public bool EightBitMimeOffered => Extensions.EightBitMime;

    public bool SmtpUtf8Offered => Extensions.SmtpUtf8;

    public bool DsnOffered => Extensions.Dsn;

    /// <summary>"TLSv1.3", "TLSv1.2" or empty, as the server's Received header names it.</summary>
    public string TlsVersionName => TlsProtocol switch
    {
        SslProtocols.Tls13 => "TLSv1.3",
        SslProtocols.Tls12 => "TLSv1.2",
        SslProtocols.None => string.Empty,
        _ => "other",
    };
}
