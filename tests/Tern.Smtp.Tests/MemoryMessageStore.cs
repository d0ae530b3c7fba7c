using System.Collections.Concurrent;
using System.Text;
using Tern.Smtp.Server;

namespace Tern.Smtp.Tests;

/// <summary>
/// A store that keeps committed messages in memory, for server tests that look at what was accepted.
/// It records aborted (uncommitted) writers too, so tests can prove nothing half-written survives.
/// </summary>
internal sealed class MemoryMessageStore : IMessageStore
{
    private int _next;

    public ConcurrentQueue<StoredMessage> Messages { get; } = new();

    public int Begun => Volatile.Read(ref _next);

    public int Aborted;

    /// <summary>When set, commits fail with a temporary error (disk full).</summary>
    public bool Fail { get; set; }

    /// <summary>When set, commits are refused for good: the envelope is too large to store.</summary>
    public bool TooLarge { get; set; }

    /// <summary>Delay before a commit completes (a slow disk).</summary>
    public TimeSpan CommitDelay { get; set; }

    public IMessageWriter Begin(SmtpEnvelope envelope) => new Writer(this, Interlocked.Increment(ref _next));

    /// <summary>When set, asked at MAIL with the declared size (-1: none): false is a full disk (452 4.3.1).</summary>
    public Func<long, bool>? Room { get; set; }

    public bool HasRoom(long declaredSize) => Room?.Invoke(declaredSize) ?? true;

    public sealed record StoredMessage(string Id, string Sender, string[] Recipients, string[] Orcpts, byte[] Body, bool Tls, bool RequireTls, bool SmtpUtf8, bool EightBit, string? User)
    {
        public string Text => Encoding.UTF8.GetString(Body);
    }

    private sealed class Writer(MemoryMessageStore store, int n) : IMessageWriter
    {
        private readonly MemoryStream _body = new();
        private readonly byte[] _id = Encoding.ASCII.GetBytes($"T{n:D6}");
        private bool _committed;

        public ReadOnlySpan<byte> Id => _id;

        public void Write(ReadOnlySpan<byte> data) => _body.Write(data);

        public async ValueTask<StoreStatus> CommitAsync(SmtpEnvelope envelope, CancellationToken cancel)
        {
            if (store.CommitDelay > TimeSpan.Zero)
            {
                await Task.Delay(store.CommitDelay, cancel);
            }

            if (store.Fail)
            {
                return StoreStatus.TemporaryFailure;
            }

            if (store.TooLarge)
            {
                return StoreStatus.EnvelopeTooLarge;
            }

            var recipients = Enumerable.Range(0, envelope.RecipientCount).Select(i => Encoding.UTF8.GetString(envelope.Recipient(i))).ToArray();
            var orcpts = Enumerable.Range(0, envelope.RecipientCount).Select(i => Encoding.UTF8.GetString(envelope.OriginalRecipient(i))).ToArray();
            store.Messages.Enqueue(new StoredMessage(
                Encoding.ASCII.GetString(_id),
                Encoding.UTF8.GetString(envelope.Sender),
                recipients,
                orcpts,
                _body.ToArray(),
                envelope.Tls,
                envelope.RequireTls,
                envelope.SmtpUtf8,
                envelope.EightBitData,
                envelope.AuthenticatedUser));
            _committed = true;
            return StoreStatus.Stored;
        }

        public void Dispose()
        {
            if (!_committed)
            {
                Interlocked.Increment(ref store.Aborted);
            }
        }
    }
}
