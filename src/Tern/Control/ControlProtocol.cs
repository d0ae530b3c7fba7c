using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tern.Control;

// The control socket protocol (DATA/control.sock), one request per connection:
//   client -> server: one JSON object (ControlRequest) ending with '\n' (or with the end of the
//                     client's writing side), at most ControlLimits.MaxRequestBytes;
//   server -> client: one JSON object (ControlResponse) ending with '\n', then the server closes.
// One request per connection keeps the server stateless and lets a shell user talk to it with
// `echo '{"op":"status"}' | socat - UNIX-CONNECT:data/control.sock`. JSON written without
// indentation never contains a raw newline (newlines inside strings are escaped), so '\n' frames.
// Durations are numbers of seconds, times ISO 8601 (RFC 3339), message ids 26-character ULIDs,
// enumerations lower-case words. Requests with unknown members are refused (a misspelt filter
// must not silently select every message); responses may grow members that old clients ignore.
// One exception to "one JSON object": a successful cat answers {"ok":true,"size":N}\n and then
// exactly N bytes, the message as stored (raw, not JSON: it may be 8-bit and as large as the
// max_message_size it was accepted under); an error is the usual single line.

/// <summary>The operations of the control protocol (<see cref="ControlRequest.Op"/>).</summary>
internal static class ControlOps
{
    public const string List = "list";
    public const string History = "history";
    public const string Show = "show";
    public const string Cat = "cat";
    public const string Hold = "hold";
    public const string Release = "release";
    public const string Retry = "retry";
    public const string SetTransport = "set-transport";
    public const string SetRequireTls = "set-requiretls";
    public const string SetMaxRetries = "set-max-retries";
    public const string Fail = "fail";
    public const string Drop = "drop";
    public const string HoldRuleList = "holdrule-list";
    public const string HoldRuleAdd = "holdrule-add";
    public const string HoldRuleRemove = "holdrule-remove";
    public const string Pause = "pause";
    public const string Resume = "resume";
    public const string Status = "status";
    public const string SuppressionList = "suppression-list";
    public const string SuppressionAdd = "suppression-add";
    public const string SuppressionRemove = "suppression-remove";
    public const string Domains = "domains";

    public static readonly string[] All =
    [
        List, History, Show, Cat, Hold, Release, Retry, SetTransport, SetRequireTls, SetMaxRetries, Fail, Drop,
        HoldRuleList, HoldRuleAdd, HoldRuleRemove, Pause, Resume, Status,
        SuppressionList, SuppressionAdd, SuppressionRemove, Domains,
    ];
}

/// <summary>Sizes and times that bound what one connection can cost the server.</summary>
internal static class ControlLimits
{
    /// <summary>A request larger than this is refused (about 36,000 message ids; use a filter for more).</summary>
    public const int MaxRequestBytes = 1024 * 1024;

    /// <summary>A response larger than this is refused by the client (a page of entries, or one header section).</summary>
    public const int MaxResponseBytes = 256 * 1024 * 1024;

    /// <summary>A page holds at most this many entries.</summary>
    public const int MaxLimit = 100_000;

    /// <summary>
    /// The highest retry limit of one message (set-max-retries), as the spool and
    /// <c>delivery.max_retries</c> allow; 0 gives the message the configured limit again.
    /// </summary>
    public const int MaxRetries = 100;

    /// <summary>The whole request must arrive within this time; a client that dawdles is disconnected.</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Writing the response must finish within this time (a client that stopped reading is dropped).</summary>
    public static readonly TimeSpan ResponseTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// cat: each piece of the message must be taken within this time. Generous, as the reader may be
    /// an operator paging through it (<c>tern queue cat ID | less</c>); a stalled client holds one of
    /// the server's connection slots and the message in memory, no more.
    /// </summary>
    public static readonly TimeSpan ContentTimeout = TimeSpan.FromMinutes(10);
}

/// <summary>One request: the operation, its selection and its arguments.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
internal sealed class ControlRequest
{
    /// <summary>One of <see cref="ControlOps.All"/>.</summary>
    public string Op { get; init; } = string.Empty;

    /// <summary>The selection (operations) or the filter and page (list, history).</summary>
    public ControlFilter? Filter { get; init; }

    /// <summary>show, cat: the message id.</summary>
    public string? Id { get; init; }

    /// <summary>retry: move the next attempt by this many seconds (may be negative); absent: to now.</summary>
    public double? ShiftSeconds { get; init; }

    /// <summary>set-transport: the transport name; "" clears it.</summary>
    public string? Transport { get; init; }

    /// <summary>set-requiretls: "yes", "no" or "default".</summary>
    public string? RequireTls { get; init; }

    /// <summary>set-max-retries: retries before the open recipients fail, 0 to 100; 0 restores the configured limit.</summary>
    public int? MaxRetries { get; init; }

    /// <summary>fail: the reason given to the sender in the failure notice; suppression-add: why the address is suppressed.</summary>
    public string? Reason { get; init; }

    /// <summary>holdrule-add: what the new rule matches.</summary>
    public ControlRuleSpec? Rule { get; init; }

    /// <summary>holdrule-remove: the rule's id.</summary>
    public long? RuleId { get; init; }

    /// <summary>suppression-add, suppression-remove: the address.</summary>
    public string? Address { get; init; }

    /// <summary>suppression-list, domains: only addresses (domains) containing this text (ASCII case ignored).</summary>
    public string? Contains { get; init; }

    /// <summary>suppression-list, domains: page size (default 100).</summary>
    public int? Limit { get; init; }

    /// <summary>suppression-list, domains: the previous page's cursor (its last address or domain).</summary>
    public string? After { get; init; }
}

/// <summary>Every field of the queue filter; unset fields do not restrict.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
internal sealed class ControlFilter
{
    public IReadOnlyList<string>? Ids { get; init; }

    /// <summary>A full address, "@domain", or "&lt;&gt;" for the null sender.</summary>
    public string? Sender { get; init; }

    /// <summary>A recipient domain; a leading "." also matches subdomains.</summary>
    public string? RecipientDomain { get; init; }

    public string? Account { get; init; }

    public bool? Held { get; init; }

    /// <summary>Received at least this many seconds ago.</summary>
    public double? OlderThanSeconds { get; init; }

    /// <summary>Received at most this many seconds ago.</summary>
    public double? NewerThanSeconds { get; init; }

    /// <summary>Next attempt due before this time.</summary>
    public DateTimeOffset? DueBefore { get; init; }

    /// <summary>Next attempt due after this time.</summary>
    public DateTimeOffset? DueAfter { get; init; }

    /// <summary>The operator-set transport ("" for messages without one).</summary>
    public string? Transport { get; init; }

    /// <summary>Operations: explicitly every message (an empty selection is refused without it).</summary>
    public bool All { get; init; }

    /// <summary>list/history: page size (default 100).</summary>
    public int? Limit { get; init; }

    /// <summary>list/history: the previous page's cursor.</summary>
    public string? After { get; init; }
}

/// <summary>The answer. Which members are set depends on the operation.</summary>
internal sealed class ControlResponse
{
    public bool Ok { get; init; }

    /// <summary>Why the request failed (when not <see cref="Ok"/>).</summary>
    public string? Error { get; init; }

    /// <summary>
    /// When not <see cref="Ok"/>: the kind of failure for programs, one of bad_request, not_found,
    /// conflict, unavailable, internal_error (<see cref="ControlErrorCodes"/>).
    /// </summary>
    public string? Code { get; init; }

    /// <summary>list/history: one page.</summary>
    public IReadOnlyList<ControlEntry>? Entries { get; init; }

    /// <summary>list/history: how many matched in all.</summary>
    public int? Total { get; init; }

    /// <summary>list/history: the cursor for the next page (absent on the last).</summary>
    public string? Next { get; init; }

    /// <summary>show: the message.</summary>
    public ControlEntry? Message { get; init; }

    /// <summary>show: the header section of the message, verbatim.</summary>
    public string? Headers { get; init; }

    /// <summary>cat: the length of the message in bytes; that many bytes follow the response line.</summary>
    public long? Size { get; init; }

    /// <summary>cat: the message as stored (header section and body); sent after the JSON line, never inside it.</summary>
    [JsonIgnore]
    public byte[]? Content { get; init; }

    /// <summary>Operations: how many messages changed (holdrule-add: how many it held).</summary>
    public int? Count { get; init; }

    /// <summary>holdrule-list: every rule.</summary>
    public IReadOnlyList<ControlHoldRule>? HoldRules { get; init; }

    /// <summary>holdrule-add: the rule with its assigned id.</summary>
    public ControlHoldRule? HoldRule { get; init; }

    /// <summary>pause, resume, status: whether delivery is paused.</summary>
    public bool? Paused { get; init; }

    /// <summary>status: how many messages there are.</summary>
    public ControlCounts? Counts { get; init; }

    /// <summary>suppression-list: one page, in address order (the total and the cursor are in <see cref="Total"/> and <see cref="Next"/>).</summary>
    public IReadOnlyList<ControlSuppression>? Suppressions { get; init; }

    /// <summary>suppression-add: the new entry; suppression-remove: the entry removed.</summary>
    public ControlSuppression? Suppression { get; init; }

    /// <summary>domains: one page, in name order (the total and the cursor are in <see cref="Total"/> and <see cref="Next"/>).</summary>
    public IReadOnlyList<ControlDomainTls>? Domains { get; init; }
}

/// <summary>A queue entry with every field of <c>QueueEntry</c>.</summary>
internal sealed class ControlEntry
{
    public string Id { get; init; } = string.Empty;

    /// <summary>"queued" or "retired".</summary>
    public string State { get; init; } = string.Empty;

    public bool Held { get; init; }

    public string HoldReason { get; init; } = string.Empty;

    public DateTimeOffset Received { get; init; }

    /// <summary>Body size as received (bytes).</summary>
    public long Size { get; init; }

    /// <summary>Where the message record is in the spool log (for debugging compaction).</summary>
    public long LogAddress { get; init; }

    public int Attempts { get; init; }

    public DateTimeOffset NextAttempt { get; init; }

    public DateTimeOffset? Finished { get; init; }

    /// <summary>The operator-set transport; "" when routes decide.</summary>
    public string Transport { get; init; } = string.Empty;

    /// <summary>The operator's REQUIRETLS policy: "default", "yes" or "no".</summary>
    public string RequireTlsPolicy { get; init; } = string.Empty;

    /// <summary>Whether delivery must use verified TLS (the client's REQUIRETLS unless overridden).</summary>
    public bool RequiresTls { get; init; }

    /// <summary>The message's own retry limit (set-max-retries); absent when the configured one applies.</summary>
    public int? MaxRetries { get; init; }

    public ControlEnvelope Envelope { get; init; } = new();

    public IReadOnlyList<ControlRecipient> Recipients { get; init; } = [];
}

/// <summary>The envelope as received.</summary>
internal sealed class ControlEnvelope
{
    /// <summary>The reverse path; "" is the null sender.</summary>
    public string Sender { get; init; } = string.Empty;

    /// <summary>DSN ENVID (xtext).</summary>
    public string EnvelopeId { get; init; } = string.Empty;

    /// <summary>The authenticated account that submitted it.</summary>
    public string? Account { get; init; }

    public string Client { get; init; } = string.Empty;

    public string Listener { get; init; } = string.Empty;

    public bool SmtpUtf8 { get; init; }

    /// <summary>REQUIRETLS on the envelope: the client asked for it, or a submission listener with <c>requiretls = "auto"</c> chose it.</summary>
    public bool RequireTls { get; init; }

    public bool EightBit { get; init; }

    /// <summary>Whether it arrived over TLS.</summary>
    public bool Tls { get; init; }

    /// <summary>BODY: "", "7BIT", "8BITMIME" or "BINARYMIME".</summary>
    public string Body { get; init; } = string.Empty;

    /// <summary>DSN RET: "", "FULL" or "HDRS".</summary>
    public string Ret { get; init; } = string.Empty;
}

/// <summary>One recipient and how it stands.</summary>
internal sealed class ControlRecipient
{
    public string Address { get; init; } = string.Empty;

    /// <summary>DSN NOTIFY: "", "NEVER", or a comma-separated list of SUCCESS, FAILURE, DELAY.</summary>
    public string Notify { get; init; } = string.Empty;

    public string OriginalRecipient { get; init; } = string.Empty;

    /// <summary>"pending", "deferred", "delivered", "failed" or "dropped".</summary>
    public string Status { get; init; } = string.Empty;

    public DateTimeOffset? LastAttempt { get; init; }

    /// <summary>The full last reply, every line (CRLF-separated), or the local reason.</summary>
    public string LastReply { get; init; } = string.Empty;
}

/// <summary>
/// holdrule-add: what a new rule matches; empty criteria match anything. Strict about unknown
/// members: a misspelt criterion must not become a rule that holds every message.
/// </summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
internal sealed class ControlRuleSpec
{
    public string SenderDomain { get; init; } = string.Empty;

    public string RecipientDomain { get; init; } = string.Empty;

    public string Account { get; init; } = string.Empty;
}

/// <summary>A hold rule as the server has it; empty criteria match anything.</summary>
internal sealed class ControlHoldRule
{
    public long Id { get; init; }

    public string SenderDomain { get; init; } = string.Empty;

    public string RecipientDomain { get; init; } = string.Empty;

    public string Account { get; init; } = string.Empty;
}

/// <summary>A suppressed address: mail to it fails at once with a failure notice that gives the reason.</summary>
internal sealed class ControlSuppression
{
    public string Address { get; init; } = string.Empty;

    /// <summary>The remote server's full reply (every line, CRLF-separated), or the operator's text.</summary>
    public string Reason { get; init; } = string.Empty;

    public DateTimeOffset Since { get; init; }

    /// <summary>"bounce" (one reply that says the mailbox is gone), "repeated-failures" or "operator".</summary>
    public string Source { get; init; } = string.Empty;
}

/// <summary>What a recipient domain's server offered on the last delivery to it (the domain TLS history).</summary>
internal sealed class ControlDomainTls
{
    /// <summary>Lower case, A-labels.</summary>
    public string Domain { get; init; } = string.Empty;

    /// <summary>When the session of the last delivery was opened.</summary>
    public DateTimeOffset LastDelivery { get; init; }

    /// <summary>The server offered STARTTLS.</summary>
    [JsonPropertyName("starttls")]
    public bool StartTls { get; init; }

    /// <summary>TLS was verified: DANE, or PKIX under an enforced MTA-STS policy.</summary>
    public bool Verified { get; init; }

    /// <summary>The server announced REQUIRETLS (RFC 8689).</summary>
    [JsonPropertyName("requiretls")]
    public bool RequireTls { get; init; }

    /// <summary>All three: a submission listener with <c>requiretls = "auto"</c> picks REQUIRETLS for mail to this domain.</summary>
    [JsonPropertyName("auto_requiretls")]
    public bool AutoRequireTls { get; init; }
}

/// <summary>status: the sizes of the queue.</summary>
internal sealed class ControlCounts
{
    /// <summary>Queued messages (held ones included).</summary>
    public int Queued { get; init; }

    public int Held { get; init; }

    /// <summary>Queued, not held, and due now.</summary>
    public int Due { get; init; }

    /// <summary>Retired messages still in the history.</summary>
    public int Retired { get; init; }
}

/// <summary>Source-generated (de)serialisation: no reflection in the Native AOT binary.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    AllowTrailingCommas = false,
    ReadCommentHandling = JsonCommentHandling.Disallow,
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(ControlRequest))]
[JsonSerializable(typeof(ControlResponse))]
internal sealed partial class ControlJsonContext : JsonSerializerContext
{
}

/// <summary>Encoding and decoding of one framed message.</summary>
internal static class ControlJson
{
    /// <summary>The request as one line (JSON and the terminating '\n').</summary>
    public static byte[] Encode(ControlRequest request) => Frame(JsonSerializer.SerializeToUtf8Bytes(request, ControlJsonContext.Default.ControlRequest));

    /// <summary>The response as one line (JSON and the terminating '\n').</summary>
    public static byte[] Encode(ControlResponse response) => Frame(JsonSerializer.SerializeToUtf8Bytes(response, ControlJsonContext.Default.ControlResponse));

    /// <exception cref="JsonException">Not a JSON request (the message says where).</exception>
    public static ControlRequest DecodeRequest(ReadOnlySpan<byte> json) =>
        JsonSerializer.Deserialize(json, ControlJsonContext.Default.ControlRequest) ?? throw new JsonException("the request is null");

    /// <exception cref="JsonException">Not a JSON response.</exception>
    public static ControlResponse DecodeResponse(ReadOnlySpan<byte> json) =>
        JsonSerializer.Deserialize(json, ControlJsonContext.Default.ControlResponse) ?? throw new JsonException("the response is null");

    private static byte[] Frame(byte[] json)
    {
        var line = new byte[json.Length + 1];
        json.CopyTo(line, 0);
        line[^1] = (byte)'\n';
        return line;
    }
}
