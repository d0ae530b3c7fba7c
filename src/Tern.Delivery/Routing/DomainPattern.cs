using System.Globalization;

namespace Tern.Delivery;

/// <summary>
/// Domain names in routes: syntax checks (RFC 1035 section 2.3.1 with RFC 1123 section 2.1, IDNs in
/// A-label form per RFC 5890 section 2.3.2.1) and matching, where a leading "." also matches every
/// subdomain.
/// </summary>
internal static class DomainPattern
{
    /// <summary>RFC 1035 section 2.3.4: 255 octets on the wire, 253 characters in text form.</summary>
    private const int MaxLength = 253;

    private const int MaxLabel = 63;

    /// <summary>Whether <paramref name="domain"/> is matched by <paramref name="pattern"/> (both ASCII, any case).</summary>
    public static bool Matches(string pattern, ReadOnlySpan<char> domain)
    {
        if (pattern.StartsWith('.'))
        {
            var parent = pattern.AsSpan(1);
            return domain.Equals(parent, StringComparison.OrdinalIgnoreCase)
                || domain.EndsWith(pattern, StringComparison.OrdinalIgnoreCase);
        }

        return domain.Equals(pattern, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Whether any pattern matches; an empty list matches every domain, including none.</summary>
    public static bool MatchesAny(string[] patterns, string domain)
    {
        if (patterns.Length == 0)
        {
            return true;
        }

        foreach (var p in patterns)
        {
            if (Matches(p, domain))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Why <paramref name="pattern"/> is not a valid domain or ".domain" pattern, or null when it is.</summary>
    public static string? Problem(string pattern) =>
        pattern.StartsWith('.') ? DomainProblem(pattern[1..], pattern) : DomainProblem(pattern, pattern);

    /// <summary>Why <paramref name="domain"/> is not a valid host name in A-label form, or null when it is.</summary>
    public static string? DomainProblem(string domain, string shown)
    {
        if (domain.Length == 0)
        {
            return $"\"{shown}\" is not a domain name";
        }

        if (!System.Text.Ascii.IsValid(domain))
        {
            var alabel = ToALabel(domain);
            return alabel is null
                ? $"\"{shown}\" is not a valid internationalised domain name"
                : $"\"{shown}\" must be written in A-label form: \"{(shown.StartsWith('.') ? "." : "")}{alabel}\"";
        }

        if (domain.Length > MaxLength)
        {
            return $"\"{shown}\" is longer than {MaxLength} characters";
        }

        foreach (var range in domain.AsSpan().Split('.'))
        {
            var label = domain.AsSpan(range);
            if (label.Length == 0 || label.Length > MaxLabel)
            {
                return $"\"{shown}\" has an empty label or one longer than {MaxLabel} characters";
            }

            if (label[0] == '-' || label[^1] == '-')
            {
                return $"\"{shown}\" has a label that starts or ends with \"-\"";
            }

            foreach (var c in label)
            {
                if (!char.IsAsciiLetterOrDigit(c) && c != '-')
                {
                    return $"\"{shown}\" contains \"{c}\" (letters, digits, \"-\" and \".\" only)";
                }
            }
        }

        return null;
    }

    private static string? ToALabel(string domain)
    {
        try
        {
            return new IdnMapping { UseStd3AsciiRules = true }.GetAscii(domain.ToLowerInvariant());
        }
        catch (ArgumentException)
        {
            return null;
        }
    }
}
