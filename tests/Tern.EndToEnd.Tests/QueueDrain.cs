using System.Text.RegularExpressions;

namespace Tern.EndToEnd.Tests;

/// <summary>
/// Runs <c>tern queue</c> against a running server (its control socket), once or until the output matches. What a delivery
/// log line, a sink or another message shows may be a moment ahead of the queue: an attempt is logged
/// before it is recorded, and a notice is committed after the attempt that queued it.
/// </summary>
internal static class QueueDrain
{
    /// <summary>Runs <c>tern queue ARGS</c> once and returns its output; any exit but 0 fails the test, with the output.</summary>
    public static async Task<string> RunAsync(string dir, string config, params string[] args)
    {
        var (code, stdout, stderr) = await TernProcess.RunAsync(dir, ["queue", .. args, "--config", config]);
        Assert.True(code == 0, $"tern queue {string.Join(' ', args)}: exit {code}\n{stdout}{stderr}");
        return stdout;
    }

    /// <summary>Polls <c>tern queue list</c> until it shows no message at all (none queued, deferred or held); the last listing either way.</summary>
    public static async Task<(bool Empty, string Last)> WaitForEmptyAsync(TempDir dir, string config, TimeSpan timeout)
    {
        var (matched, last) = await PollAsync(dir.Path, config, "0 of 0 messages\n$", timeout, TimeSpan.FromMilliseconds(500), ["list"]);
        return (matched, last);
    }

    /// <summary>
    /// Runs <c>tern queue ARGS</c> until its output matches <paramref name="pattern"/> (10 seconds at
    /// most) and returns the last output, which the caller asserts on.
    /// </summary>
    public static async Task<string> MatchingAsync(string dir, string config, string pattern, params string[] args) =>
        (await PollAsync(dir, config, pattern, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(100), args)).Last;

    private static async Task<(bool Matched, string Last)> PollAsync(string dir, string config, string pattern, TimeSpan timeout, TimeSpan interval, string[] args)
    {
        var deadline = DateTime.UtcNow + timeout;
        var last = string.Empty;
        while (true)
        {
            var (code, stdout, stderr) = await TernProcess.RunAsync(dir, ["queue", .. args, "--config", config]);
            last = code == 0 ? stdout : stdout + stderr;
            if (code == 0 && Regex.IsMatch(stdout, pattern, RegexOptions.Multiline))
            {
                return (true, last);
            }

            if (DateTime.UtcNow >= deadline)
            {
                return (false, last);
            }

            await Task.Delay(interval);
        }
    }
}
