using System.Globalization;
using System.Text;

namespace Tern.Smtp.Protocol;

/// <summary>
/// Internationalised domain names (RFC 5890/5891): with SMTPUTF8 a domain may arrive as U-labels;
/// comparisons (relay domains, account senders) and DNS use the A-label form. ASCII names stay on
/// the fast path; only UTF-8 names are converted (and allocate).
/// </summary>
public static class Idna
{
    private static readonly IdnMapping Mapping = new() { AllowUnassigned = false, UseStd3AsciiRules = true };

    /// <summary>
    /// The lower-case A-label form of a UTF-8 domain ("Bücher.Example" -> "xn--bcher-kva.example"),
    /// or null when it is not a valid IDN. Case folding is applied before the conversion (UTS 46 maps
    /// upper case; the managed IdnMapping of an invariant-globalization build does not).
    /// </summary>
    public static string? ToAscii(ReadOnlySpan<byte> utf8Domain)
    {
        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(utf8Domain);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }

        text = text.ToLowerInvariant();
        if (System.Text.Ascii.IsValid(text))
        {
            return text;
        }

        try
        {
            return Mapping.GetAscii(text);
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    /// <summary>Whether a UTF-8 domain is a valid IDN (ASCII names are checked by the path grammar).</summary>
    public static bool IsValid(ReadOnlySpan<byte> utf8Domain) => ToAscii(utf8Domain) is not null;

    /// <summary>Compares a domain from the wire with a configured domain already in lower-case A-label form.</summary>
    public static bool EqualsNormalized(ReadOnlySpan<byte> utf8Domain, string normalized)
    {
        if (!System.Text.Ascii.IsValid(utf8Domain))
        {
            return ToAscii(utf8Domain) is { } a && a == normalized;
        }

        if (utf8Domain.Length != normalized.Length)
        {
            return false;
        }

        for (var i = 0; i < utf8Domain.Length; i++)
        {
            var b = utf8Domain[i];
            if (b is >= (byte)'A' and <= (byte)'Z')
            {
                b += 0x20;
            }

            if (b != normalized[i])
            {
                return false;
            }
        }

        return true;
    }
}
