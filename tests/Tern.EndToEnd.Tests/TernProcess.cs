using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace Tern.EndToEnd.Tests;

/// <summary>Runs the published binary: one-shot commands, or a server whose stderr log is followed.</summary>
internal sealed partial class TernProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stderr = new();
    private readonly StringBuilder _stdout = new();
    private readonly Lock _lock = new();

    private TernProcess(Process process)
    {
        _process = process;
    }

    /// <summary>The binary under test: $TERN_BINARY, else out/tern at the repository root.</summary>
    public static string Binary { get; } = Environment.GetEnvironmentVariable("TERN_BINARY") is { Length: > 0 } b ? b : FindRepoBinary();

    /// <summary>The load-test harness: $TERN_LOAD_BINARY, else out/tern-load at the repository root.</summary>
    public static string LoadBinary { get; } = Environment.GetEnvironmentVariable("TERN_LOAD_BINARY") is { Length: > 0 } b ? b : Path.Combine(Path.GetDirectoryName(FindRepoBinary()) ?? ".", "tern-load");

    public int Pid => _process.Id;

    public string Stderr
    {
        get
        {
            lock (_lock)
            {
                return _stderr.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public static Task<(int Code, string Stdout, string Stderr)> RunAsync(string workingDirectory, params string[] args) =>
        RunProgramAsync(Binary, workingDirectory, TimeSpan.FromSeconds(30), args);

    /// <summary>Runs <paramref name="binary"/> to its end (at most <paramref name="timeout"/>).</summary>
    public static async Task<(int Code, string Stdout, string Stderr)> RunProgramAsync(string binary, string workingDirectory, TimeSpan timeout, params string[] args)
    {
        await using var p = StartProgram(binary, workingDirectory, args);
        var code = await p.WaitForExitAsync(timeout);
        return (code, p.StdoutText, p.Stderr);
    }

    public string StdoutText
    {
        get
        {
            lock (_lock)
            {
                return _stdout.ToString();
            }
        }
    }

    public static TernProcess Start(string workingDirectory, params string[] args) => StartProgram(Binary, workingDirectory, args);

    /// <summary>
    /// A server started without [http] listens on the fixed default port (9464), which the tests running side
    /// by side would share: all but one would stop at start with "Address already in use" (seen in CI). So every
    /// test's configuration sets its own port (TestPorts.Free()).
    /// </summary>
    private static void RequireOwnHttpPort(string workingDirectory, string[] args)
    {
        if (args.Length == 0 || args[0] != "serve")
        {
            return;
        }

        var c = Array.FindIndex(args, a => a is "-c" or "--config");
        if (c < 0 || c + 1 >= args.Length)
        {
            return; // the embedded default, on its fixed ports: BinaryTests has the one test that runs it
        }

        var path = Path.Combine(workingDirectory, args[c + 1]);
        if (File.Exists(path) && !HttpListen().IsMatch(File.ReadAllText(path)))
        {
            throw new InvalidOperationException($"{path} has no [http] listen: set listen = \"127.0.0.1:{{TestPorts.Free()}}\" (the default port is shared by the tests running side by side)");
        }
    }

    [GeneratedRegex(@"^\[http\][^\[]*^\s*listen\s*=", RegexOptions.Multiline)]
    private static partial Regex HttpListen();

    /// <summary>Starts <paramref name="binary"/> (tern or tern-load) with its output followed.</summary>
    public static TernProcess StartProgram(string binary, string workingDirectory, params string[] args)
    {
        if (binary == Binary)
        {
            RequireOwnHttpPort(workingDirectory, args);
        }

        var psi = new ProcessStartInfo(binary)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        var p = new TernProcess(Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + binary));
        p._process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (p._lock)
                {
                    p._stderr.Append(e.Data).Append('\n');
                }
            }
        };
        p._process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (p._lock)
                {
                    p._stdout.Append(e.Data).Append('\n');
                }
            }
        };
        p._process.BeginErrorReadLine();
        p._process.BeginOutputReadLine();
        return p;
    }

    /// <summary>Waits until a log line matches; fails with the log so far if it does not come.</summary>
    public async Task<Match> WaitForLogAsync(Regex pattern, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (DateTime.UtcNow < deadline)
        {
            var m = pattern.Match(Stderr);
            if (m.Success)
            {
                return m;
            }

            if (_process.HasExited)
            {
                // Drain the asynchronous readers, then look once more.
                _process.WaitForExit();
                m = pattern.Match(Stderr);
                if (m.Success)
                {
                    return m;
                }

                break;
            }

            await Task.Delay(20);
        }

        throw new Xunit.Sdk.XunitException($"log line /{pattern}/ not seen; exited={_process.HasExited}; log:\n{Stderr}");
    }

    /// <summary>The address a listener bound (from its "listening" log line).</summary>
    public async Task<IPEndPoint> ListenerAsync(string name)
    {
        var m = await WaitForLogAsync(new Regex($"m=listening c=smtp listener={Regex.Escape(name)} kind=\\w+ address=(\\S+)"));
        return IPEndPoint.Parse(m.Groups[1].Value);
    }

    public void Signal(int signal)
    {
        if (Kill(_process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed: {Marshal.GetLastPInvokeError()}");
        }
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new Xunit.Sdk.XunitException($"{_process.StartInfo.FileName} did not exit within {timeout}; stdout:\n{StdoutText}\nstderr:\n{Stderr}");
        }

        // Let the asynchronous readers drain.
        _process.WaitForExit();
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    public const int SIGHUP = 1;
    public const int SIGINT = 2;
    public const int SIGTERM = 15;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    private static string FindRepoBinary()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "build.sh")))
        {
            dir = dir.Parent;
        }

        return dir is null ? "tern" : Path.Combine(dir.FullName, "out", "tern");
    }
}
