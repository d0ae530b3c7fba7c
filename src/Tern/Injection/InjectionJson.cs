using System.Text.Json.Serialization;

namespace Tern.Injection;

/// <summary>
/// The body of <c>POST /api/v1/messages</c>. The envelope (<see cref="From"/>, <see cref="To"/>,
/// DSN and REQUIRETLS) plus exactly one of <see cref="Raw"/>, <see cref="RawBase64"/> or
/// <see cref="Message"/>. Members are snake_case; an unknown member is an error, not ignored.
/// </summary>
internal sealed class InjectionRequest
{
    /// <summary>Envelope sender (MAIL FROM); "" is the null sender. Default with <see cref="Message"/>: its From address.</summary>
    public string? From { get; set; }

    /// <summary>Envelope recipients (RCPT TO). Default with <see cref="Message"/>: its To, Cc and Bcc addresses.</summary>
    public string[]? To { get; set; }

    /// <summary>DSN NOTIFY for every recipient (RFC 3461 4.1): "never", or any of "success", "failure", "delay".</summary>
    public string[]? Notify { get; set; }

    /// <summary>DSN RET (RFC 3461 4.3): "full" or "headers".</summary>
    public string? Ret { get; set; }

    /// <summary>DSN ENVID (RFC 3461 4.4): printable ASCII, at most 100 characters.</summary>
    public string? Envid { get; set; }

    /// <summary>REQUIRETLS (RFC 8689).</summary>
    public bool Requiretls { get; set; }

    /// <summary>An RFC 5322 message as text; bare LF line ends become CRLF.</summary>
    public string? Raw { get; set; }

    /// <summary>An RFC 5322 message as base64 (for content that is not UTF-8).</summary>
    public string? RawBase64 { get; set; }

    /// <summary>A message Tern assembles.</summary>
    public StructuredMessage? Message { get; set; }
}

/// <summary>The fields of a message Tern assembles (MIME: text and/or HTML, attachments).</summary>
internal sealed class StructuredMessage
{
    /// <summary>The From header: "Name &lt;address&gt;" or an address.</summary>
    public string? From { get; set; }

    public string[]? To { get; set; }

    public string[]? Cc { get; set; }

    /// <summary>Envelope recipients only: never written into the message.</summary>
    public string[]? Bcc { get; set; }

    public string[]? ReplyTo { get; set; }

    public string? Subject { get; set; }

    public string? Text { get; set; }

    public string? Html { get; set; }

    /// <summary>More header fields, name to value (not the ones above, not MIME structure).</summary>
    public Dictionary<string, string>? Headers { get; set; }

    public MessageAttachment[]? Attachments { get; set; }
}

internal sealed class MessageAttachment
{
    public string? Filename { get; set; }

    /// <summary>Default: application/octet-stream.</summary>
    public string? ContentType { get; set; }

    public string? ContentBase64 { get; set; }

    /// <summary>Set: an inline part of the HTML (multipart/related), referenced as cid:ID.</summary>
    public string? ContentId { get; set; }
}

/// <summary>The answer once the message is durable (202).</summary>
internal sealed class InjectionResponse
{
    /// <summary>The queue id (as in <c>tern queue show</c>).</summary>
    public required string Id { get; init; }

    public required RecipientResult[] Recipients { get; init; }
}

internal sealed class RecipientResult
{
    public required string Address { get; init; }

    /// <summary>"accepted" or "rejected".</summary>
    public required string Status { get; init; }

    public string? Reason { get; init; }
}

/// <summary>A refused request: <c>{"error":{"status":..,"code":"..","message":".."}}</c>, with the recipients when they were judged.</summary>
internal sealed class ErrorResponse
{
    public required ErrorBody Error { get; init; }

    public RecipientResult[]? Recipients { get; init; }
}

internal sealed class ErrorBody
{
    public required int Status { get; init; }

    public required string Code { get; init; }

    public required string Message { get; init; }
}

/// <summary>Source-generated (Native AOT): the request is strict, members unknown to it are refused.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    AllowDuplicateProperties = false,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(InjectionRequest))]
[JsonSerializable(typeof(InjectionResponse))]
[JsonSerializable(typeof(ErrorResponse))]
internal sealed partial class InjectionJsonContext : JsonSerializerContext;
