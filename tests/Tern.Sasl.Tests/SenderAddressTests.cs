using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tern.Sasl.Credentials;

namespace Tern.Sasl.Tests;

/// <summary>Which envelope senders (MAIL FROM) an account may use: patterns, defaults, persistence, matching.</summary>
public sealed class SenderAddressTests : IDisposable
{
    private readonly TempStore _temp = new();

    public void Dispose() => _temp.Dispose();

    private AccountStore Store => _temp.Store;

    private static bool MaySendAs(Account account, string address) => account.MaySendAs(Encoding.UTF8.GetBytes(address));

    private Account WithAddresses(params string[] patterns)
    {
        Store.Add("alice", "a-password");
        return Store.SetAddresses("alice", patterns);
    }

    // Normalisation and refusal

    [Theory]
    [InlineData("alice@example.org", "alice@example.org")]
    [InlineData("Alice@Example.ORG", "Alice@example.org")]
    [InlineData("alice@example.org.", "alice@example.org")]
    [InlineData("@EXAMPLE.Org.", "@example.org")]
    [InlineData("@example.org", "@example.org")]
    [InlineData("*", "*")]
    [InlineData("first.last+tag@sub.example.org", "first.last+tag@sub.example.org")]
    [InlineData("José@Exämple.ORG", "José@exämple.org")]
    [InlineData("\"john doe\"@Example.org", "\"john doe\"@example.org")]
    [InlineData("\"a@b\"@example.org", "\"a@b\"@example.org")]
    [InlineData("\"a\\\"b\"@example.org", "\"a\\\"b\"@example.org")]
    [InlineData("user@[192.0.2.1]", "user@[192.0.2.1]")]
    [InlineData("user@[IPv6:2001:DB8::1]", "user@[ipv6:2001:db8::1]")]
    [InlineData("postmaster@localhost", "postmaster@localhost")]
    public void Patterns_are_normalised(string pattern, string expected)
    {
        var account = WithAddresses(pattern);

        Assert.Equal([expected], account.Addresses);
    }

    [Fact]
    public void Duplicates_are_dropped_keeping_the_first_spelling_and_the_order()
    {
        var account = WithAddresses("Bob@example.org", "@example.net", "bob@EXAMPLE.org.", "@Example.Net", "*", "*");

        Assert.Equal(["Bob@example.org", "@example.net", "*"], account.Addresses);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData(" ", "space")]
    [InlineData("alice", "no domain")]
    [InlineData("@", "domain is empty")]
    [InlineData("@.", "domain is empty")]
    [InlineData("alice@", "domain is empty")]
    [InlineData("a@b@example.org", "more than one '@'")]
    [InlineData("@@example.org", "more than one '@'")]
    [InlineData("ali ce@example.org", "space")]
    [InlineData(" alice@example.org", "space")]
    [InlineData("alice@example.org ", "space")]
    [InlineData("alice@exa mple.org", "space")]
    [InlineData("ali\tce@example.org", "U+0009")]
    [InlineData("alice@example.org\n", "U+000A")]
    [InlineData("ali\u007Fce@example.org", "U+007F")]
    [InlineData("ali\u00A0ce@example.org", "U+00A0")]
    [InlineData("alice@exa\u200Bmple.org", "U+200B")]
    [InlineData("<alice@example.org>", "angle brackets")]
    [InlineData("alice,bob@example.org", "','")]
    [InlineData("*@example.org", "not a wildcard")]
    [InlineData("@*.example.org", "not a wildcard")]
    [InlineData("alice@example..org", "empty label")]
    [InlineData("alice@.example.org", "empty label")]
    [InlineData("alice@example.org..", "empty label")]
    [InlineData("alice@exam_ple.org", "'_'")]
    [InlineData("\"alice@example.org", "no closing")]
    [InlineData("\"alice\"x@example.org", "followed by @domain")]
    [InlineData("\"ali\u0001ce\"@example.org", "U+0001")]
    [InlineData("alice@[192.0.2.1", "address literal")]
    [InlineData("alice@[]", "address literal")]
    public void Malformed_patterns_are_refused_naming_the_account_and_the_pattern(string pattern, string detail)
    {
        Store.Add("alice", "a-password");

        var e = Assert.Throws<AccountStoreException>(() => Store.SetAddresses("alice", ["bob@example.org", pattern]));

        Assert.StartsWith("invalid sender address", e.Message, StringComparison.Ordinal);
        Assert.Contains("account \"alice\"", e.Message, StringComparison.Ordinal);
        Assert.Contains(detail, e.Message, StringComparison.Ordinal);
        if (!pattern.Any(Invisible))
        {
            Assert.Contains($"\"{pattern}\"", e.Message, StringComparison.Ordinal);
        }
        else
        {
            // Control and format characters are shown escaped (\uXXXX), never raw.
            Assert.DoesNotContain(e.Message, Invisible);
            Assert.Contains("\\u", e.Message, StringComparison.Ordinal);
        }

        // Nothing changed.
        Assert.True(AccountStore.Open(_temp.FilePath).TryGet("alice", out var alice));
        Assert.Empty(alice.Addresses);
    }

    [Fact]
    public void Pattern_with_an_unpaired_surrogate_is_refused()
    {
        // Not an InlineData: attribute strings are stored as UTF-8, which cannot hold a lone surrogate.
        Store.Add("alice", "a-password");

        var e = Assert.Throws<AccountStoreException>(() => Store.SetAddresses("alice", ["ali" + '\uD800' + "ce@example.org"]));

        Assert.Contains("surrogate", e.Message, StringComparison.Ordinal);
        Assert.Contains("\\uD800", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Pattern_longer_than_a_path_allows_is_refused()
    {
        Store.Add("alice", "a-password");
        var longest = new string('a', 64) + "@" + string.Join('.', Enumerable.Repeat(new string('b', 61), 3)) + ".org";
        Assert.Equal(SenderAddresses.MaxBytes, longest.Length);
        Store.SetAddresses("alice", [longest]);

        var e = Assert.Throws<AccountStoreException>(() => Store.SetAddresses("alice", ["a" + longest]));
        Assert.Contains("longer than 254 bytes", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Add_and_set_password_refuse_malformed_patterns_too()
    {
        var e = Assert.Throws<AccountStoreException>(() => Store.Add("alice", "a-password", new AccountOptions { Addresses = ["alice@"] }));
        Assert.Contains("account \"alice\"", e.Message, StringComparison.Ordinal);
        Assert.False(Store.TryGet("alice", out _));

        Store.Add("alice", "a-password");
        e = Assert.Throws<AccountStoreException>(() => Store.SetPassword("alice", "b-password", new AccountOptions { Addresses = ["a b@example.org"] }));
        Assert.Contains("\"a b@example.org\"", e.Message, StringComparison.Ordinal);
        Assert.Equal(SaslStatus.Success, PlainLogin(Store, "alice", "a-password").Status);
    }

    [Fact]
    public void Set_addresses_on_an_unknown_account_is_refused()
    {
        var e = Assert.Throws<AccountStoreException>(() => Store.SetAddresses("nobody", ["nobody@example.org"]));

        Assert.Contains("no account \"nobody\"", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(_temp.FilePath) && AccountStore.Open(_temp.FilePath).Count > 0);
    }

    // Default from the username

    [Theory]
    [InlineData("alice@example.org", "alice@example.org")]
    [InlineData("Alice@Example.ORG.", "Alice@example.org")]
    [InlineData("José@exämple.org", "José@exämple.org")]
    [InlineData("alice", null)]
    [InlineData("@example.org", null)]
    [InlineData("alice@", null)]
    [InlineData("a@b@example.org", null)]
    [InlineData("\"a@b\"@example.org", null)]
    [InlineData("first last@example.org", null)]
    [InlineData("alice@example.org, bob", null)]
    public void Default_is_the_username_when_it_is_an_address(string username, string? expected)
    {
        var account = Store.Add(username, "a-password");

        Assert.Equal(expected is null ? [] : [expected], account.Addresses);
        Assert.True(AccountStore.Open(_temp.FilePath).TryGet(username, out var reopened));
        Assert.Equal(account.Addresses, reopened.Addresses);
    }

    [Fact]
    public void Account_without_addresses_authenticates_but_may_send_from_nothing()
    {
        Store.Add("relay-app", "a-password");

        Assert.True(Store.TryGet("relay-app", out var account));
        Assert.Equal(SaslStatus.Success, PlainLogin(Store, "relay-app", "a-password").Status);
        Assert.Empty(account.Addresses);
        Assert.False(MaySendAs(account, "relay-app@example.org"));
        Assert.False(account.MaySendAs(default));
    }

    [Fact]
    public void Explicit_addresses_on_add_replace_the_default_even_when_empty()
    {
        var none = Store.Add("alice@example.org", "a-password", new AccountOptions { Addresses = [] });
        var other = Store.Add("bob@example.org", "b-password", new AccountOptions { Addresses = ["@Example.net"] });

        Assert.Empty(none.Addresses);
        Assert.Equal(["@example.net"], other.Addresses);
        var reopened = AccountStore.Open(_temp.FilePath);
        Assert.True(reopened.TryGet("alice@example.org", out var alice));
        Assert.Empty(alice.Addresses);
        Assert.False(MaySendAs(alice, "alice@example.org"));
    }

    // Persistence

    [Fact]
    public void Set_addresses_survives_a_reopen_and_keeps_the_keys()
    {
        var added = Store.Add("alice@example.org", "a-password", new AccountOptions { CramMd5 = true, Iterations = 5000 });

        var changed = Store.SetAddresses("alice@example.org", ["Alice@Example.org.", "@Example.NET", "\"x y\"@example.com"]);

        Assert.Equal(["Alice@example.org", "@example.net", "\"x y\"@example.com"], changed.Addresses);
        Assert.Equal(added.ScramSha256.Salt, changed.ScramSha256.Salt);
        Assert.Equal(added.PasswordChanged, changed.PasswordChanged);

        var reopened = AccountStore.Open(_temp.FilePath);
        Assert.True(reopened.TryGet("alice@example.org", out var alice));
        Assert.Equal(changed.Addresses, alice.Addresses);
        Assert.True(alice.CramMd5Enabled);
        Assert.Equal(5000, alice.Iterations);
        Assert.True(MaySendAs(alice, "alice@example.org"));
        Assert.True(MaySendAs(alice, "anyone@EXAMPLE.net"));
        Assert.True(MaySendAs(alice, "\"x y\"@example.com"));
        Assert.False(MaySendAs(alice, "bob@example.org"));
        Assert.Equal(SaslStatus.Success, PlainLogin(reopened, "alice@example.org", "a-password").Status);

        using var document = JsonDocument.Parse(File.ReadAllText(_temp.FilePath));
        var addresses = document.RootElement.GetProperty("accounts")[0].GetProperty("addresses");
        Assert.Equal(["Alice@example.org", "@example.net", "\"x y\"@example.com"], addresses.EnumerateArray().Select(a => a.GetString()));

        Store.SetAddresses("alice@example.org", []);
        Assert.True(AccountStore.Open(_temp.FilePath).TryGet("alice@example.org", out var emptied));
        Assert.Empty(emptied.Addresses);
    }

    [Fact]
    public void Set_password_keeps_the_addresses_unless_options_give_them()
    {
        Store.Add("alice", "a-password");
        Store.SetAddresses("alice", ["alice@example.org"]);

        Assert.Equal(["alice@example.org"], Store.SetPassword("alice", "b-password").Addresses);
        Assert.Equal(["alice@example.org"], Store.SetPassword("alice", "c-password", new AccountOptions { CramMd5 = true }).Addresses);
        Assert.Equal(["@example.org"], Store.SetPassword("alice", "d-password", new AccountOptions { Addresses = ["@example.org"] }).Addresses);
        Assert.True(AccountStore.Open(_temp.FilePath).TryGet("alice", out var alice));
        Assert.Equal(["@example.org"], alice.Addresses);
    }

    [Fact]
    public void A_running_server_sees_address_changes_after_reload()
    {
        Store.Add("alice@example.org", "a-password");
        var server = AccountStore.Open(_temp.FilePath);

        Store.SetAddresses("alice@example.org", ["@example.org"]);

        Assert.True(server.ReloadIfChanged());
        Assert.True(server.TryGet("alice@example.org", out var alice));
        Assert.True(MaySendAs(alice, "bob@example.org"));
    }

    [Fact]
    public void Older_version_1_file_without_addresses_loads_with_the_default()
    {
        Store.Add("alice@example.org", "a-password");
        Store.Add("relay", "b-password");
        Store.SetAddresses("alice@example.org", ["@example.org"]);
        Store.SetAddresses("relay", ["*"]);
        var old = JsonNode.Parse(File.ReadAllText(_temp.FilePath))!;
        foreach (var entry in old["accounts"]!.AsArray())
        {
            Assert.True(entry!.AsObject().Remove("addresses"));
        }

        File.WriteAllText(_temp.FilePath, old.ToJsonString());

        var reopened = AccountStore.Open(_temp.FilePath);
        Assert.True(reopened.TryGet("alice@example.org", out var alice));
        Assert.True(reopened.TryGet("relay", out var relay));
        Assert.Equal(["alice@example.org"], alice.Addresses);
        Assert.True(MaySendAs(alice, "Alice@Example.org"));
        Assert.False(MaySendAs(alice, "bob@example.org"));
        Assert.Empty(relay.Addresses);
        Assert.Equal(SaslStatus.Success, PlainLogin(reopened, "alice@example.org", "a-password").Status);

        // The next write stores the default explicitly; the file stays version 1.
        reopened.Add("bob", "c-password");
        using var document = JsonDocument.Parse(File.ReadAllText(_temp.FilePath));
        Assert.Equal(1, document.RootElement.GetProperty("version").GetInt32());
        var accounts = document.RootElement.GetProperty("accounts").EnumerateArray()
            .ToDictionary(a => a.GetProperty("username").GetString()!, a => a.GetProperty("addresses").EnumerateArray().Select(x => x.GetString()!).ToArray());
        Assert.Equal(["alice@example.org"], accounts["alice@example.org"]);
        Assert.Empty(accounts["relay"]);
        Assert.Empty(accounts["bob"]);
    }

    [Fact]
    public void Bad_addresses_in_the_file_are_a_clear_error()
    {
        Store.Add("alice", "a-password");
        Store.SetAddresses("alice", ["alice@example.org"]);
        var json = File.ReadAllText(_temp.FilePath);

        void Expect(string content, params string[] details)
        {
            File.WriteAllText(_temp.FilePath, content);
            var e = Assert.Throws<AccountStoreException>(() => AccountStore.Open(_temp.FilePath));
            Assert.Contains(_temp.FilePath, e.Message, StringComparison.Ordinal);
            foreach (var detail in details)
            {
                Assert.Contains(detail, e.Message, StringComparison.Ordinal);
            }
        }

        Expect(json.Replace("\"alice@example.org\"", "\"alice@\"", StringComparison.Ordinal), "account \"alice\"", "\"alice@\"", "addresses");
        Expect(json.Replace("\"alice@example.org\"", "42", StringComparison.Ordinal), "corrupt");
        Expect(json.Replace("\"addresses\"", "\"address\"", StringComparison.Ordinal), "address");
    }

    [Fact]
    public void Hand_edited_file_is_normalised_on_load()
    {
        Store.Add("alice", "a-password");
        Store.SetAddresses("alice", ["alice@example.org"]);
        var json = File.ReadAllText(_temp.FilePath);
        File.WriteAllText(_temp.FilePath, json.Replace("\"alice@example.org\"", "\"alice@Example.ORG.\", \"@EXAMPLE.net\", \"ALICE@example.org\"", StringComparison.Ordinal));

        Assert.True(AccountStore.Open(_temp.FilePath).TryGet("alice", out var alice));
        Assert.Equal(["alice@example.org", "@example.net"], alice.Addresses);
    }

    // Matching

    [Fact]
    public void Exact_address_matches_ignoring_ascii_case_only_that_address()
    {
        var account = WithAddresses("Alice@Example.org");

        Assert.True(MaySendAs(account, "Alice@example.org"));
        Assert.True(MaySendAs(account, "alice@example.org"));
        Assert.True(MaySendAs(account, "ALICE@EXAMPLE.ORG"));
        Assert.False(MaySendAs(account, "bob@example.org"));
        Assert.False(MaySendAs(account, "xalice@example.org"));
        Assert.False(MaySendAs(account, "alice@example.org.evil"));
        Assert.False(MaySendAs(account, "alice@example.orgx"));
        Assert.False(MaySendAs(account, "alice@example.org."));
        Assert.False(MaySendAs(account, "alice@sub.example.org"));
        Assert.False(MaySendAs(account, "alice"));
        Assert.False(MaySendAs(account, "\"alice\"@example.org"));
        Assert.False(account.MaySendAs(ReadOnlySpan<byte>.Empty));
    }

    [Fact]
    public void Domain_pattern_matches_exactly_that_domain_not_subdomains()
    {
        var account = WithAddresses("@Example.org.");

        Assert.True(MaySendAs(account, "alice@example.org"));
        Assert.True(MaySendAs(account, "BOB@EXAMPLE.ORG"));
        Assert.True(MaySendAs(account, "\"john doe\"@example.org"));
        Assert.True(MaySendAs(account, "\"x@evil.test\"@example.org"));
        Assert.False(MaySendAs(account, "\"x@example.org\"@evil.test"));
        Assert.False(MaySendAs(account, "alice@sub.example.org"));
        Assert.False(MaySendAs(account, "alice@badexample.org"));
        Assert.False(MaySendAs(account, "alice@example.org."));
        Assert.False(MaySendAs(account, "alice@example.com"));
        Assert.False(MaySendAs(account, "@example.org"));
        Assert.False(MaySendAs(account, "example.org"));
        Assert.False(account.MaySendAs(default));
    }

    [Fact]
    public void Subdomain_pattern_does_not_match_the_parent()
    {
        var account = WithAddresses("@mail.example.org");

        Assert.True(MaySendAs(account, "alice@mail.example.org"));
        Assert.False(MaySendAs(account, "alice@example.org"));
    }

    [Fact]
    public void Star_allows_every_sender_including_the_null_sender()
    {
        var account = WithAddresses("*");

        Assert.True(MaySendAs(account, "anyone@anywhere.example"));
        Assert.True(MaySendAs(account, "\"odd one\"@[192.0.2.1]"));
        Assert.True(MaySendAs(account, "josé@exämple.org"));
        Assert.True(account.MaySendAs(ReadOnlySpan<byte>.Empty));
    }

    [Fact]
    public void Null_sender_is_refused_without_star()
    {
        var account = WithAddresses("alice@example.org", "@example.org");

        Assert.False(account.MaySendAs(ReadOnlySpan<byte>.Empty));
        Assert.False(MaySendAs(account, "<>"));
    }

    [Fact]
    public void Utf8_addresses_compare_ordinally_except_ascii_letters()
    {
        var account = WithAddresses("josé@exämple.org", "@bücher.example");

        Assert.True(MaySendAs(account, "josé@exämple.org"));
        Assert.True(MaySendAs(account, "JOSé@EXäMPLE.ORG"));
        Assert.False(MaySendAs(account, "JOSÉ@exämple.org"));   // É is not ASCII: not folded
        Assert.False(MaySendAs(account, "josé@EXÄMPLE.org"));
        Assert.False(MaySendAs(account, "jose\u0301@exämple.org")); // decomposed é: different bytes
        Assert.False(MaySendAs(account, "josé@xn--exmple-cua.org")); // A-label: a different domain
        Assert.True(MaySendAs(account, "anna@Bücher.EXAMPLE"));
        Assert.False(MaySendAs(account, "anna@BÜCHER.example"));
    }

    [Fact]
    public void Address_literals_and_quoted_local_parts_compare_as_given()
    {
        var account = WithAddresses("user@[IPv6:2001:db8::1]", "\"john doe\"@example.org");

        Assert.True(MaySendAs(account, "USER@[IPv6:2001:DB8::1]"));
        Assert.False(MaySendAs(account, "user@[IPv6:2001:db8:0::1]"));
        Assert.True(MaySendAs(account, "\"John Doe\"@example.org"));
        Assert.False(MaySendAs(account, "john.doe@example.org"));
        Assert.False(MaySendAs(account, "\"john\\ doe\"@example.org"));
    }

    [Fact]
    public void Invalid_utf8_never_matches_and_never_throws()
    {
        var account = WithAddresses("alice@example.org", "@example.org");

        Assert.False(account.MaySendAs([0xFF, 0x40, 0xFE]));
        Assert.False(account.MaySendAs([0x40]));
        var truncated = Encoding.ASCII.GetBytes("alice@example.org");
        truncated[^5] = 0xC3; // a lead byte without its continuation
        Assert.False(account.MaySendAs(truncated));
    }

    [Fact]
    public void May_send_as_does_not_allocate()
    {
        var account = WithAddresses("alice@example.org", "bob@example.org", "@example.net", "@Exämple.org");
        var addresses = new[] { "ALICE@example.org", "carol@example.net", "dave@EXäMPLE.ORG", "eve@evil.test", "", "nobody" }
            .Select(Encoding.UTF8.GetBytes).ToArray();
        foreach (var address in addresses)
        {
            account.MaySendAs(address);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        var allowed = 0;
        for (var i = 0; i < 1000; i++)
        {
            foreach (var address in addresses)
            {
                allowed += account.MaySendAs(address) ? 1 : 0;
            }
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(3000, allowed);
    }

    private static bool Invisible(char c) =>
        char.IsControl(c) || char.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.Format;

    private static SaslServerStep PlainLogin(AccountStore store, string user, string password) =>
        Sasl.Server(store, SaslMechanisms.Plain, SaslChannel.Tls(null)).Step(Sasl.Utf8($"\0{user}\0{password}"));
}
