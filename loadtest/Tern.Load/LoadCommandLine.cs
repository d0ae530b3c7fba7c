using System.CommandLine;
using System.Runtime.InteropServices;
using Tern.Load.Check;
using Tern.Load.Http;
using Tern.Load.Send;
using Tern.Load.Sink;

namespace Tern.Load;

/// <summary>The command tree: <c>tern-load send|sink|http|check</c>.</summary>
public static class LoadCommandLine
{
    public static RootCommand Build(TextWriter stdout, TextWriter stderr) =>
        new("tern-load: Tern's load-test harness. Drives SMTP or the injection API at a server, sinks mail with fault injection, and checks a run for loss.")
        {
            SendCommand.Build(stdout, stderr),
            SinkCommand.Build(stdout, stderr),
            HttpCommand.Build(stdout, stderr),
            CheckCommand.Build(stdout, stderr),
        };

    /// <summary>Parses and runs; command-line errors print with usage and exit with 2.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancel = default)
    {
        var parsed = Build(stdout, stderr).Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors)
            {
                await stderr.WriteLineAsync("tern-load: " + error.Message);
            }

            await stderr.WriteLineAsync("Run 'tern-load --help' for usage.");
            return 2;
        }

        // Ctrl-C and SIGTERM end a run early but in order: the command sees its token cancelled, stops
        // starting messages, prints its summary and writes its reports. (The runtime's default action
        // would kill the process at once; System.CommandLine's own handler is off so that this one
        // applies to every command the same way.)
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context => OnStopSignal(context, stop));
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => OnStopSignal(context, stop));
        return await parsed.InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr, ProcessTerminationTimeout = null }, stop.Token);
    }

    private static void OnStopSignal(PosixSignalContext context, CancellationTokenSource stop)
    {
        context.Cancel = true;
        try
        {
            stop.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The run is already over.
        }
    }
}
