using System.Text.Json.Serialization;

namespace Tern.Sasl.Credentials;

/// <summary>
/// The account file's JSON shape (version 1). Byte arrays are base64. Read and written only
/// through <see cref="AccountFileJsonContext"/> (source-generated: the host is Native AOT).
/// </summary>
internal sealed class AccountFile
{
    public const int CurrentVersion = 1;

    public int Version { get; set; }

    /// <summary>Random key for the fake SCRAM salts of unknown users; persisted so that they stay stable across restarts.</summary>
    public byte[]? Secret { get; set; }

    /// <summary>Iterations for new passwords and for unknown users' fake SCRAM parameters.</summary>
    public int DefaultIterations { get; set; }

    public AccountEntry[]? Accounts { get; set; }
}

internal sealed class AccountEntry
{
    public string? Username { get; set; }

    /// <summary>
    /// Sender patterns (see <see cref="SenderAddresses"/>). Added within version 1: absent in older
    /// files, which then get the default for the name; always written, so [] stays empty.
    /// </summary>
    public string[]? Addresses { get; set; }

    public DateTimeOffset Created { get; set; }

    public DateTimeOffset PasswordChanged { get; set; }

    public ScramEntry? ScramSha1 { get; set; }

    public ScramEntry? ScramSha256 { get; set; }

    public CramMd5Entry? CramMd5 { get; set; }
}

internal sealed class ScramEntry
{
    public byte[]? Salt { get; set; }

    public int Iterations { get; set; }

    public byte[]? StoredKey { get; set; }

    public byte[]? ServerKey { get; set; }
}

/// <summary>
/// HMAC-MD5 states, 16 bytes each (A, B, C, D little-endian). Dovecot's {CRAM-MD5} value is the
/// hex of outer followed by inner.
/// </summary>
internal sealed class CramMd5Entry
{
    public byte[]? Inner { get; set; }

    public byte[]? Outer { get; set; }
}

[JsonSourceGenerationOptions(
    WriteIndented = true,
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    AllowTrailingCommas = false,
    ReadCommentHandling = System.Text.Json.JsonCommentHandling.Disallow)]
[JsonSerializable(typeof(AccountFile))]
internal sealed partial class AccountFileJsonContext : JsonSerializerContext
{
}
