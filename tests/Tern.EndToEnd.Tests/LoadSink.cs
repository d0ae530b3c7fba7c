using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Tern.EndToEnd.Tests;

/// <summary>
/// Helpers around the published harness (out/tern-load) for the soak and fault tests: a sink started
/// with its options and the port it bound, a wait for an SMTP listener that answers 220, and the
/// figures of <c>tern-load check</c>.
/// </summary>
internal static partial class LoadSink
{
    /// <summary>Starts <c>tern-load sink --listen 127.0.0.1:0 ARGS</c>; returns it and its port.</summary>
    public static async Task<(TernProcess Sink, int Port)> StartAsync(string directory, params string[] args)
    {
        var sink = TernProcess.StartProgram(TernProcess.LoadBinary, directory, ["sink", "--listen", "127.0.0.1:0", .. args]);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            var m = ListeningLine().Match(sink.StdoutText);
            if (m.Success)
            {
                return (sink, int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));
            }

            Assert.False(sink.HasExited, "tern-load sink exited: " + sink.StdoutText + sink.Stderr);
            await Task.Delay(20);
        }

        await sink.DisposeAsync();
        throw new Xunit.Sdk.XunitException("tern-load sink did not say where it listens");
    }

    /// <summary>Waits until something on 127.0.0.1:<paramref name="port"/> greets with 220; false after <paramref name="timeout"/>.</summary>
    public static async Task<bool> WaitForSmtpAsync(int port, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var tcp = new TcpClient();
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await tcp.ConnectAsync(IPAddress.Loopback, port, cts.Token);
                using var reader = new StreamReader(tcp.GetStream());
                var greeting = await reader.ReadLineAsync(cts.Token);
                if (greeting?.StartsWith("220 ", StringComparison.Ordinal) == true)
                {
                    return true;
                }
            }
            catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
            {
            }

            await Task.Delay(25);
        }

        return false;
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

    [GeneratedRegex(@"listening on 127\.0\.0\.1:(\d+)")]
    private static partial Regex ListeningLine();
}
