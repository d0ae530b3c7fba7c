namespace Tern.MtaSts;

/// <summary>
/// The <c>_mta-sts</c> TXT record (RFC 8461 section 3.1): "v=STSv1; id=...;" and extensions. Only the
/// id matters to a sender: a changed id means a changed policy.
/// </summary>
public sealed class MtaStsRecord
{
    private const int MaxIdLength = 32;
    private const string Version = "v=STSv1";

    private MtaStsRecord(string id, string text)
    {
        Id = id;
        Text = text;
    }

    /// <summary>The policy id: 1 to 32 letters and digits.</summary>
    public string Id { get; }

    /// <summary>The record as published (its strings joined).</summary>
    public string Text { get; }

    /// <summary>What the TXT records at <c>_mta-sts.DOMAIN</c> amount to.</summary>
    public enum Selection
    {
        /// <summary>Exactly one MTA-STS record, and it is valid.</summary>
        Found,

        /// <summary>No record begins with "v=STSv1": the domain does not publish MTA-STS.</summary>
        Absent,

        /// <summary>Several MTA-STS records, or one that is not valid: treated as no policy (section 3.1).</summary>
        Invalid,
    }

    /// <summary>
    /// Picks the MTA-STS record among the TXT records of <c>_mta-sts.DOMAIN</c> (RFC 8461 section 3.1):
    /// records not beginning with "v=STSv1" are discarded; the rest must be exactly one, and valid.
    /// </summary>
    /// <param name="records">Each TXT record with its strings joined without separator.</param>
    public static Selection Select(IReadOnlyList<string> records, out MtaStsRecord? record, out string? error)
    {
        ArgumentNullException.ThrowIfNull(records);
        record = null;
        string? found = null;
        var count = 0;
        foreach (var text in records)
        {
            if (!IsStsRecord(text))
                continue;
            count++;
            found = text;
        }
        if (count == 0)
        {
            error = null;
            return Selection.Absent;
        }
        if (count > 1)
        {
            error = $"{count} MTA-STS TXT records (exactly one is allowed)";
            return Selection.Invalid;
        }
        return TryParse(found!, out record, out error) ? Selection.Found : Selection.Invalid;
    }

    /// <summary>
    /// Whether a TXT record is meant as an MTA-STS record: it begins with "v=STSv1" followed by the end,
    /// ";" or whitespace. Section 3.1 says "v=STSv1;", but its grammar allows whitespace before the ";"
    /// (errata 6285), so a record such as "v=STSv1 ; id=1" counts (and then parses).
    /// </summary>
    internal static bool IsStsRecord(string text) =>
        text.StartsWith(Version, StringComparison.Ordinal)
        && (text.Length == Version.Length || text[Version.Length] is ';' or ' ' or '\t');

    /// <summary>
    /// Parses one record by the grammar of section 3.1 (case-sensitive): "v=STSv1", then one or more
    /// fields each after "*WSP ; *WSP", an optional final delimiter. "id" is required once: a second id
    /// (or a second "v") makes the record invalid rather than guessing which counts. Extensions are
    /// ignored when well formed (name as for policies, value of visible characters but "=" and ";").
    /// </summary>
    public static bool TryParse(string text, out MtaStsRecord? record, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        record = null;
        if (!text.StartsWith(Version, StringComparison.Ordinal))
            return Fail("does not begin with v=STSv1", out error);
        var rest = text.AsSpan(Version.Length);
        string? id = null;
        var fields = 0;
        while (true)
        {
            if (rest.IsEmpty)
            {
                if (fields == 0)
                    return Fail("no field after v=STSv1", out error);
                break;
            }
            // sts-field-delim = *WSP ";" *WSP
            var trimmed = rest.TrimStart(" \t");
            if (trimmed.IsEmpty || trimmed[0] != ';')
                return Fail(trimmed.IsEmpty ? "whitespace after the last field" : "fields are not separated by \";\"", out error);
            rest = trimmed[1..].TrimStart(" \t");
            if (rest.IsEmpty)
            {
                // A final delimiter is allowed ([sts-field-delim]).
                if (fields == 0)
                    return Fail("no field after v=STSv1", out error);
                break;
            }

            var equals = rest.IndexOf('=');
            if (equals < 0)
                return Fail("a field has no \"=\"", out error);
            var name = rest[..equals];
            if (!PolicyParser.IsKey(name))
                return Fail("invalid field name", out error);
            rest = rest[(equals + 1)..];
            var length = 0;
            while (length < rest.Length && rest[length] is > ' ' and < '\x7f' and not ';' and not '=')
                length++;
            var value = rest[..length];
            rest = rest[length..];
            if (value.IsEmpty)
                return Fail($"field {name} has an empty or invalid value", out error);
            fields++;

            if (name.SequenceEqual("id"))
            {
                if (id is not null)
                    return Fail("id given twice", out error);
                if (!IsValidId(value))
                    return Fail("id is not 1 to 32 letters and digits", out error);
                id = value.ToString();
            }
            else if (name.SequenceEqual("v"))
            {
                return Fail("v given twice", out error);
            }
        }
        if (id is null)
            return Fail("id missing", out error);
        record = new MtaStsRecord(id, text);
        error = null;
        return true;
    }

    /// <summary>sts-id value: 1*32(ALPHA / DIGIT).</summary>
    public static bool IsValidId(ReadOnlySpan<char> id)
    {
        if (id.IsEmpty || id.Length > MaxIdLength)
            return false;
        foreach (var c in id)
        {
            if (!char.IsAsciiLetterOrDigit(c))
                return false;
        }
        return true;
    }

    private static bool Fail(string message, out string? error)
    {
        error = "invalid MTA-STS TXT record: " + message;
        return false;
    }

    public override string ToString() => Text;
}
