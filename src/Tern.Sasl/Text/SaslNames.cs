using System.Globalization;
using System.Text;

namespace Tern.Sasl.Text;

/// <summary>
/// The rules for account names and passwords ("SASLprep-lite"). Names and passwords are used
/// exactly as given, case-sensitive, compared as UTF-8 bytes (as mox and Dovecot do). Full
/// SASLprep (RFC 4013) would need NFKC normalisation, which a binary built with
/// InvariantGlobalization does not have; instead, what SASLprep would map or prohibit is refused
/// when an account is created, so that a stored name or password is one that every client
/// (with or without SASLprep) sends as the same bytes.
/// </summary>
internal static class SaslNames
{
    /// <summary>RFC 4616 section 2 requires accepting at least 255 octets; names longer than that are refused.</summary>
    public const int MaxUsernameBytes = 255;

    public const int MaxPasswordBytes = 1024;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Null when <paramref name="username"/> may be an account name, else why not.</summary>
    public static string? CheckUsername(string username)
    {
        if (username.Length == 0)
        {
            return "the username is empty";
        }

        if (username[0] == ' ' || username[^1] == ' ')
        {
            return "the username starts or ends with a space";
        }

        return Check(username, "username", MaxUsernameBytes);
    }

    /// <summary>Null when <paramref name="password"/> may be stored, else why not (never quoting the password).</summary>
    public static string? CheckPassword(string password) =>
        password.Length == 0 ? "the password is empty" : Check(password, "password", MaxPasswordBytes);

    /// <summary>Decodes UTF-8 from the peer; null when the bytes are not valid UTF-8.</summary>
    public static string? DecodeUtf8(ReadOnlySpan<byte> bytes) =>
        System.Text.Unicode.Utf8.IsValid(bytes) ? StrictUtf8.GetString(bytes) : null;

    private static string? Check(string value, string what, int maxBytes)
    {
        int bytes;
        try
        {
            bytes = StrictUtf8.GetByteCount(value);
        }
        catch (EncoderFallbackException)
        {
            return $"the {what} is not valid Unicode (unpaired surrogate)";
        }

        if (bytes > maxBytes)
        {
            return $"the {what} is longer than {maxBytes} bytes";
        }

        foreach (var rune in value.EnumerateRunes())
        {
            if (!Allowed(rune))
            {
                return $"the {what} contains U+{rune.Value:X4}, a control, formatting, private-use, unassigned or non-ASCII space character";
            }
        }

        return null;
    }

    /// <summary>
    /// RFC 4013 prohibits controls (C.2), private use (C.3), non-characters and surrogates
    /// (C.4, C.5), bidi and tagging formats (C.8, C.9) and, for stored strings, unassigned code
    /// points; it maps non-ASCII spaces (C.1.2) to U+0020. All of those are refused here.
    /// </summary>
    private static bool Allowed(Rune rune) => Rune.GetUnicodeCategory(rune) switch
    {
        UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned
            or UnicodeCategory.Surrogate or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator => false,
        UnicodeCategory.SpaceSeparator => rune.Value == ' ',
        _ => true,
    };
}
