using Tern.Cli;

namespace Tern.Tests.Cli;

public sealed class CommandLineTests
{
    private static Task<(int Code, string Out, string Err)> Run(params string[] args) => InProcessTern.RunAsync(args);

    [Fact]
    public async Task Version_prints_the_build()
    {
        var (code, output, _) = await Run("version");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.StartsWith("tern " + BuildInfo.Version, output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("serve", "--help")]
    [InlineData("config", "--help")]
    [InlineData("config", "check", "--help")]
    [InlineData("config", "example", "--help")]
    [InlineData("version", "--help")]
    public async Task Every_command_has_help(params string[] args)
    {
        var (code, output, _) = await Run(args);
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("Usage:", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_command_is_a_usage_error()
    {
        var (code, _, err) = await Run("frobnicate");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("frobnicate", err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Config_check_without_file_checks_the_embedded_default()
    {
        var (code, output, _) = await Run("config", "check");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("(embedded default): ok (2 listeners)", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Config_check_reports_each_error_with_file_line_and_key()
    {
        var path = Path.Combine(Path.GetTempPath(), $"tern-{Guid.NewGuid():N}.toml");
        await File.WriteAllTextAsync(path, "hostname = \"ok.example\"\n[log]\nlevel = \"x\"\nbogus = 1\n");
        try
        {
            var (code, output, err) = await Run("config", "check", "-c", path);
            Assert.Equal(ExitCodes.Config, code);
            Assert.Equal(string.Empty, output);
            Assert.Contains($"{path}:3: log.level: unknown level \"x\"", err, StringComparison.Ordinal);
            Assert.Contains($"{path}:4: log.bogus: unknown key", err, StringComparison.Ordinal);
            Assert.Contains("2 errors in the configuration", err, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Config_example_prints_a_commented_file_that_checks_clean()
    {
        var (code, output, _) = await Run("config", "example");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.StartsWith("# Tern configuration", output, StringComparison.Ordinal);
        var path = Path.Combine(Path.GetTempPath(), $"tern-{Guid.NewGuid():N}.toml");
        await File.WriteAllTextAsync(path, output);
        try
        {
            Assert.Equal(ExitCodes.Ok, (await Run("config", "check", "--config", path)).Code);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Serve_refuses_a_bad_config()
    {
        var path = Path.Combine(Path.GetTempPath(), $"tern-{Guid.NewGuid():N}.toml");
        await File.WriteAllTextAsync(path, "[relay]\nnetworks = [\"0.0.0.0/0\"]\n");
        try
        {
            var (code, _, err) = await Run("serve", "-c", path);
            Assert.Equal(ExitCodes.Config, code);
            Assert.Contains("open relay", err, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
