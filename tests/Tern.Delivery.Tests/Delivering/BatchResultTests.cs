using System.Text;
using Tern.Smtp.Client;

namespace Tern.Delivery.Tests.Delivering;

/// <summary>How a batch's result is put together from what each recipient got (Deliverer.Finish).</summary>
public sealed class BatchResultTests
{
    private static DeliveryBatch Batch() => new()
    {
        MessageId = "m1",
        RecipientDomain = "example.net",
        Message = new SmtpMessage
        {
            Sender = "alice@example.org",
            Recipients = [new SmtpRecipient("bob@example.net"), new SmtpRecipient("carol@example.net")],
            Content = Encoding.ASCII.GetBytes("Subject: x\r\n\r\nbody\r\n"),
        },
    };

    private static SmtpRecipientResult Delivered(SmtpRecipient r) =>
        new(r, SmtpOutcome.Delivered, SmtpStage.Data, SmtpReply.Local(250, new EnhancedStatusCode(2, 0, 0), "ok"), SmtpFailureKind.Reply);

    [Fact]
    public void Recipients_no_host_answered_get_the_last_failure_or_else_no_host_could_be_reached_for_the_domain()
    {
        var batch = Batch();
        var bob = Delivered(batch.Message.Recipients[0]);

        // Nothing failed and nothing answered for carol: the reply names the domain.
        var result = Deliverer.Finish(batch, "direct", [bob, null], last: null, "mx.example.net", null, null, domain: "example.net");
        Assert.Same(bob, result.Recipients[0]);
        var carol = result.Recipients[1];
        Assert.Equal(SmtpOutcome.TemporaryFailure, carol.Outcome);
        Assert.Equal(451, carol.Reply.Code);
        Assert.Equal("4.4.4", carol.Reply.Status);
        Assert.Contains("example.net: no host could be reached", string.Join("\n", carol.Reply.Lines), StringComparison.Ordinal);

        // Without a domain (a smarthost) the same words, unnamed.
        var smarthost = Deliverer.Finish(batch, "relay", [bob, null], last: null, "smarthost.example", null, null);
        Assert.Contains("no host could be reached", string.Join("\n", smarthost.Recipients[1].Reply.Lines), StringComparison.Ordinal);
        Assert.DoesNotContain("example.net", string.Join("\n", smarthost.Recipients[1].Reply.Lines), StringComparison.Ordinal);

        // A failure seen on the way is what they get.
        var refused = new SmtpFailure(SmtpStage.Mail, SmtpOutcome.PermanentFailure, SmtpReply.Local(550, new EnhancedStatusCode(5, 7, 1), "refused"), SmtpFailureKind.Reply);
        var failed = Deliverer.Finish(batch, "direct", [bob, null], refused, "mx.example.net", null, null, domain: "example.net");
        Assert.Same(refused.Reply, failed.Recipients[1].Reply);
        Assert.Equal(SmtpOutcome.PermanentFailure, failed.Recipients[1].Outcome);

        // Every recipient answered: their own results, whatever the last failure was.
        var carolDelivered = Delivered(batch.Message.Recipients[1]);
        var all = Deliverer.Finish(batch, "direct", [bob, carolDelivered], refused, "mx.example.net", null, null, domain: "example.net");
        Assert.Equal([bob, carolDelivered], all.Recipients);
    }
}
