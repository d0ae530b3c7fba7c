using Tern.Hosting;
using Tern.Smtp.Protocol;
using Tern.Spool;
using Tern.Spool.Queue;

namespace Tern.Tests.Hosting;

/// <summary>The interim delivery loop's pure parts: the retry schedule and the queue-to-client mapping.</summary>
public sealed class DeliveryServiceTests
{
    [Theory]
    [InlineData(0, 7.5)]
    [InlineData(1, 15)]
    [InlineData(2, 30)]
    [InlineData(7, 960)]
    public void Retries_follow_seven_and_a_half_minutes_doubling_with_at_most_ten_percent_jitter(int attemptsBefore, double minutes)
    {
        for (var i = 0; i < 100; i++)
        {
            var delay = DeliveryService.RetryDelay(attemptsBefore);
            Assert.InRange(delay.TotalMinutes, minutes, minutes * 1.1);
        }
    }

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
        var m = DeliveryService.Message(entry, [0], "Subject: x\r\n\r\nbody\r\n"u8.ToArray());
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
