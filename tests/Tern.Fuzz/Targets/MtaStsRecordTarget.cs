using System.Text;
using Tern.Fuzz.Support;
using Tern.MtaSts;

namespace Tern.Fuzz.Targets;

/// <summary>
/// The MTA-STS TXT record (RFC 8461 section 3.1): the input is the TXT records of _mta-sts.DOMAIN,
/// separated by NUL bytes, through <see cref="MtaStsRecord.Select"/> as the lookup runs it. Bad input
/// may only come back as <see cref="MtaStsRecord.Selection.Invalid"/> with an error text.
/// </summary>
internal static class MtaStsRecordTarget
{
    public static void Run(ReadOnlySpan<byte> input)
    {
        var records = new List<string>();
        foreach (var range in input.Split((byte)0))
        {
            records.Add(Encoding.UTF8.GetString(input[range]));
        }

        var selection = MtaStsRecord.Select(records, out var record, out var error);
        FuzzInvariantException.Check(Enum.IsDefined(selection), "unknown selection value");
        FuzzInvariantException.Check(selection != MtaStsRecord.Selection.Found || record is not null, "Found without a record");
        FuzzInvariantException.Check(selection != MtaStsRecord.Selection.Invalid || !string.IsNullOrEmpty(error), "Invalid without an error");
        if (record is not null)
        {
            FuzzInvariantException.Check(MtaStsRecord.IsValidId(record.Id), "record with an invalid id");
        }

        foreach (var text in records)
        {
            var ok = MtaStsRecord.TryParse(text, out var parsed, out var parseError);
            FuzzInvariantException.Check(ok ? parsed is not null : parseError is not null, "TryParse result inconsistent");
        }
    }
}
