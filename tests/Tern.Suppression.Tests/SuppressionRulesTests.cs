using Tern.Suppression;

namespace Tern.Suppression.Tests;

public sealed class SuppressionRulesTests
{
    [Theory]
    // Enhanced codes that suppress at once, whatever the basic code (as long as it is 5xx).
    [InlineData("550 5.1.1 The email account that you tried to reach does not exist", true)]
    [InlineData("550 5.1.2 Host unknown", true)]
    [InlineData("553 5.1.3 Bad recipient address syntax", true)]
    [InlineData("551 5.1.6 Mailbox has moved", true)]
    [InlineData("550 5.2.1 Mailbox disabled", true)]
    [InlineData("550 5.7.1 Delivery not authorized", true)]
    [InlineData("554 5.7.1 Relay access denied", true)]
    [InlineData("552 5.1.1 odd basic code, but the enhanced code decides", true)]
    [InlineData("550 5.1.1", true)]
    [InlineData("550 5.1.1\tTab-separated", true)]
    [InlineData("  550 5.1.1 leading white space", true)]
    // Enhanced codes that only count toward the threshold.
    [InlineData("550 5.1.0 Other address status", false)]
    [InlineData("550 5.1.10 Recipient address has null MX", false)]
    [InlineData("552 5.2.2 Mailbox full", false)]
    [InlineData("552 5.3.4 Message too big", false)]
    [InlineData("554 5.6.0 Content refused", false)]
    [InlineData("550 5.7.0 Policy", false)]
    [InlineData("550 5.7.10 Encryption needed", false)]
    [InlineData("550 5.7.26 Unauthenticated mail is prohibited", false)]
    [InlineData("550 5.0.0 Unknown", false)]
    [InlineData("521 5.3.2 System not accepting mail", false)]
    [InlineData("556 5.1.10 Null MX", false)]
    // Class 4 or 2 in the enhanced code: not class 5, so never at once.
    [InlineData("550 4.1.1 inconsistent", false)]
    [InlineData("550 2.1.1 inconsistent", false)]
    // Temporary failures and successes: never.
    [InlineData("450 4.1.1 try later", false)]
    [InlineData("451 4.7.1 greylisted", false)]
    [InlineData("421 4.7.0 too many connections", false)]
    [InlineData("450 mailbox busy", false)]
    [InlineData("250 2.1.5 Ok", false)]
    // Basic codes alone.
    [InlineData("521 Host does not accept mail", true)]
    [InlineData("550 Requested action not taken: mailbox unavailable", true)]
    [InlineData("551 User not local", true)]
    [InlineData("553 Mailbox name not allowed", true)]
    [InlineData("556 Domain does not accept mail", true)]
    [InlineData("550", true)]
    [InlineData("554 Transaction failed", false)]
    [InlineData("552 Requested mail action aborted: exceeded storage allocation", false)]
    [InlineData("500 Syntax error", false)]
    [InlineData("530 Authentication required", false)]
    [InlineData("555 MAIL FROM parameters not recognized", false)]
    // Text that looks like an enhanced code but is not one: the basic code decides.
    [InlineData("550 5.1.1x not a code", true)]
    [InlineData("554 5.1.1x not a code", false)]
    [InlineData("550 5.1 short", true)]
    [InlineData("554 5.1 short", false)]
    [InlineData("554 5.1.1111 too many digits", false)]
    [InlineData("554 5.1111.1 too many digits", false)]
    [InlineData("554 6.1.1 no such class", false)]
    [InlineData("550 mailbox 5.1.1 later in the text", true)]
    [InlineData("554 mailbox 5.1.1 later in the text", false)]
    // Garbage.
    [InlineData("", false)]
    [InlineData("   ", false)]
    [InlineData("Mailbox does not exist", false)]
    [InlineData("55", false)]
    [InlineData("5501 5.1.1 four digits", false)]
    [InlineData("550x 5.1.1", false)]
    [InlineData("650 5.1.1 no such reply code", false)]
    [InlineData("150 5.1.1", false)]
    [InlineData("\r\n550 5.1.1 first line empty", false)]
    public void Classification(string reply, bool atOnce)
    {
        Assert.Equal(atOnce, SuppressionRules.SuppressesAtOnce(reply));
    }

    [Theory]
    [InlineData("550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n550-5.1.1 double-checking the recipient's email address for typos or\r\n550 5.1.1 unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser", true)]
    [InlineData("550-5.7.1 [192.0.2.1] Our system has detected that this message is\r\n550 5.7.1 likely unsolicited mail.", true)]
    [InlineData("552-5.2.2 The recipient's inbox is out of storage space.\r\n552 5.2.2 Please direct the recipient to https://support.google.com/mail/?p=OverQuotaPerm", false)]
    [InlineData("550-Mailbox unavailable\r\n550 5.2.2 the second line does not count", true)]
    [InlineData("554-first line without a code\n550 5.1.1 second line", false)]
    [InlineData("550 5.1.1 one line\r\n", true)]
    public void Multi_line_replies_are_classified_by_their_first_line(string reply, bool atOnce)
    {
        Assert.Equal(atOnce, SuppressionRules.SuppressesAtOnce(reply));
    }

    [Theory]
    [InlineData("550 5.1.1 x", 550, 5, 1, 1)]
    [InlineData("554-5.7.26 x", 554, 5, 7, 26)]
    [InlineData("451 4.3.0", 451, 4, 3, 0)]
    [InlineData("250 2.1.5 Ok", 250, 2, 1, 5)]
    [InlineData("550 mailbox unavailable", 550, 0, 0, 0)]
    [InlineData("550", 550, 0, 0, 0)]
    [InlineData("550-", 550, 0, 0, 0)]
    [InlineData("550 999.1.1", 550, 0, 0, 0)]
    [InlineData("550 5.999.999", 550, 5, 999, 999)]
    public void Codes_are_parsed(string reply, int basic, int cls, int subject, int detail)
    {
        Assert.True(SuppressionRules.TryParse(reply, out var code));
        Assert.Equal(new ReplyCode(basic, cls, subject, detail), code);
        Assert.Equal(cls != 0, code.HasEnhanced);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("OK")]
    [InlineData("5.1.1 no basic code")]
    [InlineData("550:5.1.1")]
    public void Garbage_has_no_code(string? reply)
    {
        Assert.False(SuppressionRules.TryParse(reply, out _));
        Assert.False(SuppressionRules.IsPermanent(reply!));
    }

    [Theory]
    [InlineData("550 5.1.1 x", true)]
    [InlineData("554 5.6.0 x", true)]
    [InlineData("599 x", true)]
    [InlineData("450 4.1.1 x", false)]
    [InlineData("250 ok", false)]
    public void Permanent_means_5xx(string reply, bool permanent)
    {
        Assert.Equal(permanent, SuppressionRules.IsPermanent(reply));
    }
}
