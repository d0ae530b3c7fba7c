namespace Tern.Sasl.Text;

/// <summary>
/// Base64 as RFC 5802 section 7 writes it (RFC 4648 alphabet, padded, no whitespace).
/// Convert.TryFromBase64Chars skips whitespace, which the SCRAM grammar does not allow.
/// </summary>
internal static class StrictBase64
{
    public static bool TryDecode(ReadOnlySpan<char> text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out byte[]? bytes)
    {
        bytes = null;
        if (text.Length % 4 != 0)
        {
            return false;
        }

        var padding = text.EndsWith("==") ? 2 : text.EndsWith("=") ? 1 : 0;
        foreach (var c in text[..^padding])
        {
            if (!IsBase64Char(c))
            {
                return false;
            }
        }

        var buffer = new byte[text.Length / 4 * 3 - padding];
        if (!Convert.TryFromBase64Chars(text, buffer, out var written) || written != buffer.Length)
        {
            return false;
        }

        bytes = buffer;
        return true;
    }

    private static bool IsBase64Char(char c) => c is (>= 'A' and <= 'Z') or (>= 'a' and <= 'z') or (>= '0' and <= '9') or '+' or '/';
}
