using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Tern.Platform;
using Tern.Sasl.CramMd5;
using Tern.Sasl.Scram;
using Tern.Sasl.Text;

namespace Tern.Sasl.Credentials;

/// <summary>
/// The accounts that may authenticate, kept in one JSON file (mode 0600). Per account it holds
/// the SCRAM-SHA-1 and SCRAM-SHA-256 keys (RFC 5802 section 3) and, only when enabled for that
/// account, the HMAC-MD5 states CRAM-MD5 needs; never a password. PLAIN and LOGIN are checked by
/// deriving the SCRAM-SHA-256 StoredKey from the offered password.
/// </summary>
/// <remarks>
/// <para>Usernames are case-sensitive and used exactly as given (no case folding, no
/// normalisation); see <see cref="SaslNames"/> for what is refused.</para>
/// <para>Reads are lock-free on an immutable snapshot. Every change re-reads the file under an
/// exclusive lock on <c>FILE.lock</c>, so that two <c>tern account</c> commands (or the CLI and a
/// running server) never lose each other's updates, then replaces the file atomically: a
/// temporary file in the same directory, flushed to disk, renamed over the old one, the directory
/// fsynced (<see cref="LockedFile"/>). A crash leaves either the old or the new file, never a torn one.</para>
/// <para>A running server picks up changes made by the CLI with <see cref="ReloadIfChanged"/>.</para>
/// </remarks>
public sealed class AccountStore
{
    public const int MinIterations = 4096;

    /// <summary>The most a client of this library accepts from a server, so also the most that can be stored.</summary>
    public const int MaxIterations = 1_000_000;

    public const int DefaultIterationCount = 4096;

    private const int SecretLength = 32;
    private const int MinSaltLength = 8;
    private const int MaxSaltLength = 64;

    private readonly Lock _writeLock = new();
    private readonly LockedFile _file;
    private volatile Snapshot _snapshot;

    private AccountStore(string path, Snapshot snapshot)
    {
        _file = new LockedFile(path, "account file", (message, inner) => new AccountStoreException(message, inner));
        _snapshot = snapshot;
    }

    /// <summary>The account file (absolute).</summary>
    public string FilePath => _file.FilePath;

    /// <summary>Iterations for new passwords without an explicit count, and for unknown users' fake SCRAM parameters.</summary>
    public int DefaultIterations => _snapshot.DefaultIterations;

    public int Count => _snapshot.Accounts.Count;

    /// <summary>Opens the store at <paramref name="path"/>; a missing file is an empty store (created by the first change).</summary>
    /// <exception cref="AccountStoreException">The file cannot be read or is corrupt; the message names the file.</exception>
    public static AccountStore Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var fullPath = Path.GetFullPath(path);
        return new AccountStore(fullPath, Load(fullPath) ?? Snapshot.Empty());
    }

    /// <summary>The account named exactly <paramref name="username"/> (case-sensitive).</summary>
    public bool TryGet(string username, [NotNullWhen(true)] out Account? account) =>
        _snapshot.Accounts.TryGetValue(username, out account);

    /// <summary>Every account, ordered by name.</summary>
    public IReadOnlyList<Account> List() =>
        [.. _snapshot.Accounts.Values.OrderBy(a => a.Username, StringComparer.Ordinal)];

    /// <summary>
    /// Adds an account. Without <see cref="AccountOptions.Addresses"/> it may send as its own name
    /// when that is an address (exactly one '@'), else from no address until
    /// <see cref="SetAddresses"/>.
    /// </summary>
    /// <exception cref="AccountStoreException">The name exists or is not allowed, the password or a sender address is not allowed, or the file cannot be written.</exception>
    public Account Add(string username, string password, AccountOptions? options = null)
    {
        RequireValid(username, password);
        var senders = ParseSenders(username, options?.Addresses) ?? SenderAddresses.DefaultFor(username);
        return Mutate(current =>
        {
            if (current.Accounts.ContainsKey(username))
            {
                throw new AccountStoreException($"account \"{username}\" already exists in {FilePath}");
            }

            var now = DateTimeOffset.UtcNow;
            var account = CreateAccount(username, password, options?.CramMd5 ?? false, options?.Iterations ?? current.DefaultIterations, now, now, senders);
            return (current.With(account), account);
        });
    }

    /// <summary>
    /// Replaces an account's password (new salts too). With <paramref name="options"/> null the
    /// account keeps its CRAM-MD5 setting and iteration count; otherwise the options apply. The
    /// sender addresses stay unless <see cref="AccountOptions.Addresses"/> is given.
    /// </summary>
    /// <exception cref="AccountStoreException">No such account, the password or a sender address is not allowed, or the file cannot be written.</exception>
    public Account SetPassword(string username, string password, AccountOptions? options = null)
    {
        RequireValid(username, password);
        var senders = ParseSenders(username, options?.Addresses);
        return Mutate(current =>
        {
            if (!current.Accounts.TryGetValue(username, out var existing))
            {
                throw new AccountStoreException($"no account \"{username}\" in {FilePath}");
            }

            var cramMd5 = options is null ? existing.CramMd5Enabled : options.CramMd5;
            var iterations = options is null ? existing.Iterations : options.Iterations ?? current.DefaultIterations;
            var account = CreateAccount(username, password, cramMd5, iterations, existing.Created, DateTimeOffset.UtcNow, senders ?? existing.Senders);
            return (current.With(account), account);
        });
    }

    /// <summary>
    /// Replaces the envelope senders an account may use (keys and settings unchanged):
    /// <c>local@domain</c>, <c>@domain</c> (exactly that domain, not subdomains) or <c>*</c> (any
    /// sender, the null sender included). Domains are lower-cased and lose a trailing dot;
    /// duplicates are dropped. An empty list leaves the account unable to send.
    /// </summary>
    /// <exception cref="AccountStoreException">No such account, a malformed pattern (the message names the account and the pattern), or the file cannot be written.</exception>
    public Account SetAddresses(string username, IReadOnlyList<string> patterns)
    {
        ArgumentNullException.ThrowIfNull(username);
        ArgumentNullException.ThrowIfNull(patterns);
        var senders = ParseSenders(username, patterns)!;
        return Mutate(current =>
        {
            if (!current.Accounts.TryGetValue(username, out var existing))
            {
                throw new AccountStoreException($"no account \"{username}\" in {FilePath}");
            }

            var account = existing.WithSenders(senders);
            return (current.With(account), account);
        });
    }

    /// <exception cref="AccountStoreException">No such account or the file cannot be written.</exception>
    public void Remove(string username)
    {
        Mutate(current =>
        {
            if (!current.Accounts.ContainsKey(username))
            {
                throw new AccountStoreException($"no account \"{username}\" in {FilePath}");
            }

            return (current.Without(username), true);
        });
    }

    /// <summary>Sets the iteration count for new passwords (existing accounts keep theirs until their password changes).</summary>
    /// <exception cref="AccountStoreException">Out of range, or the file cannot be written.</exception>
    public void SetDefaultIterations(int iterations)
    {
        RequireIterations(iterations);
        Mutate(current => (current with { DefaultIterations = iterations }, true));
    }

    /// <summary>
    /// Re-reads the file if it changed since it was last read or written (size or modification
    /// time); a removed file empties the store. Cheap enough to call before each authentication.
    /// </summary>
    /// <returns>True when the accounts were reloaded.</returns>
    /// <exception cref="AccountStoreException">The changed file is corrupt or unreadable; the accounts in memory stay as they were.</exception>
    public bool ReloadIfChanged()
    {
        var current = _snapshot;
        if (FileStamp.Of(FilePath) == current.Stamp)
        {
            return false;
        }

        lock (_writeLock)
        {
            _snapshot = Load(FilePath) ?? Snapshot.Empty(current.Secret);
            return true;
        }
    }

    /// <summary>Adds or replaces an account built elsewhere (tests use it to load the RFC test vectors' fixed salts).</summary>
    internal void Put(Account account) => Mutate(current => (current.With(account), true));

    /// <summary>
    /// SCRAM parameters for a name with no account: derived from the store's secret and the name,
    /// so a probe sees the same salt every time and with the default iteration count, exactly like
    /// a real account (RFC 5802 section 9 asks servers not to reveal which users exist).
    /// </summary>
    internal ScramCredential FakeScram(ScramAlgorithm algorithm, string username)
    {
        var snapshot = _snapshot;
        var salt = FakeBytes(snapshot.Secret, "salt", algorithm.Mechanism, username, ScramCredential.SaltLength);
        var storedKey = FakeBytes(snapshot.Secret, "stored-key", algorithm.Mechanism, username, algorithm.HashLength);
        var serverKey = FakeBytes(snapshot.Secret, "server-key", algorithm.Mechanism, username, algorithm.HashLength);
        return new ScramCredential(salt, snapshot.DefaultIterations, storedKey, serverKey);
    }

    /// <summary>CRAM-MD5 states for a name with no account, so that the check costs the same.</summary>
    internal HmacMd5Precomputed FakeCramMd5(string username) =>
        HmacMd5Precomputed.FromKey(FakeBytes(_snapshot.Secret, "cram-md5", SaslMechanisms.CramMd5, username, Md5State.Size));

    internal static Account CreateAccount(string username, string password, bool cramMd5, int iterations, DateTimeOffset created, DateTimeOffset changed, SenderAddresses senders)
    {
        RequireIterations(iterations);
        var passwordBytes = Encoding.UTF8.GetBytes(password);
        try
        {
            var sha1 = ScramCredential.Derive(ScramAlgorithm.Sha1, passwordBytes, RandomNumberGenerator.GetBytes(ScramCredential.SaltLength), iterations);
            var sha256 = ScramCredential.Derive(ScramAlgorithm.Sha256, passwordBytes, RandomNumberGenerator.GetBytes(ScramCredential.SaltLength), iterations);
            var cram = cramMd5 ? HmacMd5Precomputed.FromKey(passwordBytes) : null;
            return new Account(username, sha1, sha256, cram, created, changed, senders);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(passwordBytes);
        }
    }

    private static byte[] FakeBytes(byte[] secret, string purpose, string mechanism, string username, int length)
    {
        var input = Encoding.UTF8.GetBytes($"tern-fake-{purpose}\0{mechanism}\0{username}");
        var mac = HMACSHA256.HashData(secret, input);
        return mac.AsSpan(0, length).ToArray();
    }

    private static void RequireValid(string username, string password)
    {
        ArgumentNullException.ThrowIfNull(username);
        ArgumentNullException.ThrowIfNull(password);
        if (SaslNames.CheckUsername(username) is { } badName)
        {
            throw new AccountStoreException($"invalid account name: {badName}");
        }

        if (SaslNames.CheckPassword(password) is { } badPassword)
        {
            throw new AccountStoreException($"invalid password: {badPassword}");
        }
    }

    /// <summary>Null for null (keep or default); refuses a malformed pattern naming the account and the pattern.</summary>
    private static SenderAddresses? ParseSenders(string username, IReadOnlyList<string>? patterns)
    {
        if (patterns is null)
        {
            return null;
        }

        return SenderAddresses.TryCreate(patterns, out var senders, out var bad, out var why)
            ? senders
            : throw new AccountStoreException($"invalid sender address \"{bad}\" for account \"{username}\": {why}");
    }

    private static void RequireIterations(int iterations)
    {
        if (iterations is < MinIterations or > MaxIterations)
        {
            throw new AccountStoreException($"iteration count {iterations} is outside {MinIterations}..{MaxIterations}");
        }
    }

    private T Mutate<T>(Func<Snapshot, (Snapshot Next, T Result)> change)
    {
        lock (_writeLock)
        {
            using var fileLock = _file.Lock();

            // The file is the truth: another process may have changed it since we last read it.
            var current = Load(FilePath) ?? Snapshot.Empty(_snapshot.Secret);
            var (next, result) = change(current);
            _file.Replace(stream => JsonSerializer.Serialize(stream, ToFile(next), AccountFileJsonContext.Default.AccountFile));
            _snapshot = next with { Stamp = FileStamp.Of(FilePath) };
            return result;
        }
    }

    private static Snapshot? Load(string path)
    {
        var stamp = FileStamp.Of(path);
        if (stamp is null)
        {
            return null;
        }

        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new AccountStoreException($"cannot read account file {path}: {e.Message}", e);
        }

        AccountFile? file;
        try
        {
            file = JsonSerializer.Deserialize(bytes, AccountFileJsonContext.Default.AccountFile);
        }
        catch (JsonException e)
        {
            throw Corrupt(path, e.Message, e);
        }

        return FromFile(path, file ?? throw Corrupt(path, "the document is null"), stamp);
    }

    private static Snapshot FromFile(string path, AccountFile file, FileStamp? stamp)
    {
        if (file.Version != AccountFile.CurrentVersion)
        {
            throw Corrupt(path, $"unsupported version {file.Version} (expected {AccountFile.CurrentVersion})");
        }

        if (file.Secret is not { Length: SecretLength })
        {
            throw Corrupt(path, $"\"secret\" must be {SecretLength} bytes of base64");
        }

        if (file.DefaultIterations is < MinIterations or > MaxIterations)
        {
            throw Corrupt(path, $"\"default_iterations\" {file.DefaultIterations} is outside {MinIterations}..{MaxIterations}");
        }

        var accounts = new Dictionary<string, Account>(StringComparer.Ordinal);
        var entries = file.Accounts ?? throw Corrupt(path, "\"accounts\" is missing");
        for (var i = 0; i < entries.Length; i++)
        {
            var account = FromEntry(path, i, entries[i]);
            if (!accounts.TryAdd(account.Username, account))
            {
                throw Corrupt(path, $"account \"{account.Username}\" appears twice");
            }
        }

        return new Snapshot(accounts, file.Secret, file.DefaultIterations, stamp);
    }

    private static Account FromEntry(string path, int index, AccountEntry? entry)
    {
        if (entry?.Username is not { } username)
        {
            throw Corrupt(path, $"account #{index + 1} has no \"username\"");
        }

        if (SaslNames.CheckUsername(username) is { } why)
        {
            throw Corrupt(path, $"account #{index + 1} has an invalid username: {why}");
        }

        var sha1 = FromScramEntry(path, username, "scram_sha1", entry.ScramSha1, ScramAlgorithm.Sha1);
        var sha256 = FromScramEntry(path, username, "scram_sha256", entry.ScramSha256, ScramAlgorithm.Sha256);
        HmacMd5Precomputed? cram = null;
        if (entry.CramMd5 is { } c)
        {
            if (c.Inner is not { Length: Md5State.Size } || c.Outer is not { Length: Md5State.Size })
            {
                throw Corrupt(path, $"account \"{username}\": \"cram_md5\" needs \"inner\" and \"outer\" of {Md5State.Size} bytes each");
            }

            cram = new HmacMd5Precomputed(Md5State.ReadFrom(c.Inner), Md5State.ReadFrom(c.Outer));
        }

        // "addresses" came later within version 1: without it, the default for the name.
        var senders = SenderAddresses.DefaultFor(username);
        if (entry.Addresses is { } addresses && !SenderAddresses.TryCreate(addresses, out senders, out var badAddress, out var badReason))
        {
            throw Corrupt(path, $"account \"{username}\": invalid sender address \"{badAddress}\" in \"addresses\": {badReason}");
        }

        return new Account(username, sha1, sha256, cram, entry.Created, entry.PasswordChanged, senders);
    }

    private static ScramCredential FromScramEntry(string path, string username, string name, ScramEntry? entry, ScramAlgorithm algorithm)
    {
        if (entry is null)
        {
            throw Corrupt(path, $"account \"{username}\" has no \"{name}\"");
        }

        if (entry.Salt is not { Length: >= MinSaltLength and <= MaxSaltLength }
            || entry.Iterations is < MinIterations or > MaxIterations
            || entry.StoredKey?.Length != algorithm.HashLength
            || entry.ServerKey?.Length != algorithm.HashLength)
        {
            throw Corrupt(path, $"account \"{username}\": \"{name}\" needs a salt of {MinSaltLength}-{MaxSaltLength} bytes, iterations {MinIterations}..{MaxIterations}, and stored_key and server_key of {algorithm.HashLength} bytes");
        }

        return new ScramCredential(entry.Salt, entry.Iterations, entry.StoredKey, entry.ServerKey);
    }

    private static AccountFile ToFile(Snapshot snapshot) => new()
    {
        Version = AccountFile.CurrentVersion,
        Secret = snapshot.Secret,
        DefaultIterations = snapshot.DefaultIterations,
        Accounts = [.. snapshot.Accounts.Values.OrderBy(a => a.Username, StringComparer.Ordinal).Select(ToEntry)],
    };

    private static AccountEntry ToEntry(Account account) => new()
    {
        Username = account.Username,
        Addresses = [.. account.Addresses],
        Created = account.Created,
        PasswordChanged = account.PasswordChanged,
        ScramSha1 = ToScramEntry(account.ScramSha1),
        ScramSha256 = ToScramEntry(account.ScramSha256),
        CramMd5 = account.CramMd5 is { } cram ? ToCramEntry(cram) : null,
    };

    private static ScramEntry ToScramEntry(ScramCredential credential) => new()
    {
        Salt = credential.Salt,
        Iterations = credential.Iterations,
        StoredKey = credential.StoredKey,
        ServerKey = credential.ServerKey,
    };

    private static CramMd5Entry ToCramEntry(HmacMd5Precomputed cram)
    {
        var inner = new byte[Md5State.Size];
        var outer = new byte[Md5State.Size];
        cram.Inner.WriteTo(inner);
        cram.Outer.WriteTo(outer);
        return new CramMd5Entry { Inner = inner, Outer = outer };
    }

    private static AccountStoreException Corrupt(string path, string why, Exception? inner = null)
    {
        var message = $"account file {path} is corrupt: {why}";
        return inner is null ? new AccountStoreException(message) : new AccountStoreException(message, inner);
    }

    private sealed record Snapshot(Dictionary<string, Account> Accounts, byte[] Secret, int DefaultIterations, FileStamp? Stamp)
    {
        public static Snapshot Empty(byte[]? secret = null) =>
            new(new Dictionary<string, Account>(StringComparer.Ordinal), secret ?? RandomNumberGenerator.GetBytes(SecretLength), DefaultIterationCount, null);

        public Snapshot With(Account account)
        {
            var accounts = new Dictionary<string, Account>(Accounts, StringComparer.Ordinal)
            {
                [account.Username] = account,
            };
            return this with { Accounts = accounts };
        }

        public Snapshot Without(string username)
        {
            var accounts = new Dictionary<string, Account>(Accounts, StringComparer.Ordinal);
            accounts.Remove(username);
            return this with { Accounts = accounts };
        }
    }
}
