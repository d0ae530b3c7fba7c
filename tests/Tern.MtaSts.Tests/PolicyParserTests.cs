namespace Tern.MtaSts.Tests;

/// <summary>The policy body grammar (RFC 8461 section 3.2), table-driven: what is a policy and what is not.</summary>
public sealed class PolicyParserTests
{
    public static TheoryData<string, MtaStsMode, string, int> Valid => new()
    {
        // body (\n shown as |), mode, mx list, max_age
        { "version: STSv1|mode: enforce|mx: mail.example.com|max_age: 604800|", MtaStsMode.Enforce, "mail.example.com", 604800 },
        { "version: STSv1\r\nmode: testing\r\nmx: a.example.com\r\nmx: *.example.net\r\nmax_age: 86400\r\n", MtaStsMode.Testing, "a.example.com,*.example.net", 86400 },
        // Mixed line ends, no final line end, fields in any order.
        { "max_age: 0\r\nmx: MX.Example.COM|mode: enforce|version: STSv1", MtaStsMode.Enforce, "mx.example.com", 0 },
        { "version: STSv1|mode: none|max_age: 31557600|", MtaStsMode.None, "", 31557600 },
        { "version: STSv1|mode: none|mx: old.example.com|max_age: 1|", MtaStsMode.None, "old.example.com", 1 },
        // Whitespace after the colon and at line ends; no space at all after the colon.
        { "version:STSv1|mode:\t enforce \t|mx:   mail.example.com  |max_age:  86400 |", MtaStsMode.Enforce, "mail.example.com", 86400 },
        // Unknown keys are ignored (a key differing in case is unknown), extension values may hold UTF-8 and inner spaces.
        { "version: STSv1|mode: enforce|Mode: none|x-note: h\u00e9llo w\u00f6rld|ext.1_a-b: 1|mx: mail.example.com|max_age: 60|", MtaStsMode.Enforce, "mail.example.com", 60 },
        // Empty lines change nothing.
        { "version: STSv1||mode: enforce|mx: mail.example.com|max_age: 60|||", MtaStsMode.Enforce, "mail.example.com", 60 },
        { "version: STSv1|mode: enforce|mx: 1-2.x-y.example|max_age: 0000000060|", MtaStsMode.Enforce, "1-2.x-y.example", 60 },
        { "version: STSv1|mode: enforce|mx: localhost|max_age: 60|", MtaStsMode.Enforce, "localhost", 60 },
    };

    [Theory]
    [MemberData(nameof(Valid))]
    public void Parses_a_valid_policy(string body, MtaStsMode mode, string mx, int maxAge)
    {
        Assert.True(MtaStsPolicy.TryParse(Lines(body), "id1", out var policy, out var error), error);
        Assert.Null(error);
        Assert.Equal(mode, policy!.Mode);
        Assert.Equal(mx, string.Join(',', policy.Mx));
        Assert.Equal(maxAge, policy.MaxAgeSeconds);
        Assert.Equal(TimeSpan.FromSeconds(maxAge), policy.MaxAge);
        Assert.Equal("id1", policy.Id);
        Assert.Equal(Lines(body), policy.Text);
    }

    public static TheoryData<string, string> Invalid => new()
    {
        // body, a piece of the error
        { "", "version missing" },
        { "mode: enforce|mx: a.example|max_age: 60|", "version missing" },
        { "version: STSv1|mx: a.example|max_age: 60|", "mode missing" },
        { "version: STSv1|mode: enforce|mx: a.example|", "max_age missing" },
        { "version: STSv1|mode: enforce|max_age: 60|", "mx missing" },
        { "version: STSv1|mode: testing|max_age: 60|", "mx missing" },
        { "version: STSv2|mode: enforce|mx: a.example|max_age: 60|", "line 1: version is not STSv1" },
        { "version: stsv1|mode: enforce|mx: a.example|max_age: 60|", "version is not STSv1" },
        { "version: STSv1|mode: Enforce|mx: a.example|max_age: 60|", "line 2: mode is not enforce, testing or none" },
        { "version: STSv1|mode: strict|mx: a.example|max_age: 60|", "mode is not" },
        { "version: STSv1|mode: enforce|mx: a.example|max_age: 31557601|", "max_age is not" },
        { "version: STSv1|mode: enforce|mx: a.example|max_age: -1|", "max_age is not" },
        { "version: STSv1|mode: enforce|mx: a.example|max_age: 1e3|", "max_age is not" },
        { "version: STSv1|mode: enforce|mx: a.example|max_age: 00000000060|", "max_age is not" },
        { "version: STSv1|mode: enforce|mx: a.example|max_age: |", "max_age is not" },
        { "version: STSv1|mode: enforce|mx: a.example|max_age: 6 0|", "max_age is not" },
        // Duplicated single-valued fields (the rule; see PolicyParser).
        { "version: STSv1|version: STSv1|mode: enforce|mx: a.example|max_age: 60|", "line 2: version given twice" },
        { "version: STSv1|mode: enforce|mode: testing|mx: a.example|max_age: 60|", "mode given twice" },
        { "version: STSv1|mode: enforce|mx: a.example|max_age: 60|max_age: 60|", "max_age given twice" },
        // mx values: A-label domains, "*." only as the whole first label, no trailing dot.
        { "version: STSv1|mode: enforce|mx: a.example.|max_age: 60|", "line 3: mx is not" },
        { "version: STSv1|mode: enforce|mx: *.|max_age: 60|", "mx is not" },
        { "version: STSv1|mode: enforce|mx: *|max_age: 60|", "mx is not" },
        { "version: STSv1|mode: enforce|mx: mx*.example.com|max_age: 60|", "mx is not" },
        { "version: STSv1|mode: enforce|mx: *.*.example.com|max_age: 60|", "mx is not" },
        { "version: STSv1|mode: enforce|mx: a.*.example.com|max_age: 60|", "mx is not" },
        { "version: STSv1|mode: enforce|mx: -a.example|max_age: 60|", "mx is not" },
        { "version: STSv1|mode: enforce|mx: a-.example|max_age: 60|", "mx is not" },
        { "version: STSv1|mode: enforce|mx: a..example|max_age: 60|", "mx is not" },
        { "version: STSv1|mode: enforce|mx: a_b.example|max_age: 60|", "mx is not" },
        { "version: STSv1|mode: enforce|mx: b\u00fccher.example|max_age: 60|", "mx is not" },
        { "version: STSv1|mode: enforce|mx: a.example b.example|max_age: 60|", "mx is not" },
        { "version: STSv1|mode: enforce|mx: |max_age: 60|", "mx is not" },
        { "version: STSv1|mode: enforce|mx: " + new string('a', 64) + ".example|max_age: 60|", "mx is not" },
        // Line syntax.
        { " version: STSv1|mode: enforce|mx: a.example|max_age: 60|", "line 1: invalid field name" },
        { "version STSv1|mode: enforce|mx: a.example|max_age: 60|", "line 1: no \"key:\"" },
        { "version: STSv1\rmode: enforce|mx: a.example|max_age: 60|", "line 1: carriage return inside a line" },
        { "version: STSv1|mode: enforce|mx: a.example|max_age: 60|_x: 1|", "line 5: invalid field name" },
        { "version: STSv1|mode: enforce|mx: a.example|max_age: 60|x: |", "line 5: invalid value of field x" },
        { "version: STSv1|mode: enforce|mx: a.example|max_age: 60|x: a\tb|", "invalid value of field x" },
        { "version: STSv1|mode: enforce|mx: a.example|max_age: 60|" + new string('k', 33) + ": 1|", "invalid field name" },
        { "<html><body>Not found</body></html>", "line 1: no \"key:\"" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Refuses_an_invalid_policy(string body, string expected)
    {
        Assert.False(MtaStsPolicy.TryParse(Lines(body), "id1", out var policy, out var error));
        Assert.Null(policy);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a-b")]
    [InlineData("123456789012345678901234567890123")]
    public void Refuses_an_invalid_id(string id)
    {
        Assert.False(MtaStsPolicy.TryParse("version: STSv1\nmode: none\nmax_age: 1\n", id, out _, out var error));
        Assert.Contains("id", error, StringComparison.Ordinal);
    }

    /// <summary>"|" stands for LF in the tables (CR LF is written out).</summary>
    private static string Lines(string body) => body.Replace('|', '\n');
}
