namespace Tern.MtaSts.Tests;

/// <summary>The _mta-sts TXT record (RFC 8461 section 3.1): one record's grammar, and the choice among several.</summary>
public sealed class RecordParserTests
{
    [Theory]
    [InlineData("v=STSv1; id=20160831085700Z;", "20160831085700Z")]
    [InlineData("v=STSv1;id=1", "1")]
    [InlineData("v=STSv1 ;\tid=abc ; ", "abc")]
    [InlineData("v=STSv1; ext=x:y/z; id=A1b2C3", "A1b2C3")]
    [InlineData("v=STSv1; id=12345678901234567890123456789012", "12345678901234567890123456789012")]
    [InlineData("v=STSv1; id=x; rua=mailto:a@example.com", "x")]
    public void Parses_a_valid_record(string text, string id)
    {
        Assert.True(MtaStsRecord.TryParse(text, out var record, out var error), error);
        Assert.Equal(id, record!.Id);
        Assert.Equal(text, record.Text);
    }

    [Theory]
    [InlineData("v=STSv1", "no field")]
    [InlineData("v=STSv1;", "no field")]
    [InlineData("v=STSv1; ", "no field")]
    [InlineData("v=STSv1; ext=1", "id missing")]
    [InlineData("v=STSv1; id=", "empty or invalid value")]
    [InlineData("v=STSv1; id=a-b", "id is not 1 to 32 letters and digits")]
    [InlineData("v=STSv1; id=123456789012345678901234567890123", "id is not 1 to 32")]
    [InlineData("v=STSv1; id=1; id=2", "id given twice")]
    [InlineData("v=STSv1; id=1; v=STSv1", "v given twice")]
    [InlineData("v=STSv1; id=1 2", "fields are not separated")]
    [InlineData("v=STSv1; id=1 ", "whitespace after the last field")]
    [InlineData("v=STSv1; id=1;; ", "a field has no")]
    [InlineData("v=STSv1 id=1", "fields are not separated")]
    [InlineData("v=STSv1; ID=1", "id missing")]
    [InlineData("v=STSv1; id=1; x=a=b", "fields are not separated")]
    [InlineData("v=STSv1; id=1; _x=1", "invalid field name")]
    [InlineData("V=STSv1; id=1", "does not begin with v=STSv1")]
    [InlineData(" v=STSv1; id=1", "does not begin with v=STSv1")]
    public void Refuses_an_invalid_record(string text, string expected)
    {
        Assert.False(MtaStsRecord.TryParse(text, out var record, out var error));
        Assert.Null(record);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    public static TheoryData<string[], MtaStsRecord.Selection, string?> Selections => new()
    {
        // The records at _mta-sts.DOMAIN, what they amount to, the id.
        { ["v=STSv1; id=1"], MtaStsRecord.Selection.Found, "1" },
        { ["v=spf1 -all", "v=STSv1; id=2", "something else"], MtaStsRecord.Selection.Found, "2" },
        { [], MtaStsRecord.Selection.Absent, null },
        { ["v=spf1 -all"], MtaStsRecord.Selection.Absent, null },
        { ["v=STSv10; id=1"], MtaStsRecord.Selection.Absent, null },
        { ["v=stsv1; id=1"], MtaStsRecord.Selection.Absent, null },
        // Section 3.1: not exactly one MTA-STS record, or an invalid one: no policy.
        { ["v=STSv1; id=1", "v=STSv1; id=2"], MtaStsRecord.Selection.Invalid, null },
        { ["v=STSv1; id=1", "v=STSv1; id=1"], MtaStsRecord.Selection.Invalid, null },
        { ["v=STSv1; id=1", "v=STSv1"], MtaStsRecord.Selection.Invalid, null },
        { ["v=STSv1; id=bad-id"], MtaStsRecord.Selection.Invalid, null },
        { ["v=STSv1"], MtaStsRecord.Selection.Invalid, null },
    };

    [Theory]
    [MemberData(nameof(Selections))]
    public void Selects_exactly_one_record(string[] records, MtaStsRecord.Selection expected, string? id)
    {
        Assert.Equal(expected, MtaStsRecord.Select(records, out var record, out var error));
        Assert.Equal(id, record?.Id);
        Assert.Equal(expected == MtaStsRecord.Selection.Invalid, error is not null);
    }
}
