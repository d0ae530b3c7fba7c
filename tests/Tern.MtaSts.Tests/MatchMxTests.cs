namespace Tern.MtaSts.Tests;

/// <summary>MX host names against a policy's mx patterns (RFC 8461 section 4.1).</summary>
public sealed class MatchMxTests
{
    private static readonly MtaStsPolicy Policy = Parse("mail.example.com", "*.example.net", "*.a.b.example.org");

    [Theory]
    [InlineData("mail.example.com", true)]
    [InlineData("MAIL.Example.Com", true)]
    [InlineData("mail.example.com.", true)]
    [InlineData("  mail.example.com ", true)]
    [InlineData("example.com", false)]
    [InlineData("mx.mail.example.com", false)]
    [InlineData("mail.example.co", false)]
    [InlineData("amail.example.com", false)]
    // A wildcard matches exactly one left-most label.
    [InlineData("mx1.example.net", true)]
    [InlineData("MX1.EXAMPLE.NET.", true)]
    [InlineData("example.net", false)]
    [InlineData("a.mx1.example.net", false)]
    [InlineData(".example.net", false)]
    [InlineData("x.example.net.evil", false)]
    [InlineData("xexample.net", false)]
    [InlineData("c.a.b.example.org", true)]
    [InlineData("a.b.example.org", false)]
    [InlineData("", false)]
    [InlineData(".", false)]
    [InlineData("*.example.net", false)] // not a host name
    public void Matches_as_the_rfc_says(string host, bool expected) => Assert.Equal(expected, Policy.MatchesMx(host));

    [Fact]
    public void A_U_label_host_is_compared_as_its_A_label()
    {
        var policy = Parse("xn--bcher-kva.example", "*.xn--mnchen-3ya.example");
        Assert.True(policy.MatchesMx("b\u00fccher.example"));
        Assert.True(policy.MatchesMx("mx.m\u00fcnchen.example"));
        Assert.False(policy.MatchesMx("bucher.example"));
    }

    [Fact]
    public void Mode_none_without_mx_matches_nothing() =>
        Assert.False(PolicyFrom("version: STSv1\nmode: none\nmax_age: 60\n").MatchesMx("mail.example.com"));

    private static MtaStsPolicy Parse(params string[] mx) =>
        PolicyFrom("version: STSv1\nmode: enforce\nmax_age: 86400\n" + string.Concat(mx.Select(m => $"mx: {m}\n")));

    private static MtaStsPolicy PolicyFrom(string text)
    {
        Assert.True(MtaStsPolicy.TryParse(text, "t1", out var policy, out var error), error);
        return policy!;
    }
}
