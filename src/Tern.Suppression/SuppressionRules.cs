namespace Tern.Suppression;

/// <summary>The codes of an SMTP reply's first line: the basic code (RFC 5321) and, when present, the enhanced code (RFC 3463).</summary>
/// <param name="Basic">The three-digit reply code, e.g. 550.</param>
/// <param name="Class">The enhanced code's class (2, 4 or 5); 0 when the reply has no enhanced code.</param>
/// <param name="Subject">The enhanced code's subject (0 to 999).</param>
/// <param name="Detail">The enhanced code's detail (0 to 999).</param>
public readonly record struct ReplyCode(int Basic, int Class, int Subject, int Detail)
{
    public bool HasEnhanced => Class != 0;

    /// <summary>A 5xx reply.</summary>
    public bool IsPermanent => Basic is >= 500 and <= 599;

    public override string ToString() => HasEnhanced ? $"{Basic} {Class}.{Subject}.{Detail}" : Basic.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>
/// Which permanent failures suppress an address at once. Only the first line of a reply counts
/// (every line of a multi-line reply carries the same codes, RFC 5321 section 4.2.1, RFC 3463
/// section 2): with an enhanced code, class 5 and subject.detail one of 1.1 (bad destination
/// mailbox), 1.2 (bad destination system), 1.3 (bad destination mailbox syntax), 1.6 (mailbox
/// moved), 2.1 (mailbox disabled) or 7.1 (delivery not authorised); without one, the basic codes
/// 521 (host does not accept mail, RFC 7504), 550 (mailbox unavailable), 551 (user not local),
/// 553 (mailbox name not allowed) and 556 (domain does not accept mail, RFC 7504). Any other 5xx
/// (e.g. 552 5.2.2 mailbox full, 554 5.6.0 content refused) only counts toward the threshold of
/// consecutive failures.
/// </summary>
public static class SuppressionRules
{
    /// <summary>Whether the reply is a permanent failure that suppresses its recipient at once.</summary>
    /// <param name="reply">The full reply text (first line "550 5.1.1 ...", possibly more lines).</param>
    public static bool SuppressesAtOnce(string reply) => TryParse(reply, out var code) && SuppressesAtOnce(code);

    /// <summary>Whether the codes suppress at once (see the class remarks).</summary>
    public static bool SuppressesAtOnce(ReplyCode code)
    {
        if (!code.IsPermanent)
        {
            return false;
        }

        if (code.HasEnhanced)
        {
            return code.Class == 5 && (code.Subject, code.Detail) is (1, 1) or (1, 2) or (1, 3) or (1, 6) or (2, 1) or (7, 1);
        }

        return code.Basic is 521 or 550 or 551 or 553 or 556;
    }

    /// <summary>Whether the reply is a 5xx (anything else, including text without a code, is not).</summary>
    public static bool IsPermanent(string reply) => TryParse(reply, out var code) && code.IsPermanent;

    /// <summary>
    /// Reads the codes from the first line of a reply: three digits (first 2 to 5), then the end of
    /// the line, a space or '-' (a continuation line); then, optionally, an enhanced code
    /// class.subject.detail (class 2, 4 or 5; one to three digits each) followed by the end of the line
    /// or white space. Leading white space is tolerated. False for anything else.
    /// </summary>
    public static bool TryParse(string? reply, out ReplyCode code)
    {
        code = default;
        if (reply is null)
        {
            return false;
        }

        var line = reply.AsSpan();
        var nl = line.IndexOfAny('\r', '\n');
        if (nl >= 0)
        {
            line = line[..nl];
        }

        line = line.TrimStart();
        if (line.Length < 3 || line[0] is < '2' or > '5' || !char.IsAsciiDigit(line[1]) || !char.IsAsciiDigit(line[2]))
        {
            return false;
        }

        var basic = ((line[0] - '0') * 100) + ((line[1] - '0') * 10) + (line[2] - '0');
        if (line.Length > 3 && line[3] is not (' ' or '-'))
        {
            return false;
        }

        code = new ReplyCode(basic, 0, 0, 0);
        var rest = line.Length > 3 ? line[4..].TrimStart(' ') : [];
        if (rest.Length < 5 || rest[0] is not ('2' or '4' or '5') || rest[1] != '.')
        {
            return true;
        }

        var pos = 2;
        if (!Number(rest, ref pos, out var subject) || pos >= rest.Length || rest[pos] != '.')
        {
            return true;
        }

        pos++;
        if (!Number(rest, ref pos, out var detail) || (pos < rest.Length && !char.IsWhiteSpace(rest[pos])))
        {
            return true;
        }

        code = new ReplyCode(basic, rest[0] - '0', subject, detail);
        return true;
    }

    /// <summary>One to three digits.</summary>
    private static bool Number(ReadOnlySpan<char> text, ref int pos, out int value)
    {
        value = 0;
        var start = pos;
        while (pos < text.Length && char.IsAsciiDigit(text[pos]) && pos - start < 4)
        {
            value = (value * 10) + (text[pos] - '0');
            pos++;
        }

        return pos - start is >= 1 and <= 3;
    }
}
