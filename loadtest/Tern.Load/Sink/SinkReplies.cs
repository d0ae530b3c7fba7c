using System.Text;

namespace Tern.Load.Sink;

/// <summary>
/// The sink's replies, as UTF-8 literals (no allocation when they are copied into the output). Each
/// carries an enhanced status code (RFC 2034, RFC 3463) since ENHANCEDSTATUSCODES is advertised.
/// </summary>
internal static class SinkReplies
{
    public static ReadOnlySpan<byte> Greeting => "220 tern-load.sink ESMTP tern-load sink\r\n"u8;

    /// <summary>
    /// EHLO (RFC 5321 4.1.1.1) with the extensions a sender under test may use: PIPELINING (RFC
    /// 2920), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), CHUNKING (RFC 3030), SIZE (RFC 1870, no fixed
    /// limit), DSN (RFC 3461, parameters accepted and ignored), ENHANCEDSTATUSCODES (RFC 2034).
    /// </summary>
    public static ReadOnlySpan<byte> Ehlo =>
        "250-tern-load.sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250-SIZE\r\n250-DSN\r\n250 ENHANCEDSTATUSCODES\r\n"u8;

    /// <summary>EHLO before TLS when <c>--tls</c> is on: STARTTLS (RFC 3207) is offered too.</summary>
    public static ReadOnlySpan<byte> EhloTls =>
        "250-tern-load.sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250-SIZE\r\n250-DSN\r\n250-STARTTLS\r\n250 ENHANCEDSTATUSCODES\r\n"u8;

    public static ReadOnlySpan<byte> Helo => "250 tern-load.sink\r\n"u8;

    public static ReadOnlySpan<byte> Ok => "250 2.0.0 Ok\r\n"u8;

    public static ReadOnlySpan<byte> MailOk => "250 2.1.0 Ok\r\n"u8;

    public static ReadOnlySpan<byte> RcptOk => "250 2.1.5 Ok\r\n"u8;

    public static ReadOnlySpan<byte> StartData => "354 End data with <CR><LF>.<CR><LF>\r\n"u8;

    public static ReadOnlySpan<byte> Queued => "250 2.0.0 Ok: queued by tern-load sink\r\n"u8;

    public static ReadOnlySpan<byte> ChunkOk => "250 2.0.0 Ok: chunk received\r\n"u8;

    public static ReadOnlySpan<byte> Bye => "221 2.0.0 Bye\r\n"u8;

    public static ReadOnlySpan<byte> Vrfy => "252 2.5.0 Cannot VRFY user, but will accept message\r\n"u8;

    public static ReadOnlySpan<byte> Help => "214 2.0.0 tern-load sink: see tern-load sink --help\r\n"u8;

    public static ReadOnlySpan<byte> TlsReady => "220 2.0.0 Ready to start TLS\r\n"u8;

    public static ReadOnlySpan<byte> GoingAway => "421 4.3.2 going away\r\n"u8;

    public static ReadOnlySpan<byte> TooManyConnections => "421 4.7.0 too many connections\r\n"u8;

    public static ReadOnlySpan<byte> Unrecognized => "500 5.5.2 command unrecognized\r\n"u8;

    public static ReadOnlySpan<byte> LineTooLong => "500 5.5.2 line too long\r\n"u8;

    public static ReadOnlySpan<byte> MailSyntax => "501 5.5.4 syntax: MAIL FROM:<address>\r\n"u8;

    public static ReadOnlySpan<byte> RcptSyntax => "501 5.5.4 syntax: RCPT TO:<address>\r\n"u8;

    public static ReadOnlySpan<byte> NoArguments => "501 5.5.4 no parameters allowed\r\n"u8;

    public static ReadOnlySpan<byte> BdatSyntax => "501 5.5.4 syntax: BDAT size [LAST]\r\n"u8;

    public static ReadOnlySpan<byte> NotImplemented => "502 5.5.1 not implemented\r\n"u8;

    public static ReadOnlySpan<byte> NoTls => "502 5.5.1 STARTTLS not offered\r\n"u8;

    public static ReadOnlySpan<byte> HeloFirst => "503 5.5.1 send EHLO or HELO first\r\n"u8;

    public static ReadOnlySpan<byte> NestedMail => "503 5.5.1 MAIL already given\r\n"u8;

    public static ReadOnlySpan<byte> MailFirst => "503 5.5.1 send MAIL first\r\n"u8;

    public static ReadOnlySpan<byte> AlreadyTls => "503 5.5.1 TLS already active\r\n"u8;

    public static ReadOnlySpan<byte> DataAfterBdat => "503 5.5.1 DATA not allowed after BDAT\r\n"u8;

    /// <summary>DATA or BDAT without an accepted recipient (RFC 2920 3.1: 554 with pipelining).</summary>
    public static ReadOnlySpan<byte> NoRecipients => "554 5.5.1 no valid recipients\r\n"u8;

    /// <summary>
    /// The reply of an injected failure with <paramref name="code"/>: enhanced code X.3.0 ("other
    /// or undefined mail system status", RFC 3463) in the class of the reply (4 or 5).
    /// </summary>
    public static byte[] Failure(int code) =>
        Encoding.ASCII.GetBytes($"{code} {code / 100}.3.0 injected failure (tern-load sink)\r\n");
}
