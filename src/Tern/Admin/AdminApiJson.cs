using System.Text.Json;
using System.Text.Json.Serialization;
using Tern.Control;

namespace Tern.Admin;

// The JSON of the HTTP admin API that is not the control protocol's own. Successful answers are
// ControlResponse objects exactly as `tern queue ... --json` prints them; request bodies use the
// command line's words (durations as "2h", times as ISO 8601 or a duration from now) and refuse
// unknown members, because a misspelt filter must never select every message.

/// <summary>The one shape of every error: <c>{"error":{"status":404,"code":"not_found","message":"..."}}</c>.</summary>
internal sealed class ApiErrorBody
{
    public ApiError Error { get; init; } = new();
}

internal sealed class ApiError
{
    /// <summary>The HTTP status, repeated for logs and scripts that keep only the body.</summary>
    public int Status { get; init; }

    /// <summary>A stable word for programs (<see cref="ApiErrorCodes"/>).</summary>
    public string Code { get; init; } = string.Empty;

    /// <summary>What went wrong, for people.</summary>
    public string Message { get; init; } = string.Empty;
}

/// <summary>The codes of <see cref="ApiError.Code"/>; those of the control protocol (<see cref="ControlErrorCodes"/>) pass through.</summary>
internal static class ApiErrorCodes
{
    public const string InvalidJson = "invalid_json";
    public const string UnknownMember = "unknown_member";
    public const string Unauthorized = "unauthorized";
    public const string MethodNotAllowed = "method_not_allowed";
    public const string PayloadTooLarge = "payload_too_large";
    public const string UnsupportedMediaType = "unsupported_media_type";
}

/// <summary>Which messages an operation applies to; every given criterion must match (as the command line's filters).</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
internal sealed class ApiSelection
{
    public IReadOnlyList<string>? Ids { get; init; }

    public string? Sender { get; init; }

    public string? RecipientDomain { get; init; }

    public string? Account { get; init; }

    public bool? Held { get; init; }

    public string? OlderThan { get; init; }

    public string? NewerThan { get; init; }

    public string? DueBefore { get; init; }

    public string? DueAfter { get; init; }

    public string? Transport { get; init; }

    /// <summary>Explicitly every message: a selection without ids or criteria is refused without it.</summary>
    public bool All { get; init; }
}

/// <summary>POST /api/v1/queue/{id}/{action} and /api/v1/queue/{action}: the selection (bulk only) and the action's arguments.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
internal sealed class ApiActionBody
{
    /// <summary>Bulk form only: which messages.</summary>
    public ApiSelection? Select { get; init; }

    /// <summary>fail: the reason the sender reads in the failure notice.</summary>
    public string? Reason { get; init; }

    /// <summary>retry: move the next attempt by this much from when it was due (<c>2h</c>, <c>-30m</c>); absent: now.</summary>
    public string? Shift { get; init; }
}

/// <summary>PATCH /api/v1/queue/{id} and /api/v1/queue: what to set (and, bulk only, on which messages).</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
internal sealed class ApiPatchBody
{
    /// <summary>Bulk form only: which messages.</summary>
    public ApiSelection? Select { get; init; }

    /// <summary>The transport instead of the routes; "" clears it.</summary>
    public string? Transport { get; init; }

    /// <summary>The REQUIRETLS policy (RFC 8689): "yes", "no" or "default".</summary>
    [JsonPropertyName("requiretls")]
    public string? RequireTls { get; init; }

    /// <summary>The message's own retry limit, 0 to 100; 0 gives it the configured limit again.</summary>
    public int? MaxRetries { get; init; }
}

/// <summary>The answer to a PATCH: how many messages each setting changed, and (one message) the message as it is now.</summary>
internal sealed class ApiPatchResult
{
    public bool Ok { get; init; } = true;

    public ApiChanged Changed { get; init; } = new();

    /// <summary>PATCH /api/v1/queue/{id}: the message after the change.</summary>
    public ControlEntry? Message { get; init; }
}

/// <summary>Per setting given, how many messages it changed (a message that already had the value does not count).</summary>
internal sealed class ApiChanged
{
    public int? Transport { get; init; }

    [JsonPropertyName("requiretls")]
    public int? RequireTls { get; init; }

    public int? MaxRetries { get; init; }
}

/// <summary>POST /api/v1/holdrules.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
internal sealed class ApiHoldRuleBody
{
    public string? SenderDomain { get; init; }

    public string? RecipientDomain { get; init; }

    public string? Account { get; init; }

    /// <summary>A rule without criteria (it holds every new message) must be asked for.</summary>
    public bool All { get; init; }
}

/// <summary>POST /api/v1/suppression.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
internal sealed class ApiSuppressionBody
{
    public string? Address { get; init; }

    public string? Reason { get; init; }
}

/// <summary>A body that takes no members (hold, release, drop, pause, resume): absent, or <c>{}</c>.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
internal sealed class ApiEmptyBody
{
}

/// <summary>/readyz: ready or not, and the detail of each check.</summary>
internal sealed class ReadinessReport
{
    /// <summary>"ready" or "not_ready".</summary>
    public string Status { get; init; } = string.Empty;

    public ReadinessChecks Checks { get; init; } = new();
}

internal sealed class ReadinessChecks
{
    /// <summary>Every configured SMTP listener is bound and accepting (not shutting down).</summary>
    public ReadinessCheck Listeners { get; init; } = new();

    /// <summary>The spool is open: its log recovered and its queue index caught up.</summary>
    public ReadinessCheck Spool { get; init; } = new();

    /// <summary>The spool's commits succeed (they fail on a full disk or an I/O error).</summary>
    public ReadinessCheck Commits { get; init; } = new();

    /// <summary>The data directory's file system has room for a message of the largest size accepted.</summary>
    public ReadinessCheck Disk { get; init; } = new();
}

internal sealed class ReadinessCheck
{
    public bool Ok { get; init; }

    public string Detail { get; init; } = string.Empty;
}

/// <summary>Source-generated (de)serialisation: no reflection in the Native AOT binary.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    AllowTrailingCommas = false,
    AllowDuplicateProperties = false,
    ReadCommentHandling = JsonCommentHandling.Disallow,
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(ApiErrorBody))]
[JsonSerializable(typeof(ApiActionBody))]
[JsonSerializable(typeof(ApiPatchBody))]
[JsonSerializable(typeof(ApiPatchResult))]
[JsonSerializable(typeof(ApiHoldRuleBody))]
[JsonSerializable(typeof(ApiSuppressionBody))]
[JsonSerializable(typeof(ApiEmptyBody))]
[JsonSerializable(typeof(ReadinessReport))]
internal sealed partial class AdminJsonContext : JsonSerializerContext
{
}
