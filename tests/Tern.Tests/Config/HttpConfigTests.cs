using System.Net;
using Tern.Config;

namespace Tern.Tests.Config;

/// <summary><c>[http]</c>: the listener and the admin API's token, every problem named by file, line and key.</summary>
public sealed class HttpConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tern-httpcfg-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private TernConfig Parse(string toml) => ConfigLoader.Parse(toml, "tern.toml", _dir);

    private IReadOnlyList<ConfigError> Errors(string toml) => Assert.Throws<ConfigException>(() => Parse(toml)).Errors;

    [Fact]
    public void Without_token_keys_the_token_is_generated_in_the_data_directory()
    {
        var c = Parse("[http]\nlisten = \"127.0.0.1:9999\"\n");
        Assert.Equal(new HttpConfig(new IPEndPoint(IPAddress.Loopback, 9999)), c.Http);
        Assert.Null(c.Http.AdminToken);
        Assert.Null(c.Http.AdminTokenFile);

        // The example documents the keys commented out: it still means the defaults.
        var example = ConfigLoader.Parse(ConfigLoader.Example(), "example.toml", _dir);
        Assert.Equal(ConfigLoader.Default().Http, example.Http);
        Assert.Contains("# admin_token_file = ", ConfigLoader.Example(), StringComparison.Ordinal);
        Assert.Contains("# admin_token = ", ConfigLoader.Example(), StringComparison.Ordinal);
    }

    [Fact]
    public void Token_file_is_resolved_against_the_configuration_directory_and_checked()
    {
        File.WriteAllText(Path.Combine(_dir, "admin.token"), "0123456789abcdef-_ghij\n");
        var c = Parse("[http]\nadmin_token_file = \"admin.token\"\n");
        Assert.Equal(Path.Combine(_dir, "admin.token"), c.Http.AdminTokenFile);

        var missing = Assert.Single(Errors("[http]\nlisten = \"127.0.0.1:9464\"\nadmin_token_file = \"nope.token\"\n"));
        Assert.Equal(("tern.toml", 3, "http.admin_token_file"), (missing.File, missing.Line, missing.Key));
        Assert.Contains("does not exist", missing.Message, StringComparison.Ordinal);

        File.WriteAllText(Path.Combine(_dir, "empty.token"), "\n");
        var empty = Assert.Single(Errors("[http]\nadmin_token_file = \"empty.token\"\n"));
        Assert.Equal((2, "http.admin_token_file"), (empty.Line, empty.Key));
        Assert.Contains("the token is empty", empty.Message, StringComparison.Ordinal);
        Assert.StartsWith("tern.toml:2: http.admin_token_file: ", empty.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Inline_token_is_checked_secret_and_exclusive_with_the_file()
    {
        var c = Parse("[http]\nadmin_token = \"s3cret-s3cret-s3cret\"\n");
        Assert.Equal("s3cret-s3cret-s3cret", c.Http.AdminToken);
        Assert.DoesNotContain("s3cret", c.Http.ToString(), StringComparison.Ordinal);
        Assert.Contains("AdminToken = (set)", c.Http.ToString(), StringComparison.Ordinal);

        var short_ = Assert.Single(Errors("[http]\nadmin_token = \"short\"\n"));
        Assert.Equal((2, "http.admin_token"), (short_.Line, short_.Key));
        Assert.Contains("at least 16", short_.Message, StringComparison.Ordinal);
        var spaces = Assert.Single(Errors("[http]\n\nadmin_token = \"has spaces in the token\"\n"));
        Assert.Equal((3, "http.admin_token"), (spaces.Line, spaces.Key));
        Assert.Contains("position 4", spaces.Message, StringComparison.Ordinal);
        Assert.Contains(Errors("[http]\nadmin_token = 42\n"), e => e.Key == "http.admin_token" && e.Line == 2);

        File.WriteAllText(Path.Combine(_dir, "admin.token"), "0123456789abcdef0123");
        var both = Assert.Single(Errors("[http]\nadmin_token_file = \"admin.token\"\nadmin_token = \"s3cret-s3cret-s3cret\"\n"));
        Assert.Equal((3, "http.admin_token"), (both.Line, both.Key));
        Assert.Contains("not both", both.Message, StringComparison.Ordinal);

        Assert.Contains(Errors("[http]\nadmin_tokn = \"x\"\n"), e => e.Key == "http.admin_tokn" && e.Message.Contains("unknown key", StringComparison.Ordinal));
    }
}
