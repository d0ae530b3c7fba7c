using Tern.Admin;
using Tern.Config;

namespace Tern.Tests.Http;

/// <summary>The admin API's token: generated once (random, base64url, 0600, durable), reused, or read from the configuration.</summary>
public sealed class AdminTokenTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tern-token-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static HttpConfig Http(string? file = null, string? inline = null) => new(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 9464), file, inline);

    [Fact]
    public void Generated_on_first_start_with_mode_0600_then_reused()
    {
        var first = AdminToken.Resolve(Http(), _dir);
        var path = Path.Combine(_dir, "http-admin.token");
        Assert.True(first.Generated);
        Assert.Equal(path, first.Source);
        Assert.Null(first.Warning);
        Assert.Matches("^[A-Za-z0-9_-]{43}$", first.Token);
        Assert.Equal(32, Convert.FromBase64String(first.Token.Replace('-', '+').Replace('_', '/') + "=").Length);
        Assert.Equal(first.Token + "\n", File.ReadAllText(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.False(File.Exists(path + ".tmp"));

        var second = AdminToken.Resolve(Http(), _dir);
        Assert.False(second.Generated);
        Assert.Equal(first.Token, second.Token);

        // Another data directory gets another token.
        var other = Directory.CreateDirectory(Path.Combine(_dir, "other")).FullName;
        Assert.NotEqual(first.Token, AdminToken.Resolve(Http(), other).Token);
    }

    [Fact]
    public void A_loosened_generated_file_is_set_back_to_0600_with_a_warning_and_a_damaged_one_is_refused()
    {
        var path = Path.Combine(_dir, "http-admin.token");
        var token = AdminToken.Resolve(Http(), _dir).Token;
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var again = AdminToken.Resolve(Http(), _dir);
        Assert.Equal(token, again.Token);
        Assert.Contains("had mode 604; set back to 600", again.Warning, StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));

        File.WriteAllText(path, "");
        var e = Assert.Throws<AdminTokenException>(() => AdminToken.Resolve(Http(), _dir));
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.Contains("the token is empty; delete the file to have a new token generated", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Configured_tokens_win_over_the_generated_one()
    {
        var file = Path.Combine(_dir, "admin.token");
        File.WriteAllText(file, "  from-a-file-0123456789\n");
        var fromFile = AdminToken.Resolve(Http(file: file), _dir);
        Assert.Equal(("from-a-file-0123456789", file, false), (fromFile.Token, fromFile.Source, fromFile.Generated));
        Assert.Contains("can be read by other users", fromFile.Warning ?? "(none)", StringComparison.Ordinal);
        File.SetUnixFileMode(file, UnixFileMode.UserRead);
        Assert.Null(AdminToken.Resolve(Http(file: file), _dir).Warning);

        var inline = AdminToken.Resolve(Http(inline: "inline-token-0123456789"), _dir);
        Assert.Equal("inline-token-0123456789", inline.Token);
        Assert.DoesNotContain("inline-token", inline.Source, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dir, "http-admin.token")));

        File.Delete(file);
        Assert.Throws<AdminTokenException>(() => AdminToken.Resolve(Http(file: file), _dir));
    }

    [Theory]
    [InlineData("0123456789abcdef", null)]
    [InlineData("abcDEF012345-._~+/==", null)]
    [InlineData("", "empty")]
    [InlineData("0123456789abcde", "at least 16")]
    [InlineData("0123456789 abcdef", "position 11")]
    [InlineData("0123456789abcdef=x", "position 17")]
    [InlineData("================", "only padding")]
    public void Tokens_must_be_rfc6750_b64tokens_of_at_least_16_characters(string token, string? problem)
    {
        var found = AdminToken.Check(token);
        if (problem is null)
        {
            Assert.Null(found);
        }
        else
        {
            Assert.Contains(problem, found, StringComparison.Ordinal);
        }
    }
}
