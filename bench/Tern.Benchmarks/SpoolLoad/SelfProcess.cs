using System.Diagnostics;

namespace Tern.Benchmarks.SpoolLoad;

/// <summary>
/// Starts this same program again (the apphost, or <c>dotnet Tern.Benchmarks.dll</c>) in a
/// <c>spool-load</c> mode. Children run with the host's GC settings (aot.props: workstation,
/// concurrent, an 8 MiB gen0 budget), so memory and pauses are those of the relay rather than of the
/// loader's defaults.
/// </summary>
internal static class SelfProcess
{
    /// <summary>Set in children: a mode that re-executes itself for the GC settings does not do it twice.</summary>
    public const string ChildVariable = "TERN_SPOOL_LOAD_CHILD";

    public static bool IsChild => Environment.GetEnvironmentVariable(ChildVariable) == "1";

    public static ProcessStartInfo StartInfo(IEnumerable<string> arguments, bool redirect)
    {
        var path = Environment.ProcessPath ?? throw new InvalidOperationException("the process path is unknown");
        var info = new ProcessStartInfo
        {
            FileName = path,
            UseShellExecute = false,
            RedirectStandardOutput = redirect,
            RedirectStandardInput = redirect,
        };
        if (Path.GetFileNameWithoutExtension(path) == "dotnet")
        {
            // Started as `dotnet Tern.Benchmarks.dll`: the child needs the assembly too.
            info.ArgumentList.Add(typeof(SelfProcess).Assembly.Location);
        }

        info.ArgumentList.Add(SpoolLoadCommand.Verb);
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["DOTNET_gcServer"] = "0";
        info.Environment["DOTNET_gcConcurrent"] = "1";
        info.Environment["DOTNET_GCgen0size"] = "800000";
        info.Environment[ChildVariable] = "1";
        return info;
    }

    /// <summary>Runs a child with this console (its output appears as it comes) and returns its exit code.</summary>
    public static int RunInherited(IEnumerable<string> arguments)
    {
        using var child = Process.Start(StartInfo(arguments, redirect: false)) ?? throw new InvalidOperationException("cannot start the child");
        child.WaitForExit();
        return child.ExitCode;
    }

    /// <summary>
    /// Runs a child, echoes its standard output and returns the fields of its first line starting
    /// with <c>CHILD </c> (key=value pairs). Throws when it fails or prints no such line.
    /// </summary>
    public static Dictionary<string, string> RunForResult(IEnumerable<string> arguments, TimeSpan timeout)
    {
        using var child = Process.Start(StartInfo(arguments, redirect: true)) ?? throw new InvalidOperationException("cannot start the child");
        child.StandardInput.Close();
        Dictionary<string, string>? result = null;
        var reader = Task.Run(() =>
        {
            while (child.StandardOutput.ReadLine() is { } line)
            {
                Console.WriteLine("  | " + line);
                if (result is null && line.StartsWith("CHILD ", StringComparison.Ordinal))
                {
                    result = ParseFields(line);
                }
            }
        });
        if (!child.WaitForExit(timeout))
        {
            child.Kill();
            throw new TimeoutException($"the child ({string.Join(' ', arguments)}) did not finish within {timeout}");
        }

        reader.Wait();
        return child.ExitCode == 0 && result is not null
            ? result
            : throw new InvalidOperationException($"the child ({string.Join(' ', arguments)}) failed: exit {child.ExitCode}");
    }

    /// <summary>
    /// Starts a child, waits for its <c>CHILD </c> line, then kills it with SIGKILL (no dispose, no
    /// final commit or checkpoint: a crash) and returns that line's fields.
    /// </summary>
    public static Dictionary<string, string> RunAndKill(IEnumerable<string> arguments, TimeSpan timeout)
    {
        using var child = Process.Start(StartInfo(arguments, redirect: true)) ?? throw new InvalidOperationException("cannot start the child");
        var read = Task.Run(() =>
        {
            while (child.StandardOutput.ReadLine() is { } line)
            {
                Console.WriteLine("  | " + line);
                if (line.StartsWith("CHILD ", StringComparison.Ordinal))
                {
                    return ParseFields(line);
                }
            }

            return null;
        });
        if (!read.Wait(timeout) || read.Result is not { } result)
        {
            child.Kill();
            throw new InvalidOperationException($"the child ({string.Join(' ', arguments)}) printed no result line");
        }

        child.Kill(); // SIGKILL
        child.WaitForExit();
        Console.WriteLine($"  | (killed with SIGKILL, exit {child.ExitCode})");
        return result;
    }

    public static Dictionary<string, string> ParseFields(string line)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                fields[part[..eq]] = part[(eq + 1)..];
            }
        }

        return fields;
    }
}
