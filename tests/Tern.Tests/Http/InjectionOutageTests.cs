using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;

namespace Tern.Tests.Http;

/// <summary><c>[injection] enabled = false</c>: the route is not there at all.</summary>
public sealed class InjectionDisabledTests() : InjectionFixture("enabled = false")
{
    [Fact]
    public async Task Disabled_injection_is_not_found()
    {
        var (status, _, _) = await PostRawStatusAsync();
        Assert.Equal(HttpStatusCode.NotFound, status);
    }

    private async Task<(HttpStatusCode, string, HttpResponseMessage)> PostRawStatusAsync()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/messages") { Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", AliceToken);
        var response = await Client.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), response);
    }
}

/// <summary>
/// A full disk (the spool on a small tmpfs mounted for the test; the tests run as root, as CI
/// does): a message the spool cannot commit gets 503 with Retry-After, as SMTP answers 452 4.3.1,
/// and once space is back the API accepts mail again without a restart.
/// </summary>
public sealed class InjectionDiskFullTests : InjectionFixture, IDisposable
{
    private readonly string _mount;

    public InjectionDiskFullTests()
        : this(Mounted())
    {
    }

    private InjectionDiskFullTests(string mount)
        : base(spoolDirectory: Path.Combine(mount, "spool"))
    {
        _mount = mount;
    }

    public void Dispose()
    {
        // Lazy: a failed test must not leave the mount behind. Runs after the fixture closed the spool.
        Run("umount", "-l", _mount);
        Directory.Delete(_mount, true);
    }

    [Fact]
    public async Task Full_disk_is_503_with_Retry_After_and_passes()
    {
        await File.WriteAllBytesAsync(Path.Combine(_mount, "filler"), new byte[7_000_000]);

        // Random base64 does not compress away: each message takes ~45 KB of the ~1 MB left.
        var random = new Random(3);
        (HttpStatusCode Status, JsonNode Json, HttpResponseMessage Response) result = default;
        for (var i = 0; i < 100; i++)
        {
            var noise = new byte[33_000];
            random.NextBytes(noise);
            var raw = "Subject: fill\n\n" + string.Join('\n', Convert.ToBase64String(noise).Chunk(76).Select(c => new string(c)));
            result = await PostAsync(new JsonObject { ["from"] = "alice@example.org", ["to"] = Array("b@example.net"), ["raw"] = raw }, AliceToken);
            if (result.Status != HttpStatusCode.Accepted)
            {
                break;
            }
        }

        Assert.NotNull(result.Response);
        AssertError(HttpStatusCode.ServiceUnavailable, "spool_unavailable", result);
        Assert.Equal(TimeSpan.FromSeconds(10), result.Response.Headers.RetryAfter?.Delta);

        File.Delete(Path.Combine(_mount, "filler"));
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            var again = await PostAsync(new JsonObject { ["from"] = "alice@example.org", ["to"] = Array("b@example.net"), ["raw"] = "Subject: back\n\nx" }, AliceToken);
            if (again.Status == HttpStatusCode.Accepted)
            {
                break;
            }

            Assert.Equal(HttpStatusCode.ServiceUnavailable, again.Status);
            Assert.True(Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(30), "the API did not accept mail again after space came back");
            await Task.Delay(250);
        }
    }

    private static string Mounted()
    {
        var mount = Directory.CreateTempSubdirectory("tern-inject-full-").FullName;
        Run("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mount);
        return mount;
    }

    private static void Run(string file, params string[] args)
    {
        using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true })!;
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)}: {p.StandardError.ReadToEnd()}");
    }
}
