namespace Tern.EndToEnd.Tests;

/// <summary>Waits for a running server's queue to empty, through <c>tern queue list</c> (its control socket).</summary>
internal static class QueueDrain
{
    /// <summary>Polls <c>tern queue list</c> until it shows no message at all (none queued, deferred or held); the last listing either way.</summary>
    public static async Task<(bool Empty, string Last)> WaitForEmptyAsync(TempDir dir, string config, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var last = string.Empty;
        while (DateTime.UtcNow < deadline)
        {
            var (code, stdout, stderr) = await TernProcess.RunAsync(dir.Path, "queue", "list", "--config", config);
            last = stdout + stderr;
            if (code == 0 && stdout.EndsWith("0 of 0 messages\n", StringComparison.Ordinal))
            {
                return (true, last);
            }

            await Task.Delay(500);
        }

        return (false, last);
    }
}
