using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Tern.Observability.Metrics;

namespace Tern.Spool.Tests;

/// <summary>
/// A full disk (a small tmpfs mounted for the test; the tests run as root, as CI does): commits
/// fail cleanly (the SMTP layer answers 452), nothing acknowledged is lost, the spool accepts mail
/// again by itself once space returns, and a restart finds every acknowledged message.
/// </summary>
public sealed class DiskFullTests : IDisposable
{
    private readonly string _mount = Directory.CreateTempSubdirectory("tern-full-").FullName;

    public DiskFullTests()
    {
        Run("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", _mount);
    }

    public void Dispose()
    {
        // Lazy: a test that failed with the spool still open must not leave the mount behind.
        Run("umount", "-l", _mount);
        Directory.Delete(_mount);
    }

    private SpoolOptions Options => new() { Directory = Path.Combine(_mount, "spool"), PageSizeBits = 16, MemorySizeBits = 20, SegmentSizeBits = 22, IndexBuckets = 1 << 10, IndexPageSizeBits = 12, IndexMemorySizeBits = 16, IndexSegmentSizeBits = 20 };

    [Fact]
    public async Task Disk_full_fails_commits_without_losing_acknowledged_messages()
    {
        var body = new byte[20_000];
        var acknowledged = new List<MessageId>();
        var refused = new List<MessageId>();
        var failed = 0;
        await using (var spool = Spool.Open(Options, NullLoggerFactory.Instance, NullMetrics.Instance))
        {
            // Leave about 1 MB free, then write well past it.
            await File.WriteAllBytesAsync(Path.Combine(_mount, "filler"), new byte[7_000_000]);
            for (var i = 0; i < 150 && failed < 5; i++)
            {
                using var w = spool.Begin();
                w.Envelope.SetSender("a@example.org"u8);
                w.Envelope.AddRecipient("b@example.net"u8, StoredNotify.Unspecified, default);
                w.Write(body);
                var commit = w.CommitAsync(CancellationToken.None).AsTask();
                Assert.True(await Task.WhenAny(commit, Task.Delay(TimeSpan.FromSeconds(10))) == commit, "a commit hung on a full disk");
                if (await commit)
                {
                    acknowledged.Add(w.Id);
                }
                else
                {
                    failed++;
                    refused.Add(w.Id);
                }
            }

            Assert.True(failed > 0, "the disk never filled up");
            Assert.True(spool.Failing);
            File.Delete(Path.Combine(_mount, "filler"));

            // Space is back: the spool reopens its log by itself and accepts mail again.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            var recovered = false;
            while (!recovered && DateTime.UtcNow < deadline)
            {
                using var w = spool.Begin();
                w.Envelope.SetSender("after@example.org"u8);
                w.Write(body);
                if (await w.CommitAsync(CancellationToken.None))
                {
                    acknowledged.Add(w.Id);
                    recovered = true;
                }
                else
                {
                    await Task.Delay(200);
                }
            }

            Assert.True(recovered, "the spool did not recover after space returned");
            Assert.False(spool.Failing);
            await spool.CaughtUpAsync();
            foreach (var id in acknowledged)
            {
                Assert.NotNull(await spool.ReadAsync(id));
            }

            // A refused message (the client was told 4xx and sends it again) is never queued, even
            // if the reopened log recovered its record.
            foreach (var id in refused)
            {
                Assert.Null(spool.Find(id));
            }
        }

        await using var again = Spool.Open(Options, NullLoggerFactory.Instance, NullMetrics.Instance);
        Assert.Equal(acknowledged.OrderBy(x => x.ToString()), again.Messages.Select(m => m.Id).OrderBy(x => x.ToString()));
        Assert.False(again.Failing);
        using var next = again.Begin();
        next.Envelope.SetSender("a@example.org"u8);
        next.Write(body);
        Assert.True(await next.CommitAsync(CancellationToken.None));
    }

    private static void Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed (the disk-full test mounts a tmpfs and needs root): {error}");
        }
    }
}
