using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Tern.Load.Report;
using Tern.Load.Sink;

namespace Tern.Load.Tests;

/// <summary>A sink started in-process on 127.0.0.1 with a free port, and its ids file.</summary>
internal sealed class TestSink : IAsyncDisposable
{
    private readonly string _dir;

    private TestSink(SinkServer server, RunStats stats, IPEndPoint endPoint, string dir)
    {
        Server = server;
        Stats = stats;
        EndPoint = endPoint;
        _dir = dir;
    }

    public SinkServer Server { get; }

    public RunStats Stats { get; }

    public IPEndPoint EndPoint { get; }

    public string Port => EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public string IdsPath => Path.Combine(_dir, "received.ids");

    public static async Task<TestSink> StartAsync(Func<SinkOptions, SinkOptions>? configure = null)
    {
        var dir = Directory.CreateTempSubdirectory("tern-load-sink-").FullName;
        var options = new SinkOptions { Listen = new IPEndPoint(IPAddress.Loopback, 0), IdsPath = Path.Combine(dir, "received.ids") };
        options = configure?.Invoke(options) ?? options;
        var stats = new RunStats();
        var server = new SinkServer(options, stats);
        var endPoint = await server.StartAsync();
        return new TestSink(server, stats, endPoint, dir);
    }

    /// <summary>Stops the sink (flushing the ids file) and returns the ids it wrote (the first column).</summary>
    public async Task<string[]> StopAndReadIdsAsync() => [.. (await StopAndReadLinesAsync()).Select(l => l.Split('\t')[0])];

    /// <summary>Stops the sink and returns its ids file's lines (id, TAB, body digest).</summary>
    public async Task<string[]> StopAndReadLinesAsync()
    {
        await Server.DisposeAsync();
        return await File.ReadAllLinesAsync(IdsPath);
    }

    /// <summary>Waits until <paramref name="condition"/> holds (the sink counts after its reply is written).</summary>
    public static async Task WaitForAsync(Func<bool> condition, TimeSpan? timeout = null)
    {
        var until = Stopwatch.GetTimestamp() + (long)((timeout ?? TimeSpan.FromSeconds(5)).TotalSeconds * Stopwatch.Frequency);
        while (!condition() && Stopwatch.GetTimestamp() < until)
        {
            await Task.Delay(10);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A bare SMTP client for exact protocol checks: sends raw text, reads whole replies, sees closes.</summary>
internal sealed class RawSmtp : IAsyncDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);
    private readonly TcpClient _client;
    private readonly NetworkStream _stream;
    private readonly byte[] _buffer = new byte[8192];
    private readonly StringBuilder _pending = new();

    private RawSmtp(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
    }

    public static async Task<RawSmtp> ConnectAsync(IPEndPoint endPoint)
    {
        var client = new TcpClient { NoDelay = true };
        await client.ConnectAsync(endPoint);
        return new RawSmtp(client);
    }

    public async Task SendAsync(string text)
    {
        var bytes = Encoding.ASCII.GetBytes(text);
        await _stream.WriteAsync(bytes);
    }

    /// <summary>One whole reply (all its lines), or null when the server closed first.</summary>
    public async Task<string?> ReadReplyAsync()
    {
        while (true)
        {
            var text = _pending.ToString();
            var start = 0;
            while (true)
            {
                var end = text.IndexOf("\r\n", start, StringComparison.Ordinal);
                if (end < 0)
                {
                    break;
                }

                if ((end - start >= 4 && text[start + 3] == ' ') || end - start == 3)
                {
                    _pending.Remove(0, end + 2);
                    return text[..(end + 2)];
                }

                start = end + 2;
            }

            using var cancel = new CancellationTokenSource(Timeout);
            var n = await _stream.ReadAsync(_buffer, cancel.Token);
            if (n == 0)
            {
                return null;
            }

            _pending.Append(Encoding.ASCII.GetString(_buffer, 0, n));
        }
    }

    /// <summary>Sends <paramref name="command"/> and returns its reply.</summary>
    public async Task<string?> CommandAsync(string command)
    {
        await SendAsync(command + "\r\n");
        return await ReadReplyAsync();
    }

    /// <summary>True when the server closed the connection (a read ends with 0 bytes or a reset).</summary>
    /// <summary>The connection's stream (for a TLS handshake after STARTTLS).</summary>
    public NetworkStream Stream => _stream;

    public async Task<bool> IsClosedAsync()
    {
        try
        {
            using var cancel = new CancellationTokenSource(Timeout);
            return await _stream.ReadAsync(_buffer, cancel.Token) == 0;
        }
        catch (IOException)
        {
            return true;
        }
    }

    public ValueTask DisposeAsync()
    {
        _client.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>Runs a real peer (swaks, python3, smtp-source) with a bounded wait.</summary>
internal static class Peer
{
    public static async Task<(int Code, string Output)> RunAsync(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + file);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await p.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw;
        }

        return (p.ExitCode, await stdout + await stderr);
    }
}
