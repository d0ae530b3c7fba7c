using System.Text.Json;
using System.Text.Json.Serialization;

namespace Tern.Delivery;

// DATA/domain-tls.json, written by DomainTlsHistory:
//   {"version":1,"domains":[{"domain":"example.org","last_delivery":"2026-01-02T03:04:05+00:00",
//     "starttls":true,"verified":true,"requiretls":true}, ...]}
// Unknown members are ignored (a later version may add some); an unknown version is not read.

/// <summary>The file as a whole.</summary>
internal sealed class DomainTlsFile
{
    public const int CurrentVersion = 1;

    public int Version { get; init; }

    public List<DomainTlsFileEntry> Domains { get; init; } = [];
}

/// <summary>One domain in the file (<see cref="DomainTlsRecord"/>).</summary>
internal sealed class DomainTlsFileEntry
{
    public string Domain { get; init; } = string.Empty;

    public DateTimeOffset LastDelivery { get; init; }

    [JsonPropertyName("starttls")]
    public bool StartTls { get; init; }

    public bool Verified { get; init; }

    [JsonPropertyName("requiretls")]
    public bool RequireTls { get; init; }
}

/// <summary>Source-generated (de)serialisation: no reflection in the Native AOT binary.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    AllowTrailingCommas = false,
    ReadCommentHandling = JsonCommentHandling.Disallow,
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(DomainTlsFile))]
internal sealed partial class DomainTlsJsonContext : JsonSerializerContext
{
}
