using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Tern.Dns;

/// <summary>Domain name syntax: the normalized form used as query and cache key, host name checks, address literals.</summary>
public static class DomainName
{
    // RFC 1035 section 2.3.4: 63 octets a label, 255 a name on the wire, i.e. 253 characters in text without the final dot.
    private const int MaxLabel = 63;
    private const int MaxName = 253;

    /// <summary>
    /// The name as queried: IDNA A-labels (a U-label domain from an SMTPUTF8 address is converted, RFC 6531
    /// section 3.7.3), ASCII lower case, no trailing dot. False for an empty name, the root, an empty or
    /// overlong label, or characters DNS cannot carry.
    /// </summary>
    public static bool TryNormalize(string name, out string normalized, out string? error)
    {
        if (IsNormalized(name))
        {
            // The common case (names from our own answers and earlier normalization) costs no allocation.
            normalized = name;
            error = null;
            return true;
        }
        normalized = "";
        var text = name.AsSpan().Trim();
        if (text.EndsWith("."))
            text = text[..^1];
        if (text.IsEmpty)
        {
            error = "empty domain name";
            return false;
        }
        string ascii;
        if (Ascii.IsValid(text))
        {
            ascii = text.ToString().ToLowerInvariant();
        }
        else
        {
            try
            {
                ascii = new IdnMapping().GetAscii(text.ToString()).ToLowerInvariant();
            }
            catch (ArgumentException)
            {
                error = $"not a valid internationalized domain name: {name}";
                return false;
            }
        }
        if (ascii.Length > MaxName)
        {
            error = $"domain name longer than {MaxName} characters";
            return false;
        }
        foreach (var range in ascii.AsSpan().Split('.'))
        {
            var label = ascii.AsSpan(range);
            if (label.IsEmpty || label.Length > MaxLabel)
            {
                error = $"empty or overlong label in domain name: {name}";
                return false;
            }
            foreach (var c in label)
            {
                // Anything printable goes on the wire (RFC 2181 section 11); spaces and controls are surely mistakes.
                if (c <= ' ' || c >= 0x7f)
                {
                    error = $"invalid character in domain name: {name}";
                    return false;
                }
            }
        }
        normalized = ascii;
        error = null;
        return true;
    }

    /// <summary>Lower-case ASCII, no surrounding space or trailing dot, labels of 1-63 printable characters.</summary>
    private static bool IsNormalized(string name)
    {
        if (name.Length is 0 or > MaxName)
            return false;
        var label = 0;
        foreach (var c in name)
        {
            if (c == '.')
            {
                if (label == 0)
                    return false;
                label = 0;
                continue;
            }
            if (c <= ' ' || c >= 0x7f || char.IsAsciiLetterUpper(c) || ++label > MaxLabel)
                return false;
        }
        return label > 0;
    }

    /// <summary>How a normalized name fares as a host name (RFC 952/1123: letters, digits, hyphens).</summary>
    public static HostNameSyntax CheckHostName(string normalized)
    {
        var result = HostNameSyntax.Valid;
        foreach (var range in normalized.AsSpan().Split('.'))
        {
            var label = normalized.AsSpan(range);
            if (label.IsEmpty || label[0] == '-' || label[^1] == '-')
                return HostNameSyntax.Invalid;
            foreach (var c in label)
            {
                if (char.IsAsciiLetterOrDigit(c) || c == '-')
                    continue;
                if (c == '_')
                    result = HostNameSyntax.Underscore;
                else
                    return HostNameSyntax.Invalid;
            }
        }
        return result;
    }

    /// <summary>
    /// An address literal as a mail domain (RFC 5321 section 4.1.3): "[192.0.2.1]" or "[IPv6:2001:db8::1]".
    /// </summary>
    public static bool TryParseAddressLiteral(string domain, out IPAddress address)
    {
        address = IPAddress.None;
        var text = domain.AsSpan().Trim();
        if (text.Length < 3 || text[0] != '[' || text[^1] != ']')
            return false;
        text = text[1..^1];
        const string v6Tag = "IPv6:";
        if (text.StartsWith(v6Tag, StringComparison.OrdinalIgnoreCase))
        {
            var v6 = text[v6Tag.Length..];
            if (v6.Contains('%') || !IPAddress.TryParse(v6, out var parsed) || parsed.AddressFamily != AddressFamily.InterNetworkV6)
                return false;
            address = parsed;
            return true;
        }
        if (!IsDottedQuad(text) || !IPAddress.TryParse(text, out var v4))
            return false;
        address = v4;
        return true;
    }

    /// <summary>Four decimal numbers 0-255 separated by dots (RFC 5321 IPv4-address-literal), nothing IPAddress.Parse also takes.</summary>
    public static bool IsDottedQuad(ReadOnlySpan<char> text)
    {
        var parts = 0;
        foreach (var range in text.Split('.'))
        {
            var part = text[range];
            if (++parts > 4 || part.IsEmpty || part.Length > 3 || !int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n > 255)
                return false;
        }
        return parts == 4;
    }
}

/// <summary>The result of <see cref="DomainName.CheckHostName"/>.</summary>
public enum HostNameSyntax
{
    Valid,

    /// <summary>Valid except for underscores: not a legal host name, but seen in MX records in the wild and accepted.</summary>
    Underscore,

    Invalid,
}
