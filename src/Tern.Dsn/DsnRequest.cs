using System.Net;

namespace Tern.Dsn;

/// <summary>
/// Everything a DSN says about one message (RFC 3464 2.2 per-message fields plus the parts around
/// them). Strings come as the SMTP layer and the spool keep them; the builder decodes and escapes.
/// </summary>
public sealed record DsnRequest
{
    /// <summary>Host name of this MTA (an A-label): Reporting-MTA, and the From address MAILER-DAEMON@ this host.</summary>
    public required string ReportingMta { get; init; }

    /// <summary>Domain of the DSN's own Message-ID; <see cref="ReportingMta"/> when null or empty.</summary>
    public string? MessageIdDomain { get; init; }

    /// <summary>Queue id of the original message: shown in the text, part of the DSN's Message-ID.</summary>
    public required string QueueId { get; init; }

    /// <summary>The original envelope sender (MAIL FROM): the DSN goes to it. Must not be empty (null sender).</summary>
    public required string Sender { get; init; }

    /// <summary>
    /// ENVID as received in MAIL FROM, still xtext-encoded (RFC 3461 4.4), or empty. The builder
    /// decodes it for Original-Envelope-Id (RFC 3464 2.2.1); a value that does not decode to
    /// printable ASCII is written in its xtext form.
    /// </summary>
    public string EnvelopeId { get; init; } = string.Empty;

    /// <summary>RET from MAIL FROM (RFC 3461 4.3); see <see cref="DsnPolicy.ReturnsFullMessage"/>.</summary>
    public DsnRet Ret { get; init; }

    /// <summary>When the message was accepted (Arrival-Date, RFC 3464 2.2.5).</summary>
    public required DateTimeOffset ArrivalDate { get; init; }

    /// <summary>
    /// The original was received with SMTPUTF8 (RFC 6531). Only then does the DSN carry raw UTF-8:
    /// message/global-delivery-status (RFC 6533) when an address or reply needs it, message/global
    /// or message/global-headers for UTF-8 headers. Without it every non-ASCII character is encoded.
    /// </summary>
    public bool SmtpUtf8 { get; init; }

    /// <summary>What this DSN reports: subject, wording, and whether RET=FULL applies.</summary>
    public required DsnKind Kind { get; init; }

    /// <summary>The recipients this DSN is about, at least one (RFC 3464 2.3).</summary>
    public required IReadOnlyList<DsnRecipient> Recipients { get; init; }

    /// <summary>
    /// The original message as spooled: header section, empty line, body (CRLF line ends). The
    /// builder returns its header section, or all of it for a failure with RET=FULL. Empty: no
    /// third part.
    /// </summary>
    public ReadOnlyMemory<byte> OriginalMessage { get; init; }

    /// <summary>Date header of the DSN (now, as the caller's clock says).</summary>
    public required DateTimeOffset Date { get; init; }
}

/// <summary>One recipient's per-recipient fields (RFC 3464 2.3).</summary>
public sealed record DsnRecipient
{
    /// <summary>The recipient address from the envelope (Final-Recipient, RFC 3464 2.3.2).</summary>
    public required string FinalRecipient { get; init; }

    /// <summary>
    /// ORCPT exactly as received in RCPT TO, "addr-type;xtext" (e.g. "rfc822;bob@example.net"), or
    /// empty. Written as Original-Recipient with the xtext decoded (RFC 3461 6.3 (d)).
    /// </summary>
    public string OriginalRecipient { get; init; } = string.Empty;

    /// <summary>Action field (RFC 3464 2.3.3).</summary>
    public required DsnAction Action { get; init; }

    /// <summary>Enhanced status code such as "5.1.1" (RFC 3463); empty or malformed: 5.0.0, 4.0.0 or 2.0.0 by action.</summary>
    public string Status { get; init; } = string.Empty;

    /// <summary>Host name of the remote MTA that gave the reply, if one was involved (Remote-MTA, RFC 3464 2.3.5).</summary>
    public string? RemoteMtaName { get; init; }

    /// <summary>IP address of the remote MTA, if known; written as a comment after the name.</summary>
    public IPAddress? RemoteMtaAddress { get; init; }

    /// <summary>
    /// The remote server's full reply, every line verbatim, lines separated by CRLF (or LF); or the
    /// local reason when no remote server answered. Empty: no Diagnostic-Code.
    /// </summary>
    public string DiagnosticCode { get; init; } = string.Empty;

    /// <summary>
    /// The diagnostic-type of Diagnostic-Code (RFC 3464 2.3.6): "smtp" for an SMTP reply; use e.g.
    /// "X-Tern" for a local reason that is not an SMTP reply.
    /// </summary>
    public string DiagnosticType { get; init; } = "smtp";

    /// <summary>When the last delivery attempt was made (Last-Attempt-Date, RFC 3464 2.3.7), if any.</summary>
    public DateTimeOffset? LastAttemptDate { get; init; }

    /// <summary>Until when delivery is retried (Will-Retry-Until, RFC 3464 2.3.9): written for "delayed" only.</summary>
    public DateTimeOffset? WillRetryUntil { get; init; }
}

/// <summary>What the spool needs to know to queue the DSN bytes.</summary>
/// <param name="SmtpUtf8">The DSN carries raw UTF-8 in header context (the To address, message/global*,
/// or a UTF-8 message/global-delivery-status): send it with the SMTPUTF8 parameter.</param>
/// <param name="EightBit">The DSN has octets above 127: send it with BODY=8BITMIME.</param>
public readonly record struct DsnTraits(bool SmtpUtf8, bool EightBit);
