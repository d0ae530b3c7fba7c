using System.Globalization;
using System.Text;

namespace Tern.Sasl.Credentials;

/// <summary>
/// The envelope senders (MAIL FROM mailboxes) an account may use, as normalised patterns:
/// <c>local@domain</c> (that address), <c>@domain</c> (any address at exactly that domain, not its
/// subdomains) or <c>*</c> (any sender, the null sender included). Immutable; matching works on the
/// UTF-8 mailbox as the SMTP server parsed it and allocates nothing.
/// </summary>
/// <remarks>
/// Comparison is ordinal on UTF-8 bytes except that ASCII letters match case-insensitively, for
/// the whole address (local part included: RFC 5321 lets a host treat local parts as
/// case-sensitive, but operators expect <c>Alice@</c> and <c>alice@</c> to be one sender). No
/// other normalisation: non-ASCII letters are compared exactly, quoted local parts as given
/// (<c>"alice"@example.org</c> is not <c>alice@example.org</c>), U-labels and A-labels
/// (<c>xn--</c>) are different domains, and an address whose domain ends in a dot matches nothing.
/// </remarks>
internal sealed class SenderAddresses
{
    /// <summary>The pattern for any sender.</summary>
    public const string Any = "*";

    /// <summary>RFC 5321 4.5.3.1.3: a path is at most 256 octets with its angle brackets.</summary>
    public const int MaxBytes = 254;

    private readonly byte[][] _exact;   // full addresses, UTF-8, ASCII letters lower-cased
    private readonly byte[][] _domains; // domains without '@', UTF-8, ASCII letters lower-cased
    private readonly bool _any;

    private SenderAddresses(List<string> patterns)
    {
        Patterns = patterns.AsReadOnly();
        var exact = new List<byte[]>();
        var domains = new List<byte[]>();
        foreach (var pattern in patterns)
        {
            if (pattern == Any)
            {
                _any = true;
            }
            else if (pattern[0] == '@')
            {
                domains.Add(Encoding.UTF8.GetBytes(FoldAscii(pattern[1..])));
            }
            else
            {
                exact.Add(Encoding.UTF8.GetBytes(FoldAscii(pattern)));
            }
        }

        _exact = [.. exact];
        _domains = [.. domains];
    }

    public static SenderAddresses None { get; } = new([]);

    /// <summary>The normalised patterns, in the order given, without duplicates.</summary>
    public IReadOnlyList<string> Patterns { get; }

    /// <summary>
    /// Builds the list from operator input. False (with the offending pattern, escaped for
    /// printing, and the reason) when a pattern is malformed.
    /// </summary>
    public static bool TryCreate(IEnumerable<string?> patterns, out SenderAddresses result, out string badPattern, out string why)
    {
        var list = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var pattern in patterns)
        {
            if (Normalize(pattern, out var normalized) is { } reason)
            {
                result = None;
                badPattern = Printable(pattern ?? "");
                why = reason;
                return false;
            }

            if (seen.Add(FoldAscii(normalized)))
            {
                list.Add(normalized);
            }
        }

        result = list.Count == 0 ? None : new SenderAddresses(list);
        badPattern = "";
        why = "";
        return true;
    }

    /// <summary>
    /// The list for an account given none: its own name when that is an address (exactly one '@',
    /// a local part and a valid domain), else nothing (the account may authenticate but not send).
    /// A name like <c>@example.org</c> or <c>*</c> does not grant a domain or everything.
    /// </summary>
    public static SenderAddresses DefaultFor(string username)
    {
        if (username.Length == 0 || username[0] == '@' || username.Count(c => c == '@') != 1)
        {
            return None;
        }

        return Normalize(username, out var normalized) is null ? new SenderAddresses([normalized]) : None;
    }

    /// <summary>
    /// True when <paramref name="address"/> (the reverse-path mailbox <c>local@domain</c> in UTF-8,
    /// no angle brackets, source route already dropped; empty for the null sender) may be used.
    /// The null sender is allowed only by <c>*</c>.
    /// </summary>
    public bool Allows(ReadOnlySpan<byte> address)
    {
        if (_any)
        {
            return true;
        }

        if (address.IsEmpty)
        {
            return false;
        }

        foreach (var exact in _exact)
        {
            if (EqualsFolded(address, exact))
            {
                return true;
            }
        }

        if (_domains.Length > 0)
        {
            // The domain follows the last '@': a quoted local part may contain '@', a domain never.
            var at = address.LastIndexOf((byte)'@');
            if (at > 0)
            {
                var domain = address[(at + 1)..];
                foreach (var allowed in _domains)
                {
                    if (EqualsFolded(domain, allowed))
                    {
                        return true;
                    }
                }
            }
        }

        return false;
    }

    /// <summary>
    /// Null with <paramref name="normalized"/> set when <paramref name="pattern"/> is a valid
    /// pattern, else why not. Domains are lower-cased (ASCII) and lose one trailing dot; the local
    /// part is kept as given.
    /// </summary>
    internal static string? Normalize(string? pattern, out string normalized)
    {
        normalized = "";
        if (string.IsNullOrEmpty(pattern))
        {
            return "it is empty";
        }

        if (pattern == Any)
        {
            normalized = Any;
            return null;
        }

        int at;
        if (pattern[0] == '"')
        {
            if (CheckQuotedLocalPart(pattern, out var close) is { } bad)
            {
                return bad;
            }

            at = close + 1;
            if (at >= pattern.Length || pattern[at] != '@')
            {
                return "a quoted local part must be followed by @domain";
            }
        }
        else
        {
            at = pattern.IndexOf('@', StringComparison.Ordinal);
            if (at < 0)
            {
                return CheckText(pattern) ?? "it has no domain (use local@domain, @domain or *)";
            }

            if (CheckLocalPart(pattern.AsSpan(0, at)) is { } bad)
            {
                return bad;
            }
        }

        var domainText = pattern[(at + 1)..];
        if (domainText.Contains('@', StringComparison.Ordinal))
        {
            return "it has more than one '@' (only one outside a quoted local part)";
        }

        if (NormalizeDomain(domainText, out var domain) is { } badDomain)
        {
            return badDomain;
        }

        normalized = string.Concat(pattern.AsSpan(0, at + 1), domain);
        if (Encoding.UTF8.GetByteCount(normalized) > MaxBytes)
        {
            return $"it is longer than {MaxBytes} bytes";
        }

        return null;
    }

    /// <summary>ASCII letters lower-cased, everything else unchanged.</summary>
    internal static string FoldAscii(string value) =>
        string.Create(value.Length, value, static (span, source) =>
        {
            for (var i = 0; i < source.Length; i++)
            {
                var c = source[i];
                span[i] = c is >= 'A' and <= 'Z' ? (char)(c | 0x20) : c;
            }
        });

    /// <summary>Control and format characters as \uXXXX, so that a refused pattern can be shown safely.</summary>
    internal static string Printable(string value)
    {
        var builder = new StringBuilder(value.Length);
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                builder.Append(c).Append(value[++i]);
                continue;
            }

            var category = char.GetUnicodeCategory(c);
            if (category is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate
                or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator)
            {
                builder.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:X4}");
            }
            else
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }

    private static bool EqualsFolded(ReadOnlySpan<byte> input, ReadOnlySpan<byte> folded)
    {
        if (input.Length != folded.Length)
        {
            return false;
        }

        for (var i = 0; i < input.Length; i++)
        {
            var b = input[i];
            if ((uint)(b - 'A') <= 'Z' - 'A')
            {
                b |= 0x20;
            }

            if (b != folded[i])
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Dot-string local part (RFC 5321 4.1.2), UTF-8 allowed (RFC 6531). Empty means a domain pattern.</summary>
    private static string? CheckLocalPart(ReadOnlySpan<char> local)
    {
        if (local is "*")
        {
            return "'*@domain' is not a wildcard: use '@domain' for any address at a domain, or '*' alone for any sender";
        }

        for (var i = 0; i < local.Length; i++)
        {
            var c = local[i];
            if (c < 0x80)
            {
                if (!IsAText(c) && c != '.')
                {
                    return Describe(c, "in the local part");
                }
            }
            else if (CheckNonAscii(local, ref i) is { } bad)
            {
                return bad;
            }
        }

        return null;
    }

    /// <summary>Quoted-string local part (RFC 5321 4.1.2): qtextSMTP, quoted-pair, UTF-8 (RFC 6531).</summary>
    private static string? CheckQuotedLocalPart(string pattern, out int close)
    {
        close = -1;
        for (var i = 1; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (c == '"')
            {
                close = i;
                return null;
            }

            if (c == '\\')
            {
                i++;
                if (i >= pattern.Length || pattern[i] is < ' ' or > '~')
                {
                    return "a backslash in a quoted local part must be followed by a printable ASCII character";
                }
            }
            else if (c < 0x80)
            {
                if (c is < ' ' or > '~')
                {
                    return Describe(c, "in the quoted local part");
                }
            }
            else if (CheckNonAscii(pattern, ref i) is { } bad)
            {
                return bad;
            }
        }

        return "the quoted local part has no closing '\"'";
    }

    /// <summary>Domain or address literal; lower-cased (ASCII), one trailing dot dropped.</summary>
    private static string? NormalizeDomain(string domain, out string normalized)
    {
        normalized = "";
        if (domain.Length > 0 && domain[0] == '[')
        {
            if (domain.Length < 3 || domain[^1] != ']')
            {
                return "the address literal must be [address]";
            }

            foreach (var c in domain.AsSpan(1, domain.Length - 2))
            {
                // dtext (RFC 5321 4.1.3 General-address-literal)
                if (c is < '!' or > '~' or '[' or ']' or '\\')
                {
                    return Describe(c, "in the address literal");
                }
            }

            normalized = FoldAscii(domain);
            return null;
        }

        if (domain.EndsWith('.'))
        {
            domain = domain[..^1];
        }

        if (domain.Length == 0)
        {
            return "the domain is empty";
        }

        var labelLength = 0;
        for (var i = 0; i < domain.Length; i++)
        {
            var c = domain[i];
            if (c == '.')
            {
                if (labelLength == 0)
                {
                    return "the domain has an empty label";
                }

                labelLength = 0;
                continue;
            }

            labelLength++;
            if (c == '*')
            {
                return "'*' is not a wildcard in a domain: '@domain' matches that domain only; list each subdomain";
            }

            if (c < 0x80)
            {
                if (!char.IsAsciiLetterOrDigit(c) && c != '-')
                {
                    return Describe(c, "in the domain");
                }
            }
            else if (CheckNonAscii(domain, ref i) is { } bad)
            {
                return bad;
            }
        }

        if (labelLength == 0)
        {
            return "the domain has an empty label";
        }

        normalized = FoldAscii(domain);
        return null;
    }

    /// <summary>The non-ASCII character at <paramref name="i"/> (advanced past a surrogate pair): null when allowed.</summary>
    private static string? CheckNonAscii(ReadOnlySpan<char> text, ref int i)
    {
        if (Rune.DecodeFromUtf16(text[i..], out var rune, out var consumed) != System.Buffers.OperationStatus.Done)
        {
            return "it is not valid Unicode (unpaired surrogate)";
        }

        i += consumed - 1;
        return Rune.GetUnicodeCategory(rune) switch
        {
            UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.SpaceSeparator
                or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
                or UnicodeCategory.OtherNotAssigned or UnicodeCategory.PrivateUse =>
                $"it contains U+{rune.Value:X4}, a space, control, formatting, private-use or unassigned character",
            _ => null,
        };
    }

    /// <summary>The first reason <paramref name="text"/> has a disallowed character, if any.</summary>
    private static string? CheckText(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c < 0x80)
            {
                if (c is <= ' ' or (char)0x7F)
                {
                    return Describe(c, "");
                }
            }
            else if (CheckNonAscii(text, ref i) is { } bad)
            {
                return bad;
            }
        }

        return null;
    }

    private static string Describe(char c, string where)
    {
        var place = where.Length == 0 ? "" : " " + where;
        return c switch
        {
            ' ' => $"it contains a space{place}",
            < ' ' or (char)0x7F => $"it contains control character U+{(int)c:X4}{place}",
            '<' or '>' => $"it contains '{c}' (give the address without angle brackets)",
            _ => $"it contains '{c}'{place}",
        };
    }

    // atext (RFC 5322 3.2.3)
    private static bool IsAText(char c) =>
        char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-/=?^_`{|}~".Contains(c, StringComparison.Ordinal);
}
