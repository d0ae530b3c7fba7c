using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tern.Cli;

/// <summary>What <c>tern mta-sts list --json</c> prints: the cache file's entries as <see cref="MtaStsCommands"/> reads them.</summary>
internal sealed class MtaStsListOutput
{
    /// <summary>The cache file (DATA/mta-sts.json).</summary>
    public required string File { get; init; }

    /// <summary>Whether the file exists (the server writes it after its first MTA-STS lookup).</summary>
    public bool Exists { get; init; }

    /// <summary>[delivery] mta_sts of the configuration: false means the cache is left from an earlier run and not used.</summary>
    public bool Enabled { get; init; }

    public required IReadOnlyList<MtaStsListEntry> Entries { get; init; }
}

/// <summary>One domain of the cache; the policy fields are absent when only a failed first fetch is remembered.</summary>
internal sealed class MtaStsListEntry
{
    public required string Domain { get; init; }

    /// <summary>none, testing or enforce.</summary>
    public string? Mode { get; init; }

    /// <summary>The id of the TXT record the policy was fetched under.</summary>
    public string? Id { get; init; }

    /// <summary>The policy's "mx" patterns, as served (lower case).</summary>
    public IReadOnlyList<string>? Mx { get; init; }

    public int? MaxAge { get; init; }

    public DateTimeOffset? Fetched { get; init; }

    /// <summary>Fetched + max_age: the policy is not applied after this.</summary>
    public DateTimeOffset? Expires { get; init; }

    /// <summary>Whether <see cref="Expires"/> has passed (kept only until a fetch replaces it or the entry is swept).</summary>
    public bool? Expired { get; init; }

    /// <summary>From this time on the next lookup refreshes the policy in the background.</summary>
    public DateTimeOffset? RefreshDue { get; init; }

    public DateTimeOffset LastUsed { get; init; }

    /// <summary>The last failed fetch since the policy was fetched.</summary>
    public DateTimeOffset? Failed { get; init; }

    public string? Error { get; init; }

    /// <summary>No fetch for the domain before this (present while the backoff after <see cref="Failed"/> runs).</summary>
    public DateTimeOffset? BackoffUntil { get; init; }
}

/// <summary>Source-generated serialisation: no reflection in the Native AOT binary.</summary>
[JsonSourceGenerationOptions(
    WriteIndented = true,
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    AllowTrailingCommas = false,
    ReadCommentHandling = JsonCommentHandling.Disallow)]
[JsonSerializable(typeof(MtaStsListOutput))]
internal sealed partial class MtaStsListJsonContext : JsonSerializerContext;
