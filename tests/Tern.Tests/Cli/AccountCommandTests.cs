using System.Text.RegularExpressions;
using Tern.Cli;
using Tern.Sasl.Credentials;

namespace Tern.Tests.Cli;

public sealed partial class AccountCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tern-accounts-").FullName;
    private readonly string _config;

    public AccountCommandTests()
    {
        _config = Path.Combine(_dir, "tern.toml");
        File.WriteAllText(_config, "data_dir = \"data\"\n[auth]\niterations = 5000\n");
    }

    public void Dispose() => Directory.Delete(_dir, true);

    private Task<(int Code, string Out, string Err)> Run(params string[] args) => InProcessTern.RunAsync([.. args, "-c", _config]);

    private AccountStore Store => AccountStore.Open(Path.Combine(_dir, "data", "accounts.json"));

    [Fact]
    public async Task Add_prints_a_generated_password_once_and_stores_only_keys()
    {
        var (code, output, _) = await Run("account", "add", "alice@example.org");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("account alice@example.org added; may send as: alice@example.org", output, StringComparison.Ordinal);
        var password = PasswordLine().Match(output).Groups[1].Value;
        Assert.True(password.Length >= 20, output);

        Assert.True(Store.TryGet("alice@example.org", out var account));
        Assert.Equal(5000, account.Iterations);
        Assert.False(account.CramMd5Enabled);
        var file = await File.ReadAllTextAsync(Path.Combine(_dir, "data", "accounts.json"));
        Assert.DoesNotContain(password, file, StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_dir, "data", "accounts.json")));

        var again = await Run("account", "add", "alice@example.org");
        Assert.Equal(ExitCodes.Failure, again.Code);
        Assert.Contains("alice@example.org", again.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Passwd_addresses_list_and_remove()
    {
        await Run("account", "add", "app", "--cram-md5", "--address", "@example.org", "--address", "noreply@example.net");
        var list = await Run("account", "list");
        Assert.Matches(@"^app\tcreated=\S+\tpassword_changed=\S+\titerations=5000\tcram_md5=on\tsenders=@example.org noreply@example.net\n$", list.Out);

        var (code, output, _) = await Run("account", "passwd", "app");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("password of app changed", output, StringComparison.Ordinal);
        Assert.Matches(PasswordLine(), output);
        Assert.True(Store.TryGet("app", out var app));
        Assert.True(app.CramMd5Enabled);

        Assert.Equal(ExitCodes.Ok, (await Run("account", "addresses", "app", "billing@example.com")).Code);
        Assert.True(Store.TryGet("app", out app));
        Assert.Equal(["billing@example.com"], app.Addresses);
        Assert.True(app.MaySendAs("Billing@Example.com"u8));
        Assert.False(app.MaySendAs("other@example.com"u8));

        var bad = await Run("account", "addresses", "app", "not an address");
        Assert.Equal(ExitCodes.Failure, bad.Code);
        Assert.Contains("not an address", bad.Err, StringComparison.Ordinal);

        Assert.Equal(ExitCodes.Ok, (await Run("account", "remove", "app")).Code);
        Assert.False(Store.TryGet("app", out _));
        Assert.Equal(ExitCodes.Failure, (await Run("account", "remove", "app")).Code);
    }

    [Fact]
    public async Task Bad_config_is_reported_before_touching_accounts()
    {
        await File.WriteAllTextAsync(_config, "[auth]\nmechanisms = [\"SCRAM-SHA-512\"]\n");
        var (code, _, err) = await Run("account", "list");
        Assert.Equal(ExitCodes.Config, code);
        Assert.Contains("auth.mechanisms: unknown mechanism \"SCRAM-SHA-512\"", err, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"^password: (\S+)$", RegexOptions.Multiline)]
    private static partial Regex PasswordLine();
}
