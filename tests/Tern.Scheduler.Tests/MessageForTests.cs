using Tern.Scheduler;
using Tern.Smtp.Protocol;
using Tern.Spool;
using Tern.Spool.Queue;

namespace Tern.Scheduler.Tests;

/// <summary>The queue-to-client mapping: what the SMTP client sends for the recipients of one batch.</summary>
public sealed class MessageForTests
{
    [Fact]
    public void The_client_gets_the_envelope_of_the_chosen_recipients_with_their_dsn_parameters()
    {
        var entry = new QueueEntry
        {
            Id = new MessageId(1, 2),
            Received = DateTimeOffset.UnixEpoch,
            RequireTlsPolicy = RequireTlsPolicy.Yes,
            Envelope = new SpoolEnvelope
            {
                Sender = "alice@example.org",
                Recipients = [new SpoolRecipient("bob@example.net", StoredNotify.Failure | StoredNotify.Delay, "rfc822;bob@example.net"), new SpoolRecipient("carol@example.com", StoredNotify.Never, "")],
                EnvelopeId = "ENV1",
                EightBit = true,
                SmtpUtf8 = true,
                BodyType = (byte)BodyType.EightBitMime,
                Ret = (byte)DsnReturn.Headers,
            },
            Recipients =
            [
                new RecipientState { Address = "bob@example.net", Notify = StoredNotify.Failure | StoredNotify.Delay, OriginalRecipient = "rfc822;bob@example.net" },
                new RecipientState { Address = "carol@example.com", Notify = StoredNotify.Never },
            ],
        };
        var m = DeliveryScheduler.MessageFor(entry, [0], "Subject: x\r\n\r\nbody\r\n"u8.ToArray());
        Assert.Equal("alice@example.org", m.Sender);
        var r = Assert.Single(m.Recipients);
        Assert.Equal(("bob@example.net", DsnNotify.Failure | DsnNotify.Delay, "rfc822;bob@example.net"), (r.Address, r.Notify, r.OriginalRecipient));
        Assert.True(m.EightBit);
        Assert.True(m.SmtpUtf8);
        Assert.True(m.RequireTls);
        Assert.Equal(BodyType.EightBitMime, m.BodyType);
        Assert.Equal(DsnReturn.Headers, m.Ret);
        Assert.Equal("ENV1", m.EnvelopeId);
        Assert.Equal("Subject: x\r\n\r\nbody\r\n"u8.ToArray(), m.Content.ToArray());
    }
}
