using System.Buffers;
using System.Text.Unicode;

namespace Tern.Smtp.Protocol;

/// <summary>Why a path was refused.</summary>
public enum PathError : byte
{
    None,
    Syntax,

    /// <summary>Non-ASCII characters without SMTPUTF8 on MAIL (RFC 6531 3.4).</summary>
    NeedsSmtpUtf8,

    /// <summary>Longer than 256 octets (RFC 5321 4.5.3.1.3) or a local part over 64 octets (4.5.3.1.1).</summary>
    TooLong,
}

/// <summary>
/// A parsed RFC 5321 path (4.1.2): offsets into the argument it was parsed from, so that it can be
/// kept without copying. Source routes (<c>@a,@b:</c>) are accepted and ignored (RFC 5321 C).
/// </summary>
public readonly struct SmtpPath
{
    /// <summary>Offset and length of <c>local@domain</c> (empty for the null path <c>&lt;&gt;</c>).</summary>
    public readonly int Start;
    public readonly int Length;

    /// <summary>Offset of the domain within the mailbox (after '@'); -1 for <c>&lt;Postmaster&gt;</c> and the null path.</summary>
    public readonly int DomainOffset;

    public readonly bool IsQuoted;

    public readonly bool HasNonAscii;

    /// <summary>The local part contains characters used by old routing tricks ('%', '!', or '@' inside quotes).</summary>
    public readonly bool HasRoutingCharacters;

    public readonly bool IsAddressLiteral;

    internal SmtpPath(int start, int length, int domainOffset, bool quoted, bool nonAscii, bool routing, bool literal)
    {
        Start = start;
        Length = length;
        DomainOffset = domainOffset;
        IsQuoted = quoted;
        HasNonAscii = nonAscii;
        HasRoutingCharacters = routing;
        IsAddressLiteral = literal;
    }

    public bool IsNull => Length == 0;

    public ReadOnlySpan<byte> Mailbox(ReadOnlySpan<byte> source) => source.Slice(Start, Length);

    public ReadOnlySpan<byte> LocalPart(ReadOnlySpan<byte> source) =>
        DomainOffset < 0 ? Mailbox(source) : source.Slice(Start, DomainOffset - 1);

    public ReadOnlySpan<byte> Domain(ReadOnlySpan<byte> source) =>
        DomainOffset < 0 ? default : source.Slice(Start + DomainOffset, Length - DomainOffset);
}

/// <summary>RFC 5321 4.1.2 path grammar, with RFC 6531 UTF-8 extensions when allowed.</summary>
public static class SmtpPathParser
{
    public const int MaxPathLength = 256;
    public const int MaxLocalPartLength = 64;
    public const int MaxDomainLength = 255;

    // atext (RFC 5322 3.2.3).
    private static readonly SearchValues<byte> AText = SearchValues.Create(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-/=?^_`{|}~"u8);

    private static readonly SearchValues<byte> LetDig = SearchValues.Create(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"u8);

    /// <summary>
    /// Parses <c>&lt;...&gt;</c> at the start of <paramref name="s"/>. <paramref name="consumed"/> is the
    /// number of bytes up to and including '&gt;'. Offsets in the result are relative to <paramref name="s"/>
    /// plus <paramref name="baseOffset"/>.
    /// </summary>
    public static PathError TryParse(ReadOnlySpan<byte> s, int baseOffset, bool allowNull, bool allowPostmaster, bool allowUtf8, out SmtpPath path, out int consumed)
    {
        path = default;
        consumed = 0;
        if (s.Length < 2 || s[0] != '<')
        {
            return PathError.Syntax;
        }

        var i = 1;
        if (s[1] == '>')
        {
            if (!allowNull)
            {
                return PathError.Syntax;
            }

            consumed = 2;
            path = new SmtpPath(baseOffset + 1, 0, -1, false, false, false, false);
            return PathError.None;
        }

        // Source route: "@one,@two:" (A-d-l), accepted and ignored.
        if (s[i] == '@')
        {
            var colon = s.IndexOf((byte)':');
            var close = s.IndexOf((byte)'>');
            if (colon < 0 || (close >= 0 && colon > close))
            {
                return PathError.Syntax;
            }

            foreach (var hop in SplitRoute(s[1..colon]))
            {
                if (hop.Length < 2 || hop[0] != '@' || !IsDomain(hop[1..], allowUtf8, out _))
                {
                    return PathError.Syntax;
                }
            }

            i = colon + 1;
        }

        var mailboxStart = i;
        var quoted = false;
        var nonAscii = false;
        var routing = false;

        // Local part: Dot-string or Quoted-string.
        if (i < s.Length && s[i] == '"')
        {
            quoted = true;
            i++;
            while (true)
            {
                if (i >= s.Length)
                {
                    return PathError.Syntax;
                }

                var b = s[i];
                if (b == '"')
                {
                    i++;
                    break;
                }

                if (b == '\\')
                {
                    // quoted-pairSMTP = %d92 %d32-126
                    if (i + 1 >= s.Length || s[i + 1] < 32 || s[i + 1] > 126)
                    {
                        return PathError.Syntax;
                    }

                    routing |= s[i + 1] is (byte)'@' or (byte)'%' or (byte)'!';
                    i += 2;
                    continue;
                }

                if (b >= 0x80)
                {
                    nonAscii = true;
                }
                else if (b < 32 || b == 127)
                {
                    return PathError.Syntax;
                }

                routing |= b is (byte)'@' or (byte)'%' or (byte)'!';
                i++;
            }
        }
        else
        {
            var atomStart = true;
            while (i < s.Length && s[i] != '@' && s[i] != '>')
            {
                var b = s[i];
                if (b == '.')
                {
                    if (atomStart)
                    {
                        return PathError.Syntax;
                    }

                    atomStart = true;
                }
                else if (AText.Contains(b))
                {
                    atomStart = false;
                    routing |= b is (byte)'%' or (byte)'!';
                }
                else if (b >= 0x80)
                {
                    atomStart = false;
                    nonAscii = true;
                }
                else
                {
                    return PathError.Syntax;
                }

                i++;
            }

            if (atomStart)
            {
                // Empty local part or trailing dot.
                return PathError.Syntax;
            }
        }

        var localLength = i - mailboxStart;
        if (i >= s.Length)
        {
            return PathError.Syntax;
        }

        int domainOffset;
        var literal = false;
        if (s[i] == '>')
        {
            // Only <Postmaster> may omit the domain (RFC 5321 4.1.1.3).
            if (!allowPostmaster || quoted || !Ascii.EqualsIgnoreCase(s[mailboxStart..i], "POSTMASTER"u8))
            {
                return PathError.Syntax;
            }

            domainOffset = -1;
        }
        else
        {
            // s[i] == '@'
            i++;
            var domainStart = i;
            var close = s[i..].IndexOf((byte)'>');
            if (close < 0)
            {
                return PathError.Syntax;
            }

            var domain = s.Slice(domainStart, close);
            if (domain.Length > 0 && domain[0] == '[')
            {
                if (!IsAddressLiteral(domain))
                {
                    return PathError.Syntax;
                }

                literal = true;
            }
            else if (!IsDomain(domain, allowUtf8: true, out var domainNonAscii) || (domainNonAscii && allowUtf8 && !Idna.IsValid(domain)))
            {
                // A U-label domain must be a valid IDN (RFC 5891), checked only when SMTPUTF8 allows it.
                return PathError.Syntax;
            }
            else
            {
                nonAscii |= domainNonAscii;
            }

            domainOffset = domainStart - mailboxStart;
            i = domainStart + close;
        }

        // s[i] == '>'
        var mailboxLength = i - mailboxStart;
        consumed = i + 1;
        if (nonAscii)
        {
            if (!allowUtf8)
            {
                return PathError.NeedsSmtpUtf8;
            }

            if (!Utf8.IsValid(s.Slice(mailboxStart, mailboxLength)))
            {
                return PathError.Syntax;
            }
        }

        if (consumed > MaxPathLength || localLength > MaxLocalPartLength)
        {
            return PathError.TooLong;
        }

        path = new SmtpPath(baseOffset + mailboxStart, mailboxLength, domainOffset, quoted, nonAscii, routing, literal);
        return PathError.None;
    }

    /// <summary>RFC 5321 Domain: sub-domains of Let-dig [Ldh-str], no trailing dot; U-labels with SMTPUTF8.</summary>
    public static bool IsDomain(ReadOnlySpan<byte> domain, bool allowUtf8, out bool nonAscii)
    {
        nonAscii = false;
        if (domain.Length is 0 or > MaxDomainLength)
        {
            return false;
        }

        var labelLength = 0;
        byte previous = (byte)'.';
        foreach (var b in domain)
        {
            if (b == '.')
            {
                if (labelLength == 0 || previous == '-')
                {
                    return false;
                }

                labelLength = 0;
            }
            else if (LetDig.Contains(b) || (b >= 0x80 && allowUtf8))
            {
                nonAscii |= b >= 0x80;
                labelLength++;
            }
            else if (b == '-')
            {
                if (labelLength == 0)
                {
                    return false;
                }

                labelLength++;
            }
            else
            {
                return false;
            }

            if (labelLength > 63 && !nonAscii)
            {
                return false;
            }

            previous = b;
        }

        return labelLength > 0 && previous != '-' && (!nonAscii || Utf8.IsValid(domain));
    }

    /// <summary>RFC 5321 4.1.3 address literal: [IPv4], [IPv6:...], or a general literal [tag:content].</summary>
    public static bool IsAddressLiteral(ReadOnlySpan<byte> literal)
    {
        if (literal.Length < 3 || literal[0] != '[' || literal[^1] != ']')
        {
            return false;
        }

        var inner = literal[1..^1];
        Span<char> chars = stackalloc char[64];
        if (inner.Length > chars.Length)
        {
            return false;
        }

        if (Ascii.StartsWithIgnoreCase(inner, "IPV6:"u8))
        {
            var v6 = inner[5..];
            for (var k = 0; k < v6.Length; k++)
            {
                chars[k] = (char)v6[k];
            }

            return System.Net.IPAddress.TryParse(chars[..v6.Length], out var a6) &&
                a6.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && !v6.Contains((byte)'%');
        }

        // IPv4: exactly four dotted decimal octets.
        var dots = 0;
        foreach (var b in inner)
        {
            if (b == '.')
            {
                dots++;
            }
            else if ((uint)(b - '0') > 9)
            {
                return false;
            }
        }

        for (var k = 0; k < inner.Length; k++)
        {
            chars[k] = (char)inner[k];
        }

        return dots == 3 && System.Net.IPAddress.TryParse(chars[..inner.Length], out var a4) &&
            a4.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork;
    }

    private static RouteEnumerator SplitRoute(ReadOnlySpan<byte> route) => new(route);

    private ref struct RouteEnumerator(ReadOnlySpan<byte> rest)
    {
        private ReadOnlySpan<byte> _rest = rest;
        private bool _done;

        public ReadOnlySpan<byte> Current { get; private set; }

        public readonly RouteEnumerator GetEnumerator() => this;

        public bool MoveNext()
        {
            if (_done)
            {
                return false;
            }

            var comma = _rest.IndexOf((byte)',');
            if (comma < 0)
            {
                Current = _rest;
                _done = true;
            }
            else
            {
                Current = _rest[..comma];
                _rest = _rest[(comma + 1)..];
            }

            return true;
        }
    }
}
