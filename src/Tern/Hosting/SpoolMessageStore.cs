using System.Collections.Concurrent;
using System.Text;
using Tern.Smtp.Protocol;
using Tern.Smtp.Server;
using Tern.Spool;

namespace Tern.Hosting;

/// <summary>
/// Connects the SMTP server to the spool: the session streams the body into a spool writer and the
/// envelope is copied into the message record at commit. Adapters are pooled like the spool's
/// writers, so accepting a message allocates nothing here.
/// </summary>
internal sealed class SpoolMessageStore(Spool.Spool spool) : IMessageStore
{
    private readonly ConcurrentQueue<Writer> _pool = new();

    public IMessageWriter Begin(SmtpEnvelope envelope)
    {
        if (!_pool.TryDequeue(out var writer))
        {
            writer = new Writer(this);
        }

        writer.Start(spool.Begin());
        return writer;
    }

    private sealed class Writer(SpoolMessageStore owner) : IMessageWriter
    {
        private SpoolWriter? _inner;

        public ReadOnlySpan<byte> Id => _inner!.IdText;

        public void Start(SpoolWriter inner) => _inner = inner;

        public void Write(ReadOnlySpan<byte> data) => _inner!.Write(data);

        [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
        public async ValueTask<StoreStatus> CommitAsync(SmtpEnvelope envelope, CancellationToken cancel)
        {
            CopyEnvelope(envelope, _inner!.Envelope);
            if (!_inner.EnvelopeFits)
            {
                return StoreStatus.EnvelopeTooLarge;
            }

            return await _inner.CommitAsync(cancel) ? StoreStatus.Stored : StoreStatus.TemporaryFailure;
        }

        public void Dispose()
        {
            if (_inner is null)
            {
                return;
            }

            _inner.Dispose();
            _inner = null;
            owner._pool.Enqueue(this);
        }

        private static void CopyEnvelope(SmtpEnvelope from, EnvelopeBuilder to)
        {
            to.SetSender(from.Sender);
            for (var i = 0; i < from.RecipientCount; i++)
            {
                to.AddRecipient(from.Recipient(i), (StoredNotify)(byte)from.RecipientAt(i).Notify, from.OriginalRecipient(i));
            }

            to.SetEnvelopeId(from.EnvelopeId);
            to.SmtpUtf8 = from.SmtpUtf8;
            to.RequireTls = from.RequireTls;
            to.EightBit = from.EightBitData;
            to.Tls = from.Tls;
            to.BodyType = (byte)from.Body;
            to.Ret = (byte)from.Ret;
            Span<byte> buffer = stackalloc byte[512];
            if (from.AuthenticatedUser is { } user && Encoding.UTF8.TryGetBytes(user, buffer, out var n))
            {
                to.SetAuthenticatedUser(buffer[..n]);
            }

            // The client's address (the port says nothing once the connection is gone).
            if (from.Client is { } client && client.Address.TryFormat(buffer, out var written))
            {
                to.SetClient(buffer[..written]);
            }

            if (Encoding.UTF8.TryGetBytes(from.Listener, buffer, out n))
            {
                to.SetListener(buffer[..n]);
            }
        }
    }
}
