using System.Globalization;

namespace Tern.MtaSts;

/// <summary>
/// The policy body grammar of RFC 8461 section 3.2, read strictly:
/// <list type="bullet">
/// <item>One "key: value" field a line; lines end in LF or CRLF (the grammar's sts-policy-term; errata
/// 6253), the last one may end without. A CR anywhere else is an error. Empty lines are skipped (the
/// grammar has none, but they change no meaning).</item>
/// <item>Keys are case-sensitive (%s in the grammar): "Mode" is an unknown key, not the mode.
/// Unknown keys are ignored when syntactically valid (name: a letter or digit, then up to 31 letters,
/// digits, "_", "-", "."; value: non-empty, printable), and make the policy invalid otherwise.</item>
/// <item>"version: STSv1", "mode: enforce|testing|none" and "max_age: 0..31557600" (at most 10
/// digits) are required exactly once. Section 3.2 says later duplicates SHOULD be ignored; Tern
/// treats a duplicated one as invalid instead, because two modes or ages leave the domain's intent
/// in doubt (the rule). "mx" repeats; at least one is required unless the mode is none.</item>
/// <item>An mx value is a domain in A-labels (RFC 5321 Domain: letters, digits and inner hyphens,
/// labels of 1 to 63, no trailing dot), optionally after "*." (section 4.1).</item>
/// <item>Whitespace (SP, HTAB) may follow the colon and end a line, never start one.</item>
/// </list>
/// </summary>
internal static class PolicyParser
{
    private const int MaxKeyLength = 32;
    private const int MaxAgeDigits = 10;

    public static bool TryParse(string text, string id, out MtaStsPolicy? policy, out string? error)
    {
        policy = null;
        string? version = null;
        MtaStsMode? mode = null;
        int? maxAge = null;
        var mx = new List<string>();

        var lineNumber = 0;
        var rest = text.AsSpan();
        while (!rest.IsEmpty)
        {
            lineNumber++;
            var end = rest.IndexOf('\n');
            var line = end < 0 ? rest : rest[..end];
            rest = end < 0 ? [] : rest[(end + 1)..];
            if (line.EndsWith("\r"))
                line = line[..^1];
            if (line.IsEmpty)
                continue;
            if (line.Contains('\r'))
                return Fail(lineNumber, "carriage return inside a line", out error);

            var colon = line.IndexOf(':');
            if (colon < 0)
                return Fail(lineNumber, "no \"key:\"", out error);
            var key = line[..colon];
            if (!IsKey(key))
                return Fail(lineNumber, "invalid field name", out error);
            var value = line[(colon + 1)..].TrimStart(" \t").TrimEnd(" \t");

            switch (key)
            {
                case "version":
                    if (version is not null)
                        return Fail(lineNumber, "version given twice", out error);
                    if (!value.SequenceEqual("STSv1"))
                        return Fail(lineNumber, "version is not STSv1", out error);
                    version = "STSv1";
                    break;
                case "mode":
                    if (mode is not null)
                        return Fail(lineNumber, "mode given twice", out error);
                    mode = value switch
                    {
                        "enforce" => MtaStsMode.Enforce,
                        "testing" => MtaStsMode.Testing,
                        "none" => MtaStsMode.None,
                        _ => null,
                    };
                    if (mode is null)
                        return Fail(lineNumber, "mode is not enforce, testing or none", out error);
                    break;
                case "max_age":
                    if (maxAge is not null)
                        return Fail(lineNumber, "max_age given twice", out error);
                    if (value.IsEmpty || value.Length > MaxAgeDigits || value.ContainsAnyExceptInRange('0', '9')
                        || !long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
                        || seconds > MtaStsPolicy.MaxMaxAgeSeconds)
                        return Fail(lineNumber, $"max_age is not a number of seconds from 0 to {MtaStsPolicy.MaxMaxAgeSeconds}", out error);
                    maxAge = (int)seconds;
                    break;
                case "mx":
                    if (!IsMxPattern(value))
                        return Fail(lineNumber, "mx is not a host name or \"*.\" and a domain (A-labels, no trailing dot)", out error);
                    mx.Add(value.ToString().ToLowerInvariant());
                    break;
                default:
                    // Extensions are ignored (section 3.2), but only when well formed.
                    if (!IsExtensionValue(value))
                        return Fail(lineNumber, "invalid value of field " + key.ToString(), out error);
                    break;
            }
        }

        if (version is null)
            return Fail(0, "version missing", out error);
        if (mode is null)
            return Fail(0, "mode missing", out error);
        if (maxAge is null)
            return Fail(0, "max_age missing", out error);
        if (mx.Count == 0 && mode != MtaStsMode.None)
            return Fail(0, "mx missing (required unless mode is none)", out error);

        policy = new MtaStsPolicy(id, mode.Value, mx.ToArray(), maxAge.Value, text);
        error = null;
        return true;
    }

    private static bool Fail(int line, string message, out string? error)
    {
        error = line > 0 ? $"invalid policy, line {line}: {message}" : "invalid policy: " + message;
        return false;
    }

    /// <summary>sts-policy-ext-name (and the known names): (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".").</summary>
    internal static bool IsKey(ReadOnlySpan<char> key)
    {
        if (key.IsEmpty || key.Length > MaxKeyLength || !char.IsAsciiLetterOrDigit(key[0]))
            return false;
        foreach (var c in key[1..])
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('_' or '-' or '.'))
                return false;
        }
        return true;
    }

    /// <summary>sts-policy-ext-value: visible characters (UTF-8 allowed) with inner spaces only.</summary>
    private static bool IsExtensionValue(ReadOnlySpan<char> value)
    {
        if (value.IsEmpty)
            return false;
        foreach (var c in value)
        {
            if (c < ' ' || c == '\x7f')
                return false;
        }
        return true;
    }

    /// <summary>sts-policy-mx-value = ["*."] Domain (RFC 5321 section 4.1.2), A-labels only (RFC 8461 section 3.2).</summary>
    internal static bool IsMxPattern(ReadOnlySpan<char> value)
    {
        if (value.StartsWith("*."))
            value = value[2..];
        return IsDomain(value);
    }

    /// <summary>sub-domain *("." sub-domain); sub-domain = Let-dig [Ldh-str]; 1 to 63 a label, 253 in all.</summary>
    internal static bool IsDomain(ReadOnlySpan<char> domain)
    {
        if (domain.IsEmpty || domain.Length > 253)
            return false;
        foreach (var range in domain.Split('.'))
        {
            var label = domain[range];
            if (label.IsEmpty || label.Length > 63 || !char.IsAsciiLetterOrDigit(label[0]) || !char.IsAsciiLetterOrDigit(label[^1]))
                return false;
            foreach (var c in label)
            {
                if (!char.IsAsciiLetterOrDigit(c) && c != '-')
                    return false;
            }
        }
        return true;
    }
}
