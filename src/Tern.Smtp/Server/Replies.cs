namespace Tern.Smtp.Server;

/// <summary>
/// Canned replies, written straight into the output pipe. Codes per RFC 5321 4.2/4.3, enhanced status
/// codes per RFC 3463 (announced with ENHANCEDSTATUSCODES, RFC 2034).
/// </summary>
internal static class Replies
{
    public static ReadOnlySpan<byte> Ok => "250 2.0.0 OK\r\n"u8;
    public static ReadOnlySpan<byte> SenderOk => "250 2.1.0 Sender OK\r\n"u8;
    public static ReadOnlySpan<byte> RecipientOk => "250 2.1.5 Recipient OK\r\n"u8;
    public static ReadOnlySpan<byte> ResetOk => "250 2.0.0 Reset\r\n"u8;
    public static ReadOnlySpan<byte> StartData => "354 Start mail input; end with <CRLF>.<CRLF>\r\n"u8;
    public static ReadOnlySpan<byte> Vrfy => "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery\r\n"u8;
    public static ReadOnlySpan<byte> ExpnRefused => "502 5.5.1 EXPN not available\r\n"u8;
    public static ReadOnlySpan<byte> Help => "214 2.0.0 See RFC 5321; commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY STARTTLS AUTH HELP\r\n"u8;
    public static ReadOnlySpan<byte> ReadyForTls => "220 2.0.0 Ready to start TLS\r\n"u8;

    // Sequence and syntax (RFC 5321 4.2.2, 4.3.2).
    public static ReadOnlySpan<byte> UnknownCommand => "500 5.5.1 Command not recognized\r\n"u8;
    public static ReadOnlySpan<byte> LineTooLong => "500 5.5.2 Line too long\r\n"u8;
    public static ReadOnlySpan<byte> SyntaxError => "501 5.5.4 Syntax error in parameters or arguments\r\n"u8;
    public static ReadOnlySpan<byte> HeloNeedsDomain => "501 5.5.4 EHLO/HELO requires a domain or address literal\r\n"u8;
    public static ReadOnlySpan<byte> BadSender => "501 5.1.7 Bad sender address syntax\r\n"u8;
    public static ReadOnlySpan<byte> BadRecipient => "501 5.1.3 Bad recipient address syntax\r\n"u8;
    public static ReadOnlySpan<byte> PathTooLong => "501 5.5.4 Path too long\r\n"u8;
    public static ReadOnlySpan<byte> NeedsSmtpUtf8 => "553 5.6.7 Non-ASCII address requires SMTPUTF8\r\n"u8;
    public static ReadOnlySpan<byte> UnknownParameter => "555 5.5.4 Unsupported MAIL or RCPT parameter\r\n"u8;
    public static ReadOnlySpan<byte> NoArguments => "501 5.5.4 No arguments allowed\r\n"u8;
    public static ReadOnlySpan<byte> SendHeloFirst => "503 5.5.1 Send EHLO or HELO first\r\n"u8;
    public static ReadOnlySpan<byte> NestedMail => "503 5.5.1 Sender already given\r\n"u8;
    public static ReadOnlySpan<byte> NeedMail => "503 5.5.1 Need MAIL command first\r\n"u8;
    public static ReadOnlySpan<byte> NeedRcpt => "503 5.5.1 Need RCPT command first\r\n"u8;
    public static ReadOnlySpan<byte> TlsAlreadyActive => "503 5.5.1 TLS already active\r\n"u8;
    public static ReadOnlySpan<byte> NotInTransaction => "503 5.5.1 Command not allowed during a mail transaction\r\n"u8;
    public static ReadOnlySpan<byte> DataAfterBdat => "503 5.5.1 DATA not allowed after BDAT\r\n"u8;
    public static ReadOnlySpan<byte> BdatSyntax => "501 5.5.4 BDAT requires a chunk size and optional LAST\r\n"u8;
    public static ReadOnlySpan<byte> StartTlsNotOffered => "502 5.5.1 STARTTLS not available\r\n"u8;
    public static ReadOnlySpan<byte> AuthNotAvailable => "502 5.5.1 AUTH not available\r\n"u8;

    // AUTH (RFC 4954 4, 6).
    public static ReadOnlySpan<byte> AuthSucceeded => "235 2.7.0 Authentication successful\r\n"u8;
    public static ReadOnlySpan<byte> AuthInvalid => "535 5.7.8 Authentication credentials invalid\r\n"u8;
    public static ReadOnlySpan<byte> AuthCancelled => "501 5.7.0 Authentication cancelled\r\n"u8;
    public static ReadOnlySpan<byte> AuthBadBase64 => "501 5.5.2 Cannot decode the response\r\n"u8;
    public static ReadOnlySpan<byte> UnknownMechanism => "504 5.5.4 Unrecognized authentication type\r\n"u8;
    public static ReadOnlySpan<byte> AlreadyAuthenticated => "503 5.5.1 Already authenticated\r\n"u8;
    public static ReadOnlySpan<byte> EncryptionRequiredForAuth => "538 5.7.11 Encryption required for requested authentication mechanism\r\n"u8;
    public static ReadOnlySpan<byte> SenderNotAllowed => "553 5.7.1 Sender address not allowed for this account\r\n"u8;
    public static ReadOnlySpan<byte> EhloOnly => "503 5.5.1 Send EHLO to use this extension\r\n"u8;

    // Limits and content.
    public static ReadOnlySpan<byte> TooManyRecipients => "452 4.5.3 Too many recipients\r\n"u8;
    public static ReadOnlySpan<byte> SizeExceedsLimit => "552 5.3.4 Message size exceeds fixed limit\r\n"u8;
    public static ReadOnlySpan<byte> DataLineTooLong => "500 5.5.2 Line too long in message data (RFC 5321 4.5.3.1.6)\r\n"u8;
    public static ReadOnlySpan<byte> BareLineEnding => "550 5.5.2 Bare CR or LF in message data, use CRLF line endings\r\n"u8;
    /// <summary>RFC 5321 4.2.2: 552, exceeded storage allocation; sending the same envelope again cannot succeed.</summary>
    public static ReadOnlySpan<byte> EnvelopeTooLarge => "552 5.3.4 Envelope too large for one message, send it to fewer recipients at a time\r\n"u8;

    public static ReadOnlySpan<byte> StoreTemporaryFailure => "452 4.3.1 Insufficient system storage, try again later\r\n"u8;
    public static ReadOnlySpan<byte> BodyBinaryNeedsBdat => "503 5.5.1 BODY=BINARYMIME requires BDAT\r\n"u8;

    // Policy.
    public static ReadOnlySpan<byte> RelayDenied => "554 5.7.1 Relay access denied\r\n"u8;
    public static ReadOnlySpan<byte> RoutingCharacters => "550 5.7.1 Source routing characters ('%', '!', quoted '@') are not accepted\r\n"u8;
    public static ReadOnlySpan<byte> AuthRequired => "530 5.7.0 Authentication required\r\n"u8;
    public static ReadOnlySpan<byte> RequireTlsNeedsTls => "530 5.7.10 REQUIRETLS needs a TLS connection\r\n"u8;
    public static ReadOnlySpan<byte> EncryptionRequired => "530 5.7.0 Must issue a STARTTLS command first\r\n"u8;

    // Closing: "421 <code> <host> <text>" (RFC 5321 3.8, 4.2.2: 421 closes the transmission channel).
    public static ReadOnlySpan<byte> TimeoutText => "Timeout waiting for input, closing connection"u8;
    public static ReadOnlySpan<byte> TooManyErrorsText => "Too many errors, closing connection"u8;
    public static ReadOnlySpan<byte> ShuttingDownText => "Service shutting down, closing connection"u8;
    public static ReadOnlySpan<byte> TooManyConnectionsText => "Too many connections, try again later"u8;
    public static ReadOnlySpan<byte> TooManyAuthFailuresText => "Too many authentication failures, try again later"u8;
    public static ReadOnlySpan<byte> TooManyConnectionsFromIpText => "Too many connections from your address, try again later"u8;
}
