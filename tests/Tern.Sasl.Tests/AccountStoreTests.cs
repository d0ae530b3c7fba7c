using System.Text.Json;
using Tern.Sasl.Credentials;

namespace Tern.Sasl.Tests;

public sealed class AccountStoreTests : IDisposable
{
    private readonly TempStore _temp = new();

    public void Dispose() => _temp.Dispose();

    private AccountStore Store => _temp.Store;

    private static SaslServerStep PlainLogin(AccountStore store, string user, string password) =>
        Sasl.Server(store, SaslMechanisms.Plain, SaslChannel.Tls(null)).Step(Sasl.Utf8($"\0{user}\0{password}"));

    [Fact]
    public void Missing_file_is_an_empty_store_and_is_not_created_by_reading()
    {
        Assert.Equal(0, Store.Count);
        Assert.Empty(Store.List());
        Assert.False(Store.TryGet("anyone", out _));
        Assert.False(File.Exists(_temp.FilePath));
    }

    [Fact]
    public void Accounts_survive_a_reopen()
    {
        Store.Add("alice", "alice-password", new AccountOptions { CramMd5 = true });
        Store.Add("bob", "bob-password", new AccountOptions { Iterations = 5000 });

        var reopened = AccountStore.Open(_temp.FilePath);

        Assert.Equal(["alice", "bob"], reopened.List().Select(a => a.Username));
        Assert.True(reopened.TryGet("alice", out var alice));
        Assert.True(alice.CramMd5Enabled);
        Assert.Equal(AccountStore.DefaultIterationCount, alice.Iterations);
        Assert.True(reopened.TryGet("bob", out var bob));
        Assert.False(bob.CramMd5Enabled);
        Assert.Equal(5000, bob.Iterations);
        Assert.Equal(SaslStatus.Success, PlainLogin(reopened, "alice", "alice-password").Status);
        Assert.Equal(SaslStatus.Success, PlainLogin(reopened, "bob", "bob-password").Status);
        Assert.Equal(SaslFailure.BadCredentials, PlainLogin(reopened, "bob", "alice-password").Failure);
    }

    [Fact]
    public void Scram_works_against_a_reopened_store()
    {
        Store.Add(Sasl.User, Sasl.Password);
        var reopened = AccountStore.Open(_temp.FilePath);

        foreach (var mechanism in (string[])[SaslMechanisms.ScramSha1, SaslMechanisms.ScramSha256])
        {
            var (result, _) = Sasl.Authenticate(reopened, mechanism, SaslChannel.Plaintext, SaslChannel.Plaintext, Sasl.User, Sasl.Password);
            Assert.Equal(SaslStatus.Success, result.Status);
        }
    }

    [Fact]
    public void Add_refuses_a_duplicate_but_names_are_case_sensitive()
    {
        Store.Add("alice", "one-password");

        var e = Assert.Throws<AccountStoreException>(() => Store.Add("alice", "other-password"));
        Assert.Contains("already exists", e.Message, StringComparison.Ordinal);
        Store.Add("Alice", "other-password");
        Assert.Equal(2, Store.Count);
        Assert.Equal(SaslStatus.Success, PlainLogin(Store, "alice", "one-password").Status);
        Assert.Equal(SaslStatus.Success, PlainLogin(Store, "Alice", "other-password").Status);
    }

    [Fact]
    public void Set_password_replaces_the_keys_and_keeps_the_settings()
    {
        var created = Store.Add("alice", "old-password", new AccountOptions { CramMd5 = true, Iterations = 4100 });

        var changed = Store.SetPassword("alice", "new-password");

        Assert.True(changed.CramMd5Enabled);
        Assert.Equal(4100, changed.Iterations);
        Assert.Equal(created.Created, changed.Created);
        Assert.True(changed.PasswordChanged >= created.PasswordChanged);
        Assert.NotEqual(created.ScramSha256.Salt, changed.ScramSha256.Salt);
        Assert.Equal(SaslFailure.BadCredentials, PlainLogin(Store, "alice", "old-password").Failure);
        Assert.Equal(SaslStatus.Success, PlainLogin(Store, "alice", "new-password").Status);

        var withoutCram = Store.SetPassword("alice", "new-password", new AccountOptions());
        Assert.False(withoutCram.CramMd5Enabled);
        Assert.Equal(AccountStore.DefaultIterationCount, withoutCram.Iterations);

        Assert.Throws<AccountStoreException>(() => Store.SetPassword("nobody", "x-password"));
    }

    [Fact]
    public void Remove()
    {
        Store.Add("alice", "alice-password");
        Store.Add("bob", "bob-password");

        Store.Remove("alice");

        Assert.False(Store.TryGet("alice", out _));
        Assert.Equal(["bob"], AccountStore.Open(_temp.FilePath).List().Select(a => a.Username));
        Assert.Equal(SaslFailure.UnknownUser, PlainLogin(Store, "alice", "alice-password").Failure);
        var e = Assert.Throws<AccountStoreException>(() => Store.Remove("alice"));
        Assert.Contains("no account \"alice\"", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData(" alice")]
    [InlineData("alice ")]
    [InlineData("ali\u0001ce")]
    [InlineData("ali\nce")]
    [InlineData("ali\u200Bce")]
    [InlineData("ali\u00A0ce")]
    [InlineData("ali\uE000ce")]
    public void Invalid_names_are_refused(string name)
    {
        var e = Assert.Throws<AccountStoreException>(() => Store.Add(name, "a-password"));
        Assert.StartsWith("invalid account name", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Name_with_an_unpaired_surrogate_is_refused()
    {
        // Not an InlineData: attribute strings are stored as UTF-8, which cannot hold a lone surrogate.
        var name = "ali" + '\uD800' + "ce";

        var e = Assert.Throws<AccountStoreException>(() => Store.Add(name, "a-password"));
        Assert.Contains("surrogate", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("user@example.org")]
    [InlineData("José")]
    [InlineData("a,b=c")]
    [InlineData("first last")]
    public void Valid_names_are_kept_as_given(string name)
    {
        Store.Add(name, "a-password");

        Assert.True(AccountStore.Open(_temp.FilePath).TryGet(name, out var account));
        Assert.Equal(name, account.Username);
    }

    [Theory]
    [InlineData("")]
    [InlineData("pass\u0000word")]
    [InlineData("pass\tword")]
    [InlineData("pass\u2003word")]
    public void Invalid_passwords_are_refused_without_being_quoted(string password)
    {
        var e = Assert.Throws<AccountStoreException>(() => Store.Add("alice", password));
        Assert.StartsWith("invalid password", e.Message, StringComparison.Ordinal);
        Assert.False(password.Length > 0 && e.Message.Contains(password, StringComparison.Ordinal));
    }

    [Fact]
    public void Iterations_out_of_range_are_refused()
    {
        Assert.Throws<AccountStoreException>(() => Store.Add("alice", "a-password", new AccountOptions { Iterations = 4095 }));
        Assert.Throws<AccountStoreException>(() => Store.Add("alice", "a-password", new AccountOptions { Iterations = 1_000_001 }));
        Assert.Throws<AccountStoreException>(() => Store.SetDefaultIterations(100));
    }

    [Fact]
    public void Default_iterations_apply_to_new_accounts_and_to_unknown_users()
    {
        Store.SetDefaultIterations(5000);
        Store.Add("alice", "a-password");

        var reopened = AccountStore.Open(_temp.FilePath);
        Assert.Equal(5000, reopened.DefaultIterations);
        Assert.True(reopened.TryGet("alice", out var alice));
        Assert.Equal(5000, alice.Iterations);
        var server = Sasl.Server(reopened, SaslMechanisms.ScramSha256, SaslChannel.Plaintext);
        Assert.EndsWith(",i=5000", Sasl.Text(server.Step("n,,n=nobody,r=abcdef"u8).Challenge), StringComparison.Ordinal);
    }

    [Fact]
    public void File_is_mode_0600_even_when_it_was_wider()
    {
        Store.Add("alice", "a-password");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_temp.FilePath));

        File.SetUnixFileMode(_temp.FilePath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        Store.Add("bob", "b-password");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_temp.FilePath));
    }

    [Fact]
    public void Write_replaces_the_file_by_rename_and_leaves_no_temporary_file()
    {
        Store.Add("alice", "a-password");
        var before = File.ReadAllText(_temp.FilePath);

        // A reader that has the old file open keeps seeing the complete old file: the new one was
        // written elsewhere and renamed over it, not rewritten in place.
        using (var reader = new FileStream(_temp.FilePath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
        {
            Store.Add("bob", "b-password");
            using var text = new StreamReader(reader);
            var seenByOldReader = text.ReadToEnd();
            Assert.Equal(before, seenByOldReader);
            using var document = JsonDocument.Parse(seenByOldReader);
            Assert.Equal(1, document.RootElement.GetProperty("accounts").GetArrayLength());
        }

        using var after = JsonDocument.Parse(File.ReadAllText(_temp.FilePath));
        Assert.Equal(2, after.RootElement.GetProperty("accounts").GetArrayLength());
        Assert.Equal(["accounts.json", "accounts.json.lock"], Directory.GetFiles(_temp.DirectoryPath).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Two_store_instances_do_not_lose_each_others_updates()
    {
        var other = AccountStore.Open(_temp.FilePath);
        Store.Add("alice", "a-password");
        other.Add("bob", "b-password"); // other has not seen alice yet

        Assert.Equal(["alice", "bob"], AccountStore.Open(_temp.FilePath).List().Select(a => a.Username));
        Assert.Equal(2, other.Count);
    }

    [Fact]
    public void Reload_picks_up_changes_made_by_another_process()
    {
        var server = AccountStore.Open(_temp.FilePath);
        Assert.False(server.ReloadIfChanged());

        Store.Add("alice", "a-password");
        Assert.True(server.ReloadIfChanged());
        Assert.True(server.TryGet("alice", out _));
        Assert.False(server.ReloadIfChanged());

        Store.Remove("alice");
        Assert.True(server.ReloadIfChanged());
        Assert.False(server.TryGet("alice", out _));

        File.Delete(_temp.FilePath);
        Assert.True(server.ReloadIfChanged());
        Assert.Equal(0, server.Count);
    }

    [Fact]
    public void Reload_of_a_corrupt_file_throws_and_keeps_the_accounts()
    {
        Store.Add("alice", "a-password");
        var server = AccountStore.Open(_temp.FilePath);
        File.WriteAllText(_temp.FilePath, "{ broken");

        Assert.Throws<AccountStoreException>(() => server.ReloadIfChanged());
        Assert.True(server.TryGet("alice", out _));
    }

    public static TheoryData<string, string> CorruptFiles => new()
    {
        { "", "corrupt" },
        { "{ not json", "corrupt" },
        { "null", "null" },
        { "[]", "corrupt" },
        { """{"version":2,"secret":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","default_iterations":4096,"accounts":[]}""", "unsupported version 2" },
        { """{"version":1,"secret":"AAAA","default_iterations":4096,"accounts":[]}""", "secret" },
        { """{"version":1,"secret":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","default_iterations":10,"accounts":[]}""", "default_iterations" },
        { """{"version":1,"secret":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","default_iterations":4096}""", "accounts" },
        { """{"version":1,"secret":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","default_iterations":4096,"accounts":[],"extra":1}""", "extra" },
        { """{"version":1,"secret":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","default_iterations":4096,"accounts":[{"username":"alice"}]}""", "scram_sha1" },
        { """{"version":1,"secret":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","default_iterations":4096,"accounts":[{}]}""", "account #1" },
        { """{"version":1,"secret":"not base64!","default_iterations":4096,"accounts":[]}""", "corrupt" },
    };

    [Theory]
    [MemberData(nameof(CorruptFiles))]
    public void Corrupt_file_is_a_clear_error_naming_the_file(string content, string detail)
    {
        File.WriteAllText(_temp.FilePath, content);

        var e = Assert.Throws<AccountStoreException>(() => AccountStore.Open(_temp.FilePath));

        Assert.Contains(_temp.FilePath, e.Message, StringComparison.Ordinal);
        Assert.Contains(detail, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Corrupt_keys_and_duplicates_are_errors()
    {
        Store.Add("alice", "a-password", new AccountOptions { CramMd5 = true });
        var json = File.ReadAllText(_temp.FilePath);

        void Expect(string content, string detail)
        {
            File.WriteAllText(_temp.FilePath, content);
            var e = Assert.Throws<AccountStoreException>(() => AccountStore.Open(_temp.FilePath));
            Assert.Contains(_temp.FilePath, e.Message, StringComparison.Ordinal);
            Assert.Contains(detail, e.Message, StringComparison.Ordinal);
        }

        using var document = JsonDocument.Parse(json);
        var account = document.RootElement.GetProperty("accounts")[0];
        var storedKey = account.GetProperty("scram_sha256").GetProperty("stored_key").GetString()!;
        Expect(json.Replace(storedKey, "AAAA", StringComparison.Ordinal), "stored_key");
        var inner = account.GetProperty("cram_md5").GetProperty("inner").GetString()!;
        Expect(json.Replace(inner, "AAAA", StringComparison.Ordinal), "cram_md5");
        var entry = account.GetRawText();
        Expect(json.Replace(entry, entry + "," + entry, StringComparison.Ordinal), "appears twice");
    }

    [Fact]
    public void Secrets_are_never_printed()
    {
        var account = Store.Add("alice", "a-password", new AccountOptions { CramMd5 = true });
        var json = File.ReadAllText(_temp.FilePath);
        using var document = JsonDocument.Parse(json);
        var keys = document.RootElement.GetProperty("accounts")[0].GetProperty("scram_sha256");

        var printed = account.ToString() + account.ScramSha256 + account.CramMd5 + Store;

        Assert.DoesNotContain("a-password", json, StringComparison.Ordinal);
        Assert.DoesNotContain(keys.GetProperty("stored_key").GetString()!, printed, StringComparison.Ordinal);
        Assert.DoesNotContain(keys.GetProperty("server_key").GetString()!, printed, StringComparison.Ordinal);
        Assert.DoesNotContain(keys.GetProperty("salt").GetString()!, printed, StringComparison.Ordinal);
    }

    [Fact]
    public void Generated_passwords_are_long_random_and_accepted()
    {
        var first = PasswordGenerator.Generate();
        var second = PasswordGenerator.Generate();

        Assert.Equal(PasswordGenerator.DefaultLength, first.Length);
        Assert.NotEqual(first, second);
        Assert.All(first, c => Assert.Contains(c, PasswordGenerator.Alphabet));
        Assert.Equal(32, PasswordGenerator.Generate(32).Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => PasswordGenerator.Generate(4));
        Store.Add("alice", first);
        Assert.Equal(SaslStatus.Success, PlainLogin(Store, "alice", first).Status);
    }
}
