using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace Tern.EndToEnd.Tests;

/// <summary>
/// Disk full (issue #10): the published binary with its data directory on a small tmpfs, a filler
/// file leaving little room, and tern-load sending until Tern answers 452 4.3.1 at MAIL (the
/// [spool] min_free reserve). Every message that got 250 is kept (and, with delivery, arrives at
/// the sink), Tern stays up and says why in its log, accepts again by itself once the filler is
/// gone, and after a restart everything acknowledged is still queued.
/// </summary>
public sealed partial class DiskFullTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>Free space the filler leaves: about 7 MiB above the reserve (16 MiB asked below, raised by the spool to 21 MiB, one index checkpoint with index_memory 1 MiB), so about a hundred 64 KiB messages fit.</summary>
    private const int LeaveMiB = 28;

    private const string MinFree = "16MiB";

    [Fact]
    public async Task Acceptance_stops_with_452_at_min_free_keeps_every_acknowledged_message_and_resumes()
    {
        var started = Stopwatch.StartNew();
        using var dir = new TempDir();
        await using var disk = await SmallDisk.MountAsync(Path.Combine(dir.Path, "disk"));
        var http = TestPorts.Free();
        var smtp = TestPorts.Free();
        var config = dir.File("tern.toml", $"""
            data_dir = "{disk.Path}/data"
            [http]
            listen = "127.0.0.1:{http}"
            [listeners.relay]
            kind = "relay"
            address = "127.0.0.1:{smtp}"
            [delivery]
            enabled = false
            [spool]
            min_free = "{MinFree}"
            # Checkpoints every second (they must keep working, or be postponed, on the full disk).
            checkpoint_interval = "1s"
            index_memory = "1MiB"
            # Stored as sent (tern-load's bodies compress a lot): 64 KiB a message on the disk.
            compress_above = "1GiB"
            """);

        var relay = new IPEndPoint(IPAddress.Loopback, smtp);
        var acknowledged = new List<string>();
        await using (var tern = disk.Start(dir.Path, "serve", "-c", config))
        {
            await tern.ListenerAsync("relay");
            Assert.StartsWith("250", await MailReplyAsync(relay), StringComparison.Ordinal);
            await disk.FillAsync(LeaveMiB);

            // Far more than fits: the rest is refused.
            var sent = Path.Combine(dir.Path, "sent.ids");
            var send = await SendAsync(dir.Path, relay, sent, messages: 1500);
            acknowledged.AddRange(QueueIds(sent));
            output.WriteLine($"{acknowledged.Count} acknowledged before the disk reached min_free; {started.Elapsed.TotalSeconds:F1} s");
            Assert.True(acknowledged.Count >= 20, $"only {acknowledged.Count} messages were acknowledged:\n{send}");
            Assert.True(acknowledged.Count < 1500, "the disk never reached min_free:\n" + send);

            // Refused at MAIL, with the reason in the log (once per transition) and in /readyz and /metrics.
            Assert.Equal("452 4.3.1 Insufficient system storage, try again later", await MailReplyAsync(relay));
            Assert.False(tern.HasExited);
            Assert.Single(BelowReserveLine().Matches(tern.Stderr));
            var (ready, readyBody) = await GetAsync(http, "/readyz");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready);
            Assert.Contains("below min_free", readyBody, StringComparison.Ordinal);
            var (_, metrics) = await GetAsync(http, "/metrics");
            Assert.Matches(@"tern_spool_refusals_total\{reason=""min_free""\} [1-9]", metrics);
            Assert.Matches(@"tern_spool_free_bytes \d", metrics);

            // Nothing acknowledged is missing, nothing refused is queued.
            AssertQueuedExactly(acknowledged, await disk.QueuedAsync(dir.Path, config));

            // The filler goes: acceptance resumes by itself (the free space is read once a second).
            await disk.RunAsync("rm", "-f", Path.Combine(disk.Path, "filler"));
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (!(await MailReplyAsync(relay)).StartsWith("250", StringComparison.Ordinal))
            {
                Assert.True(DateTime.UtcNow < deadline, "Tern did not accept mail again after space was freed:\n" + tern.Stderr);
                await Task.Delay(200);
            }

            await tern.WaitForLogAsync(new Regex("m=\"spool disk space back above min_free"));
            var more = Path.Combine(dir.Path, "more.ids");
            await SendAsync(dir.Path, relay, more, messages: 20);
            var after = QueueIds(more).ToList();
            Assert.Equal(20, after.Count);
            acknowledged.AddRange(after);
            Assert.Equal(HttpStatusCode.OK, (await GetAsync(http, "/readyz")).Status);

            // A clean stop on this disk finishes (a checkpoint on a full disk used to hang the close).
            tern.Signal(TernProcess.SIGTERM);
            Assert.Equal(0, await tern.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        }

        await AssertQueuedAfterRestartAsync(disk, dir, config, acknowledged);

        output.WriteLine($"{acknowledged.Count} acknowledged, all queued after the restart; {started.Elapsed.TotalSeconds:F1} s");
    }

    [Fact]
    public async Task Without_a_reserve_a_full_disk_fails_commits_with_452_loses_nothing_and_recovers()
    {
        // min_free = "0": the disk really fills, FASTER's writes fail with ENOSPC, the failed log is
        // reopened every 2 s; the messages of a failed commit get 452 after DATA (none got 250).
        using var dir = new TempDir();
        await using var disk = await SmallDisk.MountAsync(Path.Combine(dir.Path, "disk"));
        var http = TestPorts.Free();
        var smtp = TestPorts.Free();
        var config = dir.File("tern.toml", $$"""
            data_dir = "{{disk.Path}}/data"
            [http]
            listen = "127.0.0.1:{{http}}"
            [listeners.relay]
            kind = "relay"
            address = "127.0.0.1:{{smtp}}"
            [delivery]
            enabled = false
            [spool]
            min_free = "0"
            checkpoint_interval = "1s"
            index_memory = "1MiB"
            compress_above = "1GiB"
            """);

        var relay = new IPEndPoint(IPAddress.Loopback, smtp);
        var acknowledged = new List<string>();
        await using (var tern = disk.Start(dir.Path, "serve", "-c", config))
        {
            await tern.ListenerAsync("relay");
            await disk.FillAsync(12);
            var sent = Path.Combine(dir.Path, "sent.ids");
            var send = await SendAsync(dir.Path, relay, sent, messages: 1500, duration: "6s");
            acknowledged.AddRange(QueueIds(sent));
            output.WriteLine($"{acknowledged.Count} acknowledged before the disk was full");
            Assert.True(acknowledged.Count is >= 20 and < 1500, $"{acknowledged.Count} acknowledged; the disk should have filled:\n{send}");
            Assert.False(tern.HasExited);
            var (_, metrics) = await GetAsync(http, "/metrics");
            Assert.Matches(@"tern_spool_refusals_total\{reason=""commit_failed""\} [1-9]", metrics);
            Assert.Contains("m=\"commit failed\"", tern.Stderr, StringComparison.Ordinal);
            AssertQueuedExactly(acknowledged, await disk.QueuedAsync(dir.Path, config));

            // Space back: the spool's log is reopened and mail is accepted again, without a restart.
            await disk.RunAsync("rm", "-f", Path.Combine(disk.Path, "filler"));
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while (true)
            {
                var more = Path.Combine(dir.Path, $"more{DateTime.UtcNow.Ticks}.ids");
                await SendAsync(dir.Path, relay, more, messages: 5, duration: "10s");
                var after = QueueIds(more).ToList();
                acknowledged.AddRange(after);
                if (after.Count == 5)
                {
                    break;
                }

                Assert.True(DateTime.UtcNow < deadline, "Tern did not accept mail again after space was freed:\n" + tern.Stderr);
                await Task.Delay(500);
            }

            tern.Signal(TernProcess.SIGTERM);
            Assert.Equal(0, await tern.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        }

        await AssertQueuedAfterRestartAsync(disk, dir, config, acknowledged);
    }

    [Fact]
    public async Task Delivery_goes_on_below_min_free_and_every_acknowledged_message_reaches_the_sink()
    {
        using var dir = new TempDir();
        await using var disk = await SmallDisk.MountAsync(Path.Combine(dir.Path, "disk"));
        var received = Path.Combine(dir.Path, "received.ids");
        var (sink, sinkPort) = await LoadSink.StartAsync(dir.Path, "--ids", received);
        await using var sinkProcess = sink;
        var http = TestPorts.Free();
        var smtp = TestPorts.Free();
        var config = dir.File("tern.toml", $"""
            data_dir = "{disk.Path}/data"
            [http]
            listen = "127.0.0.1:{http}"
            {ConfigToml.LoopbackRelay(smtp)}
            {ConfigToml.SmtpRoute("sink", sinkPort, "example.test")}
            [spool]
            min_free = "{MinFree}"
            checkpoint_interval = "1s"
            index_memory = "1MiB"
            # Stored as sent (tern-load's bodies compress a lot): 64 KiB a message on the disk.
            compress_above = "1GiB"
            [shutdown]
            grace = "2s"
            """);

        var relay = new IPEndPoint(IPAddress.Loopback, smtp);
        await using var tern = disk.Start(dir.Path, "serve", "-c", config);
        await tern.ListenerAsync("relay");
        await disk.FillAsync(LeaveMiB);
        var sent = Path.Combine(dir.Path, "sent.ids");
        var send = await SendAsync(dir.Path, relay, sent, messages: 1500);
        var acknowledged = File.ReadLines(sent).Count();
        output.WriteLine($"{acknowledged} acknowledged");
        Assert.True(acknowledged is >= 20 and < 1500, $"{acknowledged} acknowledged; the disk should have reached min_free:\n{send}");
        Assert.Single(BelowReserveLine().Matches(tern.Stderr));

        // Delivery writes its records into the reserve: every acknowledged message arrives.
        await SchedulingTests.WaitFor(() => File.Exists(received) && File.ReadLines(received).Count() >= acknowledged, $"the sink has all {acknowledged} messages", tern, seconds: 30);
        await LoadSink.StopAsync(sink);
        var check = await TernProcess.RunProgramAsync(TernProcess.LoadBinary, dir.Path, TimeSpan.FromSeconds(30), "check", "--sent", sent, "--received", received);
        Assert.True(check.Code == 0, check.Stdout + check.Stderr);
        Assert.Matches(@"lost\D+0\b", check.Stdout);
        Assert.DoesNotContain("panic", tern.Stderr, StringComparison.OrdinalIgnoreCase);
        tern.Signal(TernProcess.SIGTERM);
        Assert.Equal(0, await tern.WaitForExitAsync(TimeSpan.FromSeconds(20)));
    }

    /// <summary>Every acknowledged message is queued (none lost) and nothing else is (a message refused with 452 is not kept).</summary>
    private static void AssertQueuedExactly(IReadOnlyCollection<string> acknowledged, IReadOnlyCollection<string> queued)
    {
        var missing = acknowledged.Except(queued).ToList();
        var extra = queued.Except(acknowledged).ToList();
        Assert.True(missing.Count == 0 && extra.Count == 0 && queued.Count == acknowledged.Count,
            $"{acknowledged.Count} acknowledged, {queued.Count} queued; lost: {missing.Count} ({string.Join(", ", missing.Take(5))}); queued though refused: {extra.Count} ({string.Join(", ", extra.Take(5))})");
    }

    /// <summary>Tern started again on the disk: everything acknowledged is still queued, and nothing else; then a clean stop.</summary>
    private static async Task AssertQueuedAfterRestartAsync(SmallDisk disk, TempDir dir, string config, IReadOnlyCollection<string> acknowledged)
    {
        await using var again = disk.Start(dir.Path, "serve", "-c", config);
        await again.ListenerAsync("relay");
        AssertQueuedExactly(acknowledged, await disk.QueuedAsync(dir.Path, config));
        again.Signal(TernProcess.SIGTERM);
        Assert.Equal(0, await again.WaitForExitAsync(TimeSpan.FromSeconds(20)));
    }

    /// <summary>tern-load: 64 KiB messages on 4 connections, the ids of the accepted ones in <paramref name="ids"/>.</summary>
    private static async Task<string> SendAsync(string workingDirectory, IPEndPoint relay, string ids, int messages, string duration = "25s")
    {
        var send = await TernProcess.RunProgramAsync(TernProcess.LoadBinary, workingDirectory, TimeSpan.FromSeconds(60),
            "send", "--target", relay.ToString(), "--sessions", "4", "--messages", messages.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--size", "64k", "--rcpt-domains", "example.test", "--duration", duration, "--ids", ids);
        Assert.True(send.Code == 0, send.Stdout + send.Stderr);
        return send.Stdout;
    }

    /// <summary>The queue ids in the 250 replies recorded by tern-load (ID&lt;TAB&gt;REPLY per accepted message).</summary>
    private static IEnumerable<string> QueueIds(string ids) =>
        File.Exists(ids) ? File.ReadLines(ids).Select(l => QueueIdInReply().Match(l)).Where(m => m.Success).Select(m => m.Groups[1].Value) : [];

    /// <summary>EHLO and MAIL FROM on a fresh connection: the reply to MAIL (then QUIT).</summary>
    private static async Task<string> MailReplyAsync(IPEndPoint server)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(server);
        using var stream = client.GetStream();
        using var reader = new StreamReader(stream, Encoding.ASCII);
        await ReadReplyAsync(reader);
        await stream.WriteAsync("EHLO probe.test\r\n"u8.ToArray());
        await ReadReplyAsync(reader);
        await stream.WriteAsync("MAIL FROM:<probe@example.org>\r\n"u8.ToArray());
        var reply = await ReadReplyAsync(reader);
        await stream.WriteAsync("QUIT\r\n"u8.ToArray());
        return reply;
    }

    private static async Task<string> ReadReplyAsync(StreamReader reader)
    {
        while (true)
        {
            var line = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)) ?? throw new IOException("connection closed");
            if (line.Length < 4 || line[3] != '-')
            {
                return line;
            }
        }
    }

    private static async Task<(HttpStatusCode Status, string Body)> GetAsync(int port, string path)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}{path}"));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [GeneratedRegex(@"id=([0-9A-Z]{26})")]
    private static partial Regex QueueIdInReply();

    [GeneratedRegex("m=\"spool disk space below min_free")]
    private static partial Regex BelowReserveLine();

    [GeneratedRegex(@"""id"":""([0-9A-Z]{26})""")]
    private static partial Regex QueuedId();

    /// <summary>
    /// A 64 MiB tmpfs in a mount namespace of its own, held by a sleeping process: as root with
    /// `unshare -m`, as any other user with `unshare -rm` (a user namespace may mount a tmpfs). Tern
    /// and the commands on the disk run in that namespace through nsenter; the mount disappears with
    /// the namespace when the holder is killed, whatever the test's outcome.
    /// </summary>
    private sealed class SmallDisk : IAsyncDisposable
    {
        private readonly Process _holder;
        private readonly bool _root;

        private SmallDisk(Process holder, string path, bool root)
        {
            _holder = holder;
            Path = path;
            _root = root;
        }

        public string Path { get; }

        public static async Task<SmallDisk> MountAsync(string path)
        {
            Directory.CreateDirectory(path);
            var root = GetEuid() == 0;
            var psi = new ProcessStartInfo("unshare") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in (string[])[root ? "-m" : "-rm", "--propagation", "private", "sh", "-c", "mount -t tmpfs -o size=64m tmpfs \"$1\" && echo mounted && exec sleep 300", "sh", path])
            {
                psi.ArgumentList.Add(a);
            }

            var holder = Process.Start(psi) ?? throw new InvalidOperationException("cannot start unshare");
            var line = await holder.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));
            if (line != "mounted")
            {
                var error = await holder.StandardError.ReadToEndAsync();
                holder.Dispose();
                throw new InvalidOperationException($"cannot mount a tmpfs at {path} in a mount namespace (unshare {(root ? "-m" : "-rm")}): {error}");
            }

            return new SmallDisk(holder, path, root);
        }

        private string[] Enter => _root
            ? ["-t", _holder.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "-m", "--"]
            : ["-t", _holder.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", "-m", "--preserve-credentials", "--"];

        /// <summary>Tern in the namespace (nsenter execs it: the process is Tern itself).</summary>
        public TernProcess Start(string workingDirectory, params string[] args) =>
            TernProcess.StartProgram("nsenter", workingDirectory, [.. Enter, TernProcess.Binary, .. args]);

        public async Task<string> RunAsync(params string[] command)
        {
            var (code, stdout, stderr) = await TernProcess.RunProgramAsync("nsenter", Path, TimeSpan.FromSeconds(30), [.. Enter, .. command]);
            Assert.True(code == 0, $"{string.Join(' ', command)}: exit {code}\n{stdout}{stderr}");
            return stdout;
        }

        /// <summary>
        /// A filler file taking all but <paramref name="leaveMiB"/> MiB, then a pause: Tern reads the free
        /// space at most once a second (and counts its own writes in between), so space taken by
        /// another process is seen within a second.
        /// </summary>
        public async Task FillAsync(int leaveMiB)
        {
            await RunAsync("sh", "-c", $"avail=$(df -k --output=avail \"$1\" | tail -1); fallocate -l $(( (avail - {leaveMiB} * 1024) * 1024 )) \"$1/filler\"", "sh", Path);
            await Task.Delay(1200);
        }

        /// <summary>The ids in the running Tern's queue (tern queue list through its control socket).</summary>
        public async Task<IReadOnlyList<string>> QueuedAsync(string workingDirectory, string config)
        {
            var (code, stdout, stderr) = await TernProcess.RunProgramAsync("nsenter", workingDirectory, TimeSpan.FromSeconds(30),
                [.. Enter, TernProcess.Binary, "queue", "list", "-c", config, "--json", "--limit", "100000"]);
            Assert.True(code == 0, stdout + stderr);
            return [.. QueuedId().Matches(stdout).Select(m => m.Groups[1].Value)];
        }

        public async ValueTask DisposeAsync()
        {
            if (!_holder.HasExited)
            {
                _holder.Kill();
                await _holder.WaitForExitAsync();
            }

            _holder.Dispose();
        }
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEuid();
}
