using Tern.Cli;

namespace Tern.Tests.Cli;

/// <summary>The command line run in-process as an operator types it, its exit code and output kept for the test.</summary>
internal static class InProcessTern
{
    public static async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await TernCommandLine.RunAsync(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
