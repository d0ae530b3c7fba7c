using Tern.Smtp.Protocol;

namespace Tern.Smtp.Client;

/// <summary>One recipient of a transaction, with its DSN parameters (RFC 3461 4.1, 4.2) as the spool keeps them.</summary>
/// <param name="Address">The mailbox, local@domain without angle brackets (UTF-8 when the message is SMTPUTF8).</param>
/// <param name="Notify">NOTIFY, sent only when the server offers DSN.</param>
/// <param name="OriginalRecipient">ORCPT as received, "addr-type;xtext", or empty; sent only when the server offers DSN.</param>
public sealed record SmtpRecipient(string Address, DsnNotify Notify = DsnNotify.Unspecified, string OriginalRecipient = "");

/// <summary>A message to send: the envelope and the content as spooled.</summary>
public sealed record SmtpMessage
{
    /// <summary>The reverse-path mailbox without angle brackets; empty for the null sender (DSNs).</summary>
    public required string Sender { get; init; }

    public required IReadOnlyList<SmtpRecipient> Recipients { get; init; }

    /// <summary>
    /// Header and body with CRLF line ends, without dot-stuffing and without the final ".". The
    /// client stuffs dots and repairs any bare CR or LF on the way out (except BINARYMIME content,
    /// which is sent as is).
    /// </summary>
    public required ReadOnlyMemory<byte> Content { get; init; }

    /// <summary>
    /// The content has octets above 127 (then BODY=8BITMIME is sent when offered). The client also
    /// checks the content itself, so a wrong false here does no harm.
    /// </summary>
    public bool EightBit { get; init; }

    /// <summary>The submitter's BODY; BinaryMime content needs BDAT and the server's BINARYMIME (RFC 3030).</summary>
    public BodyType BodyType { get; init; }

    /// <summary>The message needs SMTPUTF8 (RFC 6531): UTF-8 addresses or headers.</summary>
    public bool SmtpUtf8 { get; init; }

    /// <summary>
    /// REQUIRETLS (RFC 8689): sent only over TLS whose certificate was verified (PKIX or DANE),
    /// to a server that offers REQUIRETLS; otherwise the message fails with 5.7.30.
    /// </summary>
    public bool RequireTls { get; init; }

    /// <summary>RET, sent only when the server offers DSN.</summary>
    public DsnReturn Ret { get; init; }

    /// <summary>ENVID as received (xtext), or empty; sent only when the server offers DSN.</summary>
    public string EnvelopeId { get; init; } = string.Empty;
}
