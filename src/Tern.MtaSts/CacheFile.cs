using System.Text.Json.Serialization;

namespace Tern.MtaSts;

/// <summary>
/// The cache file's JSON shape (version 1). The policy is stored as served and parsed again on
/// load, so a file edited by hand cannot smuggle in a policy the parser would refuse. Read and
/// written only through <see cref="CacheFileJsonContext"/> (source-generated: the host is Native AOT).
/// </summary>
internal sealed class CacheFile
{
    public const int CurrentVersion = 1;

    public int Version { get; set; }

    public CacheFileEntry[]? Entries { get; set; }
}

internal sealed class CacheFileEntry
{
    public string? Domain { get; set; }

    /// <summary>The TXT record id the policy was fetched under (null without a policy).</summary>
    public string? Id { get; set; }

    /// <summary>The policy body as served (null for a backoff-only entry).</summary>
    public string? Policy { get; set; }

    public DateTimeOffset? Fetched { get; set; }

    public DateTimeOffset? RefreshAt { get; set; }

    public DateTimeOffset? Failed { get; set; }

    public string? Error { get; set; }

    public DateTimeOffset LastUsed { get; set; }
}

[JsonSourceGenerationOptions(
    WriteIndented = true,
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    AllowTrailingCommas = false,
    ReadCommentHandling = System.Text.Json.JsonCommentHandling.Disallow)]
[JsonSerializable(typeof(CacheFile))]
internal sealed partial class CacheFileJsonContext : JsonSerializerContext
{
}
