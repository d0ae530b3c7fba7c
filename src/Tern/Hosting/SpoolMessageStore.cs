using System.Collections.Concurrent;
using System.Text;
using Tern.Smtp.Protocol;
using Tern.Smtp.Server;
using Tern.Spool;

namespace Tern.Hosting;

/// <summary>
/// Connects the SMTP server to the spool: the session streams the body into a spool writer and the
/// envelope is copied into the message record at commit. Adapters are pooled like the spool's
/// writers, so accepting a message allocates nothing here. With <paramref name="autoRequireTls"/>,
/// submissions that qualify are queued with REQUIRETLS (<see cref="AutoRequireTls"/>).
/// </summary>
internal sealed class SpoolMessageStore(Spool.Spool spool, AutoRequireTls? autoRequireTls = null) : IMessageStore
{
    private readonly ConcurrentQueue<Writer> _pool = new();

    public IMessageWriter Begin(SmtpEnvelope envelope)
    {
        if (!_pool.TryDequeue(out var writer))
        {
            writer = new Writer(this);
        }

        writer.Start(spool.Begin(), autoRequireTls?.Applies(envelope) == true);
        return writer;
    }

    /// <summary>The spool's free-space reserve ([spool] min_free), read at most once a second.</summary>
    public bool HasRoom(long declaredSize) => spool.HasRoom(declaredSize);

    private sealed class Writer(SpoolMessageStore owner) : IMessageWriter
    {
        private SpoolWriter? _inner;

        /// <summary>REQUIRETLS is added at commit unless the header section has a TLS-Required field.</summary>
        private bool _autoRequireTls;
        private TlsRequiredHeaderScanner _header;

        public ReadOnlySpan<byte> Id => _inner!.IdText;

        public void Start(SpoolWriter inner, bool autoRequireTls)
        {
            _inner = inner;
            _autoRequireTls = autoRequireTls;
            _header.Reset();
        }

        public void Write(ReadOnlySpan<byte> data)
        {
            if (_autoRequireTls)
            {
                _header.Feed(data);
            }

            _inner!.Write(data);
        }

        [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
        public async ValueTask<StoreStatus> CommitAsync(SmtpEnvelope envelope, CancellationToken cancel)
        {
            CopyEnvelope(envelope, _inner!.Envelope, requireTls: envelope.RequireTls || (_autoRequireTls && !_header.Found));
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

        private static void CopyEnvelope(SmtpEnvelope from, EnvelopeBuilder to, bool requireTls)
        {
            to.SetSender(from.Sender);
            for (var i = 0; i < from.RecipientCount; i++)
            {
                to.AddRecipient(from.Recipient(i), (StoredNotify)(byte)from.RecipientAt(i).Notify, from.OriginalRecipient(i));
            }

            to.SetEnvelopeId(from.EnvelopeId);
            to.SmtpUtf8 = from.SmtpUtf8;
            to.RequireTls = requireTls;
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
