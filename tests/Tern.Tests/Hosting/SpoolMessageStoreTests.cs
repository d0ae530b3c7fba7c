using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Tern.Hosting;
using Tern.Observability.Metrics;
using Tern.Smtp.Protocol;
using Tern.Smtp.Server;

namespace Tern.Tests.Hosting;

/// <summary>The SMTP server's store on a real spool: what it answers for an envelope the spool cannot hold.</summary>
public sealed class SpoolMessageStoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tern-store-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public async Task An_envelope_too_large_for_a_queue_entry_is_refused_for_good_and_an_ordinary_one_is_stored()
    {
        // 32 KiB index pages: a hundred recipients of 200 characters cannot fit in one entry.
        await using var spool = Spool.Spool.Open(
            new Spool.SpoolOptions { Directory = _dir, PageSizeBits = 16, MemorySizeBits = 20, SegmentSizeBits = 20, IndexBuckets = 1 << 12, IndexPageSizeBits = 15, IndexMemorySizeBits = 20, IndexSegmentSizeBits = 22 },
            NullLoggerFactory.Instance,
            NullMetrics.Instance);
        var store = new SpoolMessageStore(spool);

        Assert.Equal(StoreStatus.EnvelopeTooLarge, await StoreAsync(store, Enumerable.Range(0, 100).Select(i => new string('x', 200) + i + "@example.net")));
        Assert.Equal(StoreStatus.Stored, await StoreAsync(store, ["b@example.net", "c@example.net"]));
    }

    private static async Task<StoreStatus> StoreAsync(SpoolMessageStore store, IEnumerable<string> recipients)
    {
        var envelope = new SmtpEnvelope();
        envelope.SetSender("a@example.org"u8, default(MailFromArguments), []);
        foreach (var r in recipients)
        {
            envelope.AddRecipient(Encoding.ASCII.GetBytes(r), DsnNotify.Unspecified, []);
        }

        using var writer = store.Begin(envelope);
        writer.Write("Subject: x\r\n\r\nbody\r\n"u8);
        return await writer.CommitAsync(envelope, CancellationToken.None);
    }
}
