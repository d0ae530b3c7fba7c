using System.Globalization;
using System.Text.Json;
using Tern.Cli;

namespace Tern.Tests.Cli;

/// <summary>
/// <c>tern mta-sts list</c> in-process, on cache files written in the documented format
/// (DATA/mta-sts.json, version 1). The server writing the file itself is covered end to end.
/// </summary>
public sealed class MtaStsCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tern-mtasts-cli-").FullName;

    // Whole seconds: the table prints times to the second.
    private readonly DateTimeOffset _now = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());

    public void Dispose() => Directory.Delete(_dir, true);

    private string CachePath => Path.Combine(_dir, "data", "mta-sts.json");

    [Fact]
    public async Task List_prints_each_cached_policy_and_failure()
    {
        var config = Config();
        await WriteCacheAsync();

        var (code, output, err) = await InProcessTern.RunAsync("mta-sts", "list", "-c", config);

        Assert.Equal(ExitCodes.Ok, code);
        Assert.Equal(string.Empty, err);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Matches(@"^DOMAIN\s+MODE\s+ID\s+MX\s+FETCHED\s+EXPIRES\s+LAST-USED\s+LAST-FAILURE$", lines[0]);
        Assert.Equal(5, lines.Length);

        // Sorted by domain; the entry whose policy does not parse is left out.
        Assert.Matches(
            $@"^down\.example\s+-\s+-\s+-\s+-\s+-\s+{T(_now.AddMinutes(-2))}\s+{T(_now.AddMinutes(-2))} connection refused \(no fetch before {T(_now.AddMinutes(3))}\)$",
            lines[1]);
        Assert.Matches(
            $@"^enforce\.example\s+enforce\s+20260301\s+mx1\.enforce\.example,\*\.backup\.example\s+{T(_now.AddHours(-1))}\s+{T(_now.AddHours(-1).AddDays(7))}\s+{T(_now.AddMinutes(-5))}\s+-$",
            lines[2]);
        Assert.Matches(
            $@"^old\.example\s+testing\s+t1\s+mx\.old\.example\s+{T(_now.AddDays(-10))}\s+{T(_now.AddDays(-9))} \(expired\)\s+{T(_now.AddDays(-1))}\s+{T(_now.AddHours(-1))} HTTP status 404 / second line$",
            lines[3]);
        Assert.Equal("2 policies (1 expired), 1 domain without a policy after a failed first fetch", lines[4]);
    }

    [Fact]
    public async Task List_json_prints_every_field()
    {
        var config = Config();
        await WriteCacheAsync();

        var (code, output, err) = await InProcessTern.RunAsync("mta-sts", "list", "--json", "-c", config);

        Assert.Equal(ExitCodes.Ok, code);
        Assert.Equal(string.Empty, err);
        var root = JsonDocument.Parse(output).RootElement;
        Assert.Equal(CachePath, root.GetProperty("file").GetString());
        Assert.True(root.GetProperty("exists").GetBoolean());
        Assert.True(root.GetProperty("enabled").GetBoolean());
        var entries = root.GetProperty("entries").EnumerateArray().ToArray();
        Assert.Equal(["down.example", "enforce.example", "old.example"], entries.Select(e => e.GetProperty("domain").GetString()));

        var down = entries[0];
        Assert.False(down.TryGetProperty("mode", out _));
        Assert.False(down.TryGetProperty("fetched", out _));
        Assert.Equal(_now.AddMinutes(-2), down.GetProperty("failed").GetDateTimeOffset());
        Assert.Equal("connection refused", down.GetProperty("error").GetString());
        Assert.Equal(_now.AddMinutes(3), down.GetProperty("backoff_until").GetDateTimeOffset());

        var enforce = entries[1];
        Assert.Equal("enforce", enforce.GetProperty("mode").GetString());
        Assert.Equal("20260301", enforce.GetProperty("id").GetString());
        Assert.Equal(["mx1.enforce.example", "*.backup.example"], enforce.GetProperty("mx").EnumerateArray().Select(m => m.GetString()));
        Assert.Equal(604800, enforce.GetProperty("max_age").GetInt32());
        Assert.Equal(_now.AddHours(-1), enforce.GetProperty("fetched").GetDateTimeOffset());
        Assert.Equal(_now.AddHours(-1).AddDays(7), enforce.GetProperty("expires").GetDateTimeOffset());
        Assert.False(enforce.GetProperty("expired").GetBoolean());
        Assert.Equal(_now.AddHours(11), enforce.GetProperty("refresh_due").GetDateTimeOffset());
        Assert.Equal(_now.AddMinutes(-5), enforce.GetProperty("last_used").GetDateTimeOffset());
        Assert.False(enforce.TryGetProperty("failed", out _));
        Assert.False(enforce.TryGetProperty("backoff_until", out _));

        var old = entries[2];
        Assert.Equal("testing", old.GetProperty("mode").GetString());
        Assert.True(old.GetProperty("expired").GetBoolean());
        Assert.Equal("HTTP status 404\nsecond line", old.GetProperty("error").GetString());
        Assert.False(old.TryGetProperty("backoff_until", out _));
    }

    [Fact]
    public async Task Without_a_cache_file_nothing_is_cached_and_that_is_no_error()
    {
        var config = Config();

        var (code, output, err) = await InProcessTern.RunAsync("mta-sts", "list", "-c", config);

        Assert.Equal(ExitCodes.Ok, code);
        Assert.Equal(string.Empty, err);
        Assert.StartsWith("no policies cached (", output, StringComparison.Ordinal);
        Assert.Contains($"{CachePath} does not exist", output, StringComparison.Ordinal);

        (code, output, _) = await InProcessTern.RunAsync("mta-sts", "list", "--json", "-c", config);
        Assert.Equal(ExitCodes.Ok, code);
        var root = JsonDocument.Parse(output).RootElement;
        Assert.False(root.GetProperty("exists").GetBoolean());
        Assert.Equal(0, root.GetProperty("entries").GetArrayLength());
    }

    [Fact]
    public async Task An_empty_cache_file_lists_no_policies()
    {
        var config = Config();
        Directory.CreateDirectory(Path.GetDirectoryName(CachePath)!);
        await File.WriteAllTextAsync(CachePath, """{"version": 1, "entries": []}""");

        var (code, output, _) = await InProcessTern.RunAsync("mta-sts", "list", "-c", config);

        Assert.Equal(ExitCodes.Ok, code);
        Assert.Equal($"no policies cached ({CachePath} holds none)\n", output);
    }

    [Theory]
    [InlineData("""{"version": 1, "entries": [{"domain": """)]
    [InlineData("""{"version": 2, "entries": []}""")]
    [InlineData("not json at all")]
    public async Task A_corrupt_cache_file_is_a_clear_error(string content)
    {
        var config = Config();
        Directory.CreateDirectory(Path.GetDirectoryName(CachePath)!);
        await File.WriteAllTextAsync(CachePath, content);

        foreach (var json in new[] { false, true })
        {
            var (code, output, err) = await InProcessTern.RunAsync(json ? ["mta-sts", "list", "--json", "-c", config] : ["mta-sts", "list", "-c", config]);

            Assert.Equal(ExitCodes.Failure, code);
            Assert.Equal(string.Empty, output);
            Assert.StartsWith($"tern: cannot read the MTA-STS cache: MTA-STS cache {CachePath}: ", err, StringComparison.Ordinal);
            Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }
    }

    [Fact]
    public async Task With_mta_sts_off_the_cache_is_listed_with_a_note()
    {
        var config = Config("[delivery]\nmta_sts = false\n");
        await WriteCacheAsync();

        var (code, output, err) = await InProcessTern.RunAsync("mta-sts", "list", "-c", config);

        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("enforce.example", output, StringComparison.Ordinal);
        Assert.Contains("MTA-STS is off in the configuration ([delivery] mta_sts = false)", err, StringComparison.Ordinal);

        (code, output, _) = await InProcessTern.RunAsync("mta-sts", "list", "--json", "-c", config);
        Assert.Equal(ExitCodes.Ok, code);
        Assert.False(JsonDocument.Parse(output).RootElement.GetProperty("enabled").GetBoolean());
    }

    [Fact]
    public async Task A_bad_configuration_exits_with_the_config_code()
    {
        var config = Config("[delivery]\nmta_sts = \"maybe\"\n");

        var (code, output, err) = await InProcessTern.RunAsync("mta-sts", "list", "-c", config);

        Assert.Equal(ExitCodes.Config, code);
        Assert.Equal(string.Empty, output);
        Assert.Contains("delivery.mta_sts: expected true or false", err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("mta-sts", "--help")]
    [InlineData("mta-sts", "list", "--help")]
    public async Task Mta_sts_has_help(params string[] args)
    {
        var (code, output, _) = await InProcessTern.RunAsync(args);

        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("Usage:", output, StringComparison.Ordinal);
        if (args.Contains("list"))
        {
            Assert.Contains("--json", output, StringComparison.Ordinal);
            Assert.Contains("--config", output, StringComparison.Ordinal);
            Assert.Contains("whether or not the server runs", output, StringComparison.Ordinal);
        }
    }

    private string Config(string extra = "")
    {
        var path = Path.Combine(_dir, "tern.toml");
        File.WriteAllText(path, "hostname = \"out.example.test\"\ndata_dir = \"data\"\n" + extra);
        return path;
    }

    /// <summary>
    /// A cache in the documented format: a fresh enforce policy, an expired testing policy with a
    /// failed refresh an hour ago, a domain whose first fetch failed 2 minutes ago (in its 5-minute
    /// backoff), and an entry whose policy does not parse (skipped).
    /// </summary>
    private async Task WriteCacheAsync()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(CachePath)!);
        var file = new
        {
            version = 1,
            entries = new object[]
            {
                new
                {
                    domain = "bad.example", id = "b1", policy = "version: STSv1\nmode: enforce\nmax_age: 600\n",
                    fetched = _now, refresh_at = _now.AddHours(12), last_used = _now,
                },
                new { domain = "down.example", failed = _now.AddMinutes(-2), error = "connection refused", last_used = _now.AddMinutes(-2) },
                new
                {
                    domain = "enforce.example", id = "20260301",
                    policy = "version: STSv1\r\nmode: enforce\r\nmx: mx1.enforce.example\r\nmx: *.backup.example\r\nmax_age: 604800\r\n",
                    fetched = _now.AddHours(-1), refresh_at = _now.AddHours(11), last_used = _now.AddMinutes(-5),
                },
                new
                {
                    domain = "old.example", id = "t1", policy = "version: STSv1\nmode: testing\nmx: mx.old.example\nmax_age: 86400\n",
                    fetched = _now.AddDays(-10), refresh_at = _now.AddDays(-10).AddHours(12), last_used = _now.AddDays(-1),
                    failed = _now.AddHours(-1), error = "HTTP status 404\nsecond line",
                },
            },
        };
        await File.WriteAllTextAsync(CachePath, JsonSerializer.Serialize(file));
    }

    private static string T(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
}
