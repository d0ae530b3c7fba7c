using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Tern.Cli;
using Tern.Control;
using Tern.Observability.Metrics;
using Tern.Spool;
using Tern.Suppression;
using Tern.Tests.Cli;

namespace Tern.Tests.Control;

/// <summary>
/// A temporary data directory with a configuration naming it, a real spool, optionally a real
/// suppression list, and a control server on a real unix socket; the command line is run against it
/// in-process as an operator types it, so exit codes and output are checked directly.
/// </summary>
public abstract class ControlFixture : IAsyncLifetime
{
    private readonly bool _withSuppression;

    protected ControlFixture(string prefix, bool withSuppression = false)
    {
        _withSuppression = withSuppression;
        Dir = Directory.CreateTempSubdirectory(prefix).FullName;
        ConfigPath = Path.Combine(Dir, "tern.toml");
        DataDir = Path.Combine(Dir, "data");
        File.WriteAllText(ConfigPath, "data_dir = \"data\"\n");
    }

    protected string Dir { get; }

    protected string ConfigPath { get; }

    protected string DataDir { get; }

    protected string SocketPath => Path.Combine(DataDir, "control.sock");

    protected global::Tern.Spool.Spool Spool { get; private set; } = null!;

    /// <summary>The suppression list the server serves (null unless the fixture was made with one).</summary>
    protected SuppressionList? Suppression { get; private set; }

    private protected ControlServer Server { get; set; } = null!;

    public Task InitializeAsync()
    {
        Directory.CreateDirectory(DataDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Spool = global::Tern.Spool.Spool.Open(
            new SpoolOptions { Directory = Path.Combine(DataDir, "spool"), PageSizeBits = 20, MemorySizeBits = 23, SegmentSizeBits = 24 },
            NullLoggerFactory.Instance,
            NullMetrics.Instance);
        Suppression = _withSuppression ? SuppressionList.Open(SuppressionList.PathIn(DataDir)) : null;
        Server = NewServer(SocketPath, Suppression);
        Server.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        Suppression?.Dispose();
        await Spool.DisposeAsync();
        Directory.Delete(Dir, true);
        GC.SuppressFinalize(this);
    }

    /// <summary>
    /// A control server (not started) on <paramref name="socketPath"/> for this fixture's spool; a
    /// request must arrive within 3 seconds: the tests of slow clients stay short, and a loaded machine does not cut an ordinary request.
    /// </summary>
    private protected ControlServer NewServer(string socketPath, SuppressionList? suppression = null) =>
        new(socketPath, Spool.Queue, NullLoggerFactory.Instance, NullMetrics.Instance, suppression: suppression) { RequestTimeout = TimeSpan.FromSeconds(3) };

    /// <summary>Stops the server and starts another on the same socket, without a suppression list.</summary>
    protected async Task RestartServerWithoutSuppressionAsync()
    {
        await Server.DisposeAsync();
        Server = NewServer(SocketPath);
        Server.Start();
    }

    /// <summary>Runs <c>tern</c> with <paramref name="args"/> and this fixture's configuration.</summary>
    protected Task<(int Code, string Out, string Err)> Tern(params string[] args) => InProcessTern.RunAsync([.. args, "-c", ConfigPath]);

    /// <summary>Runs <c>tern</c>, asserts it exits 0 and returns its standard output.</summary>
    protected async Task<string> Ok(params string[] args)
    {
        var (code, output, error) = await Tern(args);
        Assert.True(code == ExitCodes.Ok, $"tern {string.Join(' ', args)}: exit {code}\n{output}{error}");
        return output;
    }

    /// <summary>Runs <c>tern</c>, asserts it exits <paramref name="expected"/> and returns its standard error.</summary>
    protected async Task<string> Fails(int expected, params string[] args)
    {
        var (code, output, error) = await Tern(args);
        Assert.True(code == expected, $"tern {string.Join(' ', args)}: exit {code}, expected {expected}\n{output}{error}");
        return error;
    }

    /// <summary>
    /// Runs a command line as <c>tern</c> printed it (a "next page" line: its <c>--config</c> is in
    /// it), asserts it exits 0 and returns its standard output.
    /// </summary>
    protected static async Task<string> OkAsPrinted(string commandLine)
    {
        Assert.StartsWith("tern ", commandLine, StringComparison.Ordinal);
        var (code, output, error) = await InProcessTern.RunAsync(commandLine["tern ".Length..].Split(' '));
        Assert.True(code == ExitCodes.Ok, $"{commandLine}: exit {code}\n{output}{error}");
        return output;
    }

    /// <summary>Runs <c>tern</c> and asserts a usage error (exit 2) that says <paramref name="message"/>.</summary>
    protected async Task Usage(string message, params string[] args) =>
        Assert.Contains(message, await Fails(ExitCodes.Usage, args), StringComparison.Ordinal);

    /// <summary>One raw exchange on the socket: a request line out, the answer line in.</summary>
    private protected Task<ControlResponse> Raw(string json) => Raw(Encoding.UTF8.GetBytes(json + "\n"));

    /// <summary>One raw exchange on the socket: bytes out, the answer line in.</summary>
    private protected async Task<ControlResponse> Raw(byte[] request)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath));
        await using var stream = new NetworkStream(socket);
        try
        {
            // Written, then half-closed as socat does: the end of the request without a newline.
            await stream.WriteAsync(request);
            socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is IOException or SocketException)
        {
            // The server may answer a too-large request before reading all of it.
        }

        using var reader = new StreamReader(stream, Encoding.UTF8);
        var line = await reader.ReadLineAsync();
        Assert.NotNull(line);
        try
        {
            // One answer, then the server closes.
            Assert.Null(await reader.ReadLineAsync());
        }
        catch (IOException)
        {
            // ECONNRESET: the server closed with part of an oversized request unread.
        }

        return ControlJson.DecodeResponse(Encoding.UTF8.GetBytes(line));
    }
}
