using System.Buffers;
using System.Text.Unicode;

namespace Tern.Dsn;

/// <summary>What the third part of the DSN returns of the original message, and how it is labelled.</summary>
internal sealed class OriginalPart
{
    /// <summary>What the explanation says about the third part.</summary>
    public enum Returned
    {
        /// <summary>No third part (no original content was given).</summary>
        Nothing,

        /// <summary>The header section.</summary>
        Headers,

        /// <summary>The whole message.</summary>
        Message,

        /// <summary>RET=FULL was asked for but the message cannot be embedded unchanged: headers only.</summary>
        HeadersInsteadOfMessage,
    }

    public Returned What { get; private init; }

    /// <summary>The header section of the original (each field with its CRLF, no empty line).</summary>
    public ReadOnlyMemory<byte> Header { get; private init; }

    /// <summary>The part's content, ready to write (already encoded when base64).</summary>
    public ReadOnlyMemory<byte> Content { get; private init; }

    public string? ContentType { get; private init; }

    public string? TransferEncoding { get; private init; }

    public string Description { get; private init; } = string.Empty;

    /// <summary>The content has octets above 127.</summary>
    public bool EightBit { get; private init; }

    /// <summary>The content is message/global or message/global-headers (RFC 6532 3.7, RFC 6533 6.3).</summary>
    public bool Global { get; private init; }

    /// <summary>
    /// RFC 3461 4.3 and RFC 3464 2: the whole message for a failure with RET=FULL (message/rfc822, or
    /// message/global when SMTPUTF8 and its headers are UTF-8), else the header section
    /// (text/rfc822-headers, RFC 6522 4; message/global-headers when SMTPUTF8 and UTF-8). A message
    /// cannot go into message/rfc822 when a line is longer than 998 octets or CR/LF are not paired
    /// (RFC 2046 5.2.1 allows no encoding there); then only its headers are returned. Headers that
    /// are not line-safe, or are 8-bit without SMTPUTF8, are returned in base64.
    /// </summary>
    public static OriginalPart Choose(DsnRequest request)
    {
        var message = request.OriginalMessage;
        if (message.IsEmpty)
        {
            return new OriginalPart { What = Returned.Nothing };
        }

        var (header, body) = Split(message);
        var span = message.Span;
        var wantFull = DsnPolicy.ReturnsFullMessage(request.Kind, request.Ret);
        if (wantFull && MimeEncoding.IsLineSafe(span))
        {
            var header8 = MimeEncoding.Has8Bit(header.Span);
            var eight = header8 || MimeEncoding.Has8Bit(body.Span);
            var global = header8 && request.SmtpUtf8;
            return new OriginalPart
            {
                What = Returned.Message,
                Header = header,
                Content = message,
                ContentType = global ? "message/global" : "message/rfc822",
                TransferEncoding = eight ? "8bit" : null,
                Description = request.Kind == DsnKind.Failure ? "Undelivered Message" : "Message",
                EightBit = eight,
                Global = global,
            };
        }

        var what = wantFull ? Returned.HeadersInsteadOfMessage : Returned.Headers;
        var hspan = header.Span;
        if (hspan.IsEmpty)
        {
            return new OriginalPart { What = Returned.Nothing };
        }

        var safe = MimeEncoding.IsLineSafe(hspan);
        var has8 = MimeEncoding.Has8Bit(hspan);
        if (safe && !has8)
        {
            return new OriginalPart
            {
                What = what,
                Header = header,
                Content = header,
                ContentType = "text/rfc822-headers",
                Description = "Message Headers",
            };
        }

        if (safe && request.SmtpUtf8 && Utf8.IsValid(hspan))
        {
            return new OriginalPart
            {
                What = what,
                Header = header,
                Content = header,
                ContentType = "message/global-headers",
                TransferEncoding = "8bit",
                Description = "Message Headers",
                EightBit = true,
                Global = true,
            };
        }

        var encoded = new ArrayBufferWriter<byte>(hspan.Length * 4 / 3 + 64);
        encoded.WriteBase64(hspan);
        return new OriginalPart
        {
            What = what,
            Header = header,
            Content = encoded.WrittenMemory,
            ContentType = "text/rfc822-headers; charset=" + (Utf8.IsValid(hspan) ? (has8 ? "utf-8" : "us-ascii") : "unknown-8bit"),
            TransferEncoding = "base64",
            Description = "Message Headers",
        };
    }

    /// <summary>Splits at the first empty line: the header section (with its last CRLF) and the body.</summary>
    internal static (ReadOnlyMemory<byte> Header, ReadOnlyMemory<byte> Body) Split(ReadOnlyMemory<byte> message)
    {
        var span = message.Span;
        if (span.StartsWith("\r\n"u8))
        {
            return (ReadOnlyMemory<byte>.Empty, message[2..]);
        }

        var end = span.IndexOf("\r\n\r\n"u8);
        return end < 0 ? (message, ReadOnlyMemory<byte>.Empty) : (message[..(end + 2)], message[(end + 4)..]);
    }
}
