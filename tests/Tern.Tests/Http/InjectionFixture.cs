using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging.Abstractions;
using Tern.Cli;
using Tern.Config;
using Tern.Http;
using Tern.Injection;
using Tern.Metrics;
using Tern.Observability.Metrics;
using Tern.Spool;
using Tern.Tests.Cli;

namespace Tern.Tests.Http;

/// <summary>
/// A temporary data directory with a configuration naming it, accounts and tokens made with the
/// command line as an operator makes them, a real spool, and the HTTP endpoint with the injection
/// API on a real loopback port; requests go through HttpClient.
/// </summary>
public abstract partial class InjectionFixture : IAsyncLifetime
{
    private readonly string _extraConfig;
    private readonly string? _spoolDirectory;

    protected InjectionFixture(string extraConfig = "", string? spoolDirectory = null)
    {
        _extraConfig = extraConfig;
        _spoolDirectory = spoolDirectory;
        Dir = Directory.CreateTempSubdirectory("tern-inject-").FullName;
        ConfigPath = Path.Combine(Dir, "tern.toml");
        DataDir = Path.Combine(Dir, "data");
    }

    protected string Dir { get; }

    protected string ConfigPath { get; }

    protected string DataDir { get; }

    protected global::Tern.Spool.Spool Spool { get; private set; } = null!;

    protected HttpClient Client { get; private set; } = null!;

    /// <summary>The token of alice@example.org (who may send as herself only).</summary>
    protected string AliceToken { get; private set; } = string.Empty;

    public async Task InitializeAsync()
    {
        var port = TestPorts.Free();
        await File.WriteAllTextAsync(ConfigPath, $"""
            hostname = "mx.tern.test"
            data_dir = "data"
            [auth]
            iterations = 4096
            [http]
            listen = "127.0.0.1:{port}"
            [injection]
            max_message_size = "64KiB"
            max_recipients = 100
            {_extraConfig}
            """);
        Directory.CreateDirectory(DataDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        await Ok("account", "add", "alice@example.org");
        AliceToken = await NewTokenAsync("alice@example.org");

        var config = ConfigLoader.Load(ConfigPath);

        // Small index pages (32 KiB): an envelope of 100 long recipients does not fit a queue entry.
        Spool = global::Tern.Spool.Spool.Open(
            new SpoolOptions
            {
                Directory = _spoolDirectory ?? Path.Combine(DataDir, "spool"),
                PageSizeBits = 20,
                MemorySizeBits = 23,
                SegmentSizeBits = 22,
                IndexBuckets = 1 << 12,
                IndexPageSizeBits = 15,
                IndexMemorySizeBits = 20,
                IndexSegmentSizeBits = 22,
            },
            NullLoggerFactory.Instance,
            NullMetrics.Instance);
        Endpoint = new HttpEndpoint(config.Http.Listen, NullLoggerFactory.Instance, new PrometheusMetrics());
        InjectionApi.Map(Endpoint, config, Spool, NullLoggerFactory.Instance);
        Endpoint.Start();
        Client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        await Endpoint.DisposeAsync();
        await Spool.DisposeAsync();
        Directory.Delete(Dir, true);
        GC.SuppressFinalize(this);
    }

    private HttpEndpoint Endpoint { get; set; } = null!;

    /// <summary>Runs <c>tern</c> with this fixture's configuration, asserts exit 0 and returns standard output.</summary>
    protected async Task<string> Ok(params string[] args)
    {
        var (code, output, error) = await InProcessTern.RunAsync([.. args, "-c", ConfigPath]);
        Assert.True(code == ExitCodes.Ok, $"tern {string.Join(' ', args)}: exit {code}\n{output}{error}");
        return output;
    }

    /// <summary><c>tern account token USER</c>; the token from its output.</summary>
    protected async Task<string> NewTokenAsync(string user)
    {
        var output = await Ok("account", "token", user);
        var match = TokenLine().Match(output);
        Assert.True(match.Success, output);
        return match.Groups[1].Value;
    }

    /// <summary>POSTs <paramref name="body"/> as JSON with <paramref name="token"/> (null: no Authorization header).</summary>
    protected async Task<(HttpStatusCode Status, JsonNode Json, HttpResponseMessage Response)> PostAsync(JsonNode body, string? token) =>
        await PostRawAsync(body.ToJsonString(), token);

    protected async Task<(HttpStatusCode Status, JsonNode Json, HttpResponseMessage Response)> PostRawAsync(string body, string? token, string contentType = "application/json")
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/messages")
        {
            Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body)),
        };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        var response = await Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal("application/json; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        return (response.StatusCode, JsonNode.Parse(text)!, response);
    }

    /// <summary>Asserts a whole-request error with this status and code.</summary>
    protected static void AssertError(HttpStatusCode expected, string code, (HttpStatusCode Status, JsonNode Json, HttpResponseMessage Response) result)
    {
        Assert.True(expected == result.Status, $"{(int)result.Status}: {result.Json.ToJsonString()}");
        Assert.Equal((int)expected, result.Json["error"]!["status"]!.GetValue<int>());
        Assert.Equal(code, result.Json["error"]!["code"]!.GetValue<string>());
        Assert.False(string.IsNullOrEmpty(result.Json["error"]!["message"]!.GetValue<string>()));
    }

    /// <summary>The stored message of an accepted request, read back from the spool.</summary>
    protected async Task<StoredMessage> StoredAsync(JsonNode response)
    {
        Assert.True(MessageId.TryParse(response["id"]!.GetValue<string>(), out var id));
        await Spool.CaughtUpAsync();
        var stored = await Spool.ReadAsync(id);
        Assert.NotNull(stored);
        return stored;
    }

    /// <summary>Queued messages, once the spool's index has caught up with its log.</summary>
    protected async Task<int> QueuedAsync()
    {
        await Spool.CaughtUpAsync();
        return Spool.Count;
    }

    protected static JsonArray Array(params string[] values) => new([.. values.Select(v => (JsonNode?)JsonValue.Create(v))]);


    [GeneratedRegex(@"^token for \S+: ([A-Za-z0-9_-]{43})$", RegexOptions.Multiline)]
    private static partial Regex TokenLine();
}
