using System.Globalization;
using System.Text.RegularExpressions;

namespace Tern.EndToEnd.Tests;

/// <summary>
/// Helpers around the published harness (out/tern-load) for the tests that relay to it: a sink started
/// with its options and the port it bound, its clean stop, and the figures of <c>tern-load check</c>.
/// </summary>
internal static class LoadSink
{
    /// <summary>Starts <c>tern-load sink --listen 127.0.0.1:0 ARGS</c>; returns it and its port.</summary>
    public static Task<(TernProcess Sink, int Port)> StartAsync(string directory, params string[] args) =>
        StartOnAsync(directory, "127.0.0.1", args);

    /// <summary>Starts <c>tern-load sink --listen ADDRESS:0 ARGS</c> (any loopback address); returns it and its port.</summary>
    public static async Task<(TernProcess Sink, int Port)> StartOnAsync(string directory, string address, params string[] args)
    {
        var sink = TernProcess.StartProgram(TernProcess.LoadBinary, directory, ["sink", "--listen", $"{address}:0", .. args]);
        var listening = new Regex($@"listening on {Regex.Escape(address)}:(\d+)");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            var m = listening.Match(sink.StdoutText);
            if (m.Success)
            {
                return (sink, int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));
            }

            Assert.False(sink.HasExited, "tern-load sink exited: " + sink.StdoutText + sink.Stderr);
            await Task.Delay(20);
        }

        var output = sink.StdoutText + sink.Stderr;
        await sink.DisposeAsync();
        throw new Xunit.Sdk.XunitException("tern-load sink did not say where it listens: " + output);
    }

    /// <summary>Stops the sink with SIGTERM (it writes its ids file then) and asserts that it exited with 0.</summary>
    public static async Task StopAsync(TernProcess sink)
    {
        sink.Signal(TernProcess.SIGTERM);
        Assert.Equal(0, await sink.WaitForExitAsync(TimeSpan.FromSeconds(20)));
    }

    /// <summary>A count from <c>tern-load check</c>'s text report ("lost:          0").</summary>
    public static long Figure(string checkOutput, string name)
    {
        var m = Regex.Match(checkOutput, $@"(?m)^{Regex.Escape(name)}:\s+(\d+)");
        Assert.True(m.Success, $"no \"{name}\" in the check report:\n{checkOutput}");
        return long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    /// <summary>An integer from the environment (for the long versions), or <paramref name="fallback"/>.</summary>
    public static int FromEnvironment(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v > 0 ? v : fallback;
}
