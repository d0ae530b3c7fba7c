using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Tern.Tests.Support;

/// <summary>
/// A daemon (knotd, unbound...) run in the foreground by a test on a free loopback port, its output kept
/// for the failure message, killed at the end. Shared by the test projects that need real DNS servers.
/// </summary>
public sealed class LoopbackDaemon : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);
    private readonly Process _process;
    private readonly StringBuilder _log = new();

    private LoopbackDaemon(Process process, IPEndPoint endPoint)
    {
        _process = process;
        EndPoint = endPoint;
    }

    public IPEndPoint EndPoint { get; }

    public bool HasExited => _process.HasExited;

    public string Log
    {
        get
        {
            lock (_log)
                return _log.ToString();
        }
    }

    public static LoopbackDaemon Start(string program, string[] arguments, IPEndPoint endPoint)
    {
        var psi = new ProcessStartInfo(Find(program)) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments)
            psi.ArgumentList.Add(a);
        var process = new Process { StartInfo = psi };
        var daemon = new LoopbackDaemon(process, endPoint);
        process.OutputDataReceived += (_, e) => daemon.Append(e.Data);
        process.ErrorDataReceived += (_, e) => daemon.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return daemon;
    }

    /// <summary>Debian installs knotd, keymgr and unbound under /usr/sbin, not always on a test runner's PATH.</summary>
    public static string Find(string program)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Append("/usr/sbin").Append("/usr/bin"))
        {
            var path = Path.Combine(dir, program);
            if (File.Exists(path))
                return path;
        }
        throw new InvalidOperationException($"{program} is not installed (./build.sh installs the knot and unbound packages)");
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
            return;
        lock (_log)
            _log.AppendLine(line);
    }

    /// <summary>
    /// Starts a daemon on a free port and waits (bounded) until <paramref name="ready"/> says it answers. A daemon
    /// that dies at once (the port was taken after all) is started again on another port.
    /// </summary>
    public static async Task<LoopbackDaemon> StartAsync(string program, Func<int, string[]> arguments, Func<int, Task<bool>> ready)
    {
        var deadline = Stopwatch.StartNew();
        string? lastLog = null;
        for (var start = 0; start < 3; start++)
        {
            var port = TestPorts.Free();
            var daemon = Start(program, arguments(port), new IPEndPoint(IPAddress.Loopback, port));
            while (deadline.Elapsed < StartTimeout && !daemon.HasExited)
            {
                // Answered, and still alive a moment later: a daemon that lost the port to another
                // test's listener: the probe reaches that listener instead, and the daemon exits on its bind error.
                if (await ready(port))
                {
                    await Task.Delay(100);
                    if (!daemon.HasExited)
                        return daemon;
                }

                await Task.Delay(50);
            }
            lastLog = daemon.Log;
            daemon.Dispose();
            if (deadline.Elapsed >= StartTimeout)
                break;
        }
        throw new InvalidOperationException($"{program} did not start within {StartTimeout.TotalSeconds} s:\n{lastLog}");
    }

    public static async Task<string> RunAsync(string program, string[] arguments)
    {
        var psi = new ProcessStartInfo(Find(program)) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments)
            psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed ({process.ExitCode}): {await stderr}");
        return await stdout;
    }

}
