using System.Text;
using Tern.Smtp.Client;

namespace Tern.Delivery.Tests.Delivering;

public sealed class TlsRequiredHeaderTests
{
    [Theory]
    [InlineData("TLS-Required: No\r\nSubject: x\r\n\r\nbody\r\n")]
    [InlineData("Subject: x\r\ntls-required:no\r\n\r\nbody\r\n")]
    [InlineData("Subject: x\r\nTLS-REQUIRED : NO \r\n\r\n")]
    [InlineData("TLS-Required:\r\n  No\r\nSubject: x\r\n\r\n")]
    [InlineData("TLS-Required: No\r\nTLS-Required: no\r\n\r\n")]
    [InlineData("TLS-Required: No\nSubject: bare LF lines\n\nbody\n")]
    [InlineData("Subject: no body at all\r\nTLS-Required: No")]
    public void Every_TLS_Required_field_saying_No_relaxes_the_policy(string message) =>
        Assert.True(TlsRequiredHeader.SaysNo(Encoding.ASCII.GetBytes(message)));

    [Theory]
    [InlineData("Subject: x\r\n\r\nbody\r\n")]
    [InlineData("TLS-Required: No\r\nTLS-Required: Yes\r\n\r\n")]
    [InlineData("TLS-Required: Nope\r\n\r\n")]
    [InlineData("TLS-Required: No thanks\r\n\r\n")]
    [InlineData("TLS-Required:\r\n\r\n")]
    [InlineData("X-TLS-Required: No\r\n\r\n")]
    [InlineData("TLS-Required-Not: No\r\n\r\n")]
    [InlineData("Subject: x\r\n\r\nTLS-Required: No\r\n")]
    [InlineData("Subject: folded\r\n TLS-Required: No\r\n\r\n")]
    [InlineData("")]
    public void Without_a_TLS_Required_No_field_in_the_header_section_nothing_is_relaxed(string message) =>
        Assert.False(TlsRequiredHeader.SaysNo(Encoding.ASCII.GetBytes(message)));

    [Fact]
    public void A_batch_answers_for_its_own_message_and_a_copy_with_another_message_for_that_one()
    {
        static SmtpMessage Message(string content) => new()
        {
            Sender = "alice@example.org",
            Recipients = [new SmtpRecipient("bob@example.net")],
            Content = Encoding.ASCII.GetBytes(content),
        };

        var relaxed = new DeliveryBatch { MessageId = "m1", RecipientDomain = "example.net", Message = Message("TLS-Required: No\r\n\r\nbody\r\n") };
        Assert.True(relaxed.TlsRequiredSaysNo);
        Assert.True((relaxed with { Attempts = 2 }).TlsRequiredSaysNo);       // the same message: the answer goes along
        var plain = relaxed with { Message = Message("Subject: x\r\n\r\nbody\r\n") };
        Assert.False(plain.TlsRequiredSaysNo);                                // another message: looked at again
        Assert.True(relaxed.TlsRequiredSaysNo);
    }
}
