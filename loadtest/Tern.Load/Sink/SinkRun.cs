using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Tern.Load.Report;

namespace Tern.Load.Sink;

/// <summary>One sink run: listen, report progress, stop on a limit or a signal, print the summary.</summary>
internal static class SinkRun
{
    private static readonly TimeSpan LimitGrace = TimeSpan.FromSeconds(1);

    /// <summary>
    /// .NET runs socket completions on thread-pool threads by default; run inline on the epoll thread
    /// they skip a thread hop per read and write. The sink's work per completion is short and never
    /// blocks: with smtp-source (no pipelining, a round trip per command) the sink's CPU time for
    /// 50,000 messages fell from 3.9-5.1 s to 2.7-3.2 s on two cores. The runtime reads the variable once,
    /// before the first socket operation, so it only takes effect when the sink is the process's
    /// first socket user (the command line); a value set by the user is left alone.
    /// </summary>
    private const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    public static async Task<int> RunAsync(SinkOptions options, string? jsonPath, string? htmlPath, bool alloc, TextWriter stdout, TextWriter stderr, CancellationToken cancel)
    {
        if (Environment.GetEnvironmentVariable(InlineCompletions) is null)
        {
            Environment.SetEnvironmentVariable(InlineCompletions, "1");
        }

        var stats = new RunStats();
        await using var server = new SinkServer(options, stats);
        IPEndPoint bound;
        try
        {
            bound = await server.StartAsync();
        }
        catch (Exception e) when (e is SocketException or IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            await stderr.WriteLineAsync($"tern-load: cannot start the sink on {options.Listen}: {e.Message}");
            return 2;
        }

        await stdout.WriteLineAsync($"listening on {bound}");
        await stdout.FlushAsync(CancellationToken.None);
        var allocatedBefore = alloc ? GC.GetTotalAllocatedBytes(precise: true) : 0;
        stats.Start();
        var interactive = ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected;
        var reporter = RunReporter.Start(stats, new ReportOptions("sink", bound.ToString(), options.Describe(), jsonPath, htmlPath, interactive, TimeSpan.FromSeconds(1)), stdout);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        if (options.Duration is { } runFor)
        {
            stop.CancelAfter(runFor);
        }

        var first = await Task.WhenAny(server.Stopped, Task.Delay(Timeout.InfiniteTimeSpan, stop.Token));

        // At the --messages limit the senders get a moment to QUIT; a signal or --duration closes at once.
        await server.StopAsync(first == server.Stopped ? LimitGrace : TimeSpan.Zero);
        var allocated = alloc ? GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore : 0;
        var code = await reporter.FinishAsync();
        if (alloc)
        {
            var accepted = Math.Max(1, server.AcceptedMessages);
            await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"allocated: {allocated} bytes in the run, {allocated / (double)accepted:0.0} bytes per accepted message ({server.AcceptedMessages} messages)"));
        }

        return code;
    }
}
