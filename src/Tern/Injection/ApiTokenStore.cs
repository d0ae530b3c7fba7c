using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Tern.Platform;

namespace Tern.Injection;

/// <summary>The injection API's token file could not be read or written; the message names the file.</summary>
public sealed class ApiTokenStoreException : Exception
{
    public ApiTokenStoreException(string message)
        : base(message)
    {
    }

    public ApiTokenStoreException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>
/// The bearer tokens of the HTTP injection API, one per account, in <c>DATA/api-tokens.json</c>
/// (mode 0600). A token is 32 random bytes (base64url, 43 characters), shown once when created;
/// the file keeps only its SHA-256, so a copy of the file lets nobody in. Like the account file,
/// every change re-reads the file under an exclusive lock on <c>FILE.lock</c> and replaces it
/// atomically (temporary file flushed to disk, renamed, directory fsynced); a running server sees a
/// change at the next request (<see cref="Authenticate"/> compares the file's size and time).
/// </summary>
internal sealed class ApiTokenStore
{
    public const string FileName = "api-tokens.json";

    private const int TokenBytes = 32;
    private const int CurrentVersion = 1;

    private readonly Lock _lock = new();
    private readonly LockedFile _file;
    private volatile Snapshot _snapshot;

    private ApiTokenStore(string path, Snapshot snapshot)
    {
        _file = new LockedFile(path, "token file", (message, inner) => new ApiTokenStoreException(message, inner));
        _snapshot = snapshot;
    }

    public string FilePath => _file.FilePath;

    public static string PathIn(string dataDirectory) => Path.Combine(dataDirectory, FileName);

    /// <summary>Opens the file; a missing file has no tokens (it is created by the first token).</summary>
    /// <exception cref="ApiTokenStoreException">Unreadable or corrupt.</exception>
    public static ApiTokenStore Open(string path)
    {
        var full = Path.GetFullPath(path);
        return new ApiTokenStore(full, Load(full));
    }

    /// <summary>
    /// For the server: nothing is read until the first <see cref="Authenticate"/>, so an unreadable
    /// file refuses requests (and is retried at each one) instead of failing the start.
    /// </summary>
    public static ApiTokenStore OpenDeferred(string path) => new(Path.GetFullPath(path), new Snapshot([], FileStamp.NotRead));

    /// <summary>Whether <paramref name="account"/> has a token.</summary>
    public bool Has(string account) => _snapshot.Tokens.Any(t => t.Account == account);

    /// <summary>
    /// A new token for <paramref name="account"/>, replacing its previous one (which stops working at
    /// once). The token itself is returned once and never stored.
    /// </summary>
    public (string Token, bool Replaced) Create(string account, DateTimeOffset now)
    {
        var raw = RandomNumberGenerator.GetBytes(TokenBytes);
        var token = Base64UrlEncode(raw);
        CryptographicOperations.ZeroMemory(raw);
        var hash = Hash(token);
        var replaced = false;
        Mutate(tokens =>
        {
            replaced = tokens.RemoveAll(t => t.Account == account) > 0;
            tokens.Add(new TokenEntry { Account = account, Sha256 = hash, Created = now });
        });
        return (token, replaced);
    }

    /// <summary>Removes the token of <paramref name="account"/>; false when it had none.</summary>
    public bool Revoke(string account)
    {
        var removed = false;
        Mutate(tokens => removed = tokens.RemoveAll(t => t.Account == account) > 0);
        return removed;
    }

    /// <summary>
    /// The account a token stands for, or null. Every stored hash is compared in constant time (no
    /// early exit), so the time taken says nothing about which hash came close. Re-reads the file
    /// first when it changed.
    /// </summary>
    /// <exception cref="ApiTokenStoreException">The file changed and cannot be read; the tokens in memory stay (call again with <paramref name="reload"/> false to use them).</exception>
    public string? Authenticate(ReadOnlySpan<char> token, bool reload = true)
    {
        if (reload)
        {
            ReloadIfChanged();
        }

        if (token.IsEmpty)
        {
            return null;
        }

        Span<byte> given = stackalloc byte[SHA256.HashSizeInBytes];
        var bytes = Encoding.UTF8.GetBytes(token.ToArray());
        SHA256.HashData(bytes, given);
        string? found = null;
        foreach (var entry in _snapshot.Tokens)
        {
            if (CryptographicOperations.FixedTimeEquals(given, entry.Sha256))
            {
                found = entry.Account;
            }
        }

        return found;
    }

    private void ReloadIfChanged()
    {
        var current = _snapshot;
        if (FileStamp.Of(FilePath) == current.Stamp)
        {
            return;
        }

        lock (_lock)
        {
            _snapshot = Load(FilePath);
        }
    }

    private static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    private static string Base64UrlEncode(byte[] data) =>
        Convert.ToBase64String(data).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private void Mutate(Action<List<TokenEntry>> change)
    {
        lock (_lock)
        {
            using var fileLock = _file.Lock();

            // The file is the truth: another tern command may have changed it since it was read.
            var tokens = Load(FilePath).Tokens.ToList();
            change(tokens);
            var file = new TokenFile { Version = CurrentVersion, Tokens = [.. tokens.OrderBy(t => t.Account, StringComparer.Ordinal)] };
            _file.Replace(stream => JsonSerializer.Serialize(stream, file, TokenFileJsonContext.Default.TokenFile));
            _snapshot = new Snapshot(tokens, FileStamp.Of(FilePath));
        }
    }

    private static Snapshot Load(string path)
    {
        var stamp = FileStamp.Of(path);
        if (stamp is null)
        {
            return new Snapshot([], null);
        }

        TokenFile? file;
        try
        {
            file = JsonSerializer.Deserialize(File.ReadAllBytes(path), TokenFileJsonContext.Default.TokenFile);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return new Snapshot([], null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ApiTokenStoreException($"cannot read token file {path}: {e.Message}", e);
        }
        catch (JsonException e)
        {
            throw new ApiTokenStoreException($"token file {path} is corrupt: {e.Message}", e);
        }

        if (file is null || file.Version != CurrentVersion || file.Tokens is null)
        {
            throw new ApiTokenStoreException($"token file {path} is corrupt: expected version {CurrentVersion} with \"tokens\"");
        }

        foreach (var t in file.Tokens)
        {
            if (string.IsNullOrEmpty(t.Account) || t.Sha256 is not { Length: SHA256.HashSizeInBytes })
            {
                throw new ApiTokenStoreException($"token file {path} is corrupt: every token needs \"account\" and a 32-byte \"sha256\"");
            }
        }

        return new Snapshot(file.Tokens, stamp);
    }

    private sealed record Snapshot(IReadOnlyList<TokenEntry> Tokens, FileStamp? Stamp);
}

/// <summary>The token file, version 1.</summary>
internal sealed class TokenFile
{
    public int Version { get; set; }

    public TokenEntry[]? Tokens { get; set; }
}

internal sealed class TokenEntry
{
    public string Account { get; set; } = string.Empty;

    /// <summary>SHA-256 of the token's UTF-8 text (base64 in the file).</summary>
    public byte[] Sha256 { get; set; } = [];

    public DateTimeOffset Created { get; set; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(TokenFile))]
internal sealed partial class TokenFileJsonContext : JsonSerializerContext;
