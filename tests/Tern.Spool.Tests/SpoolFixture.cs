using System.Text;
using Tern.Spool.Queue;
using Tern.Tests.Support;

namespace Tern.Spool.Tests;

/// <summary>A spool in a temporary directory with small FASTER sizes, a hand-moved clock and helpers to store mail.</summary>
public abstract class SpoolFixture : IDisposable
{
    protected string Dir { get; } = Directory.CreateTempSubdirectory("tern-sched-").FullName;

    protected ManualClock Clock { get; } = new();

    public void Dispose()
    {
        Directory.Delete(Dir, true);
        GC.SuppressFinalize(this);
    }

    protected Spool Open(Func<SpoolOptions, SpoolOptions>? tune = null) =>
        (tune ?? (o => o))(TestSpoolOptions.Small(Dir) with { ReportingMta = "mta.example.org" }).Open(Clock);

    protected static Task<MessageId> Store(Spool spool, string sender, params string[] recipients) =>
        Store(spool, sender, recipients.Select(r => (r, StoredNotify.Failure)).ToArray(), "Subject: hi\r\n\r\nbody\r\n");

    protected static async Task<MessageId> Store(Spool spool, string sender, (string Address, StoredNotify Notify)[] recipients, string body, byte ret = 0, string envId = "", bool requireTls = false)
    {
        using var w = spool.Begin();
        w.Envelope.SetSender(Encoding.UTF8.GetBytes(sender));
        w.Envelope.SetEnvelopeId(Encoding.ASCII.GetBytes(envId));
        w.Envelope.Ret = ret;
        w.Envelope.RequireTls = requireTls;
        foreach (var (address, notify) in recipients)
        {
            w.Envelope.AddRecipient(Encoding.UTF8.GetBytes(address), notify, Encoding.UTF8.GetBytes("rfc822;" + address));
        }

        w.Write(Encoding.UTF8.GetBytes(body));
        Assert.True(await w.CommitAsync(CancellationToken.None));
        await spool.CaughtUpAsync();
        return w.Id;
    }

    protected static QueueFilter Only(MessageId id) => new() { Ids = [id] };

    protected static QueueEntry EntryOf(Spool spool, MessageId id) => spool.Entry(id) ?? throw new InvalidOperationException($"{id} is not in the index");

    /// <summary>A clock the test moves by hand (whole milliseconds, as the index stores them).</summary>
    protected sealed class ManualClock : TimeProvider
    {
        private DateTimeOffset _now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
