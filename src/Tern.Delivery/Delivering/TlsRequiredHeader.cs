namespace Tern.Delivery;

/// <summary>
/// The "TLS-Required: No" header field (RFC 8689 section 5): the sender asks that the message be
/// delivered even when TLS, or the verification a policy (DANE, MTA-STS) demands, is not had.
/// Honoured only when every TLS-Required field of the header section says "No" and the message did
/// not also ask for REQUIRETLS (section 5: the REQUIRETLS parameter wins; mail-behaviour.md).
/// </summary>
public static class TlsRequiredHeader
{
    private static ReadOnlySpan<byte> Name => "tls-required"u8;

    /// <summary>
    /// Whether the header section of <paramref name="message"/> (up to the first empty line) has at
    /// least one TLS-Required field and every one of them says "No" (case-insensitive, surrounding
    /// white space and folding ignored; RFC 8689 section 5 defines no other value, so anything else
    /// is not a "No").
    /// </summary>
    public static bool SaysNo(ReadOnlySpan<byte> message)
    {
        var found = false;
        var at = 0;
        while (at < message.Length)
        {
            var line = LineAt(message, at, out var next);
            if (line.IsEmpty)
            {
                // The empty line that ends the header section (RFC 5322 section 2.1), or the end of a message without body.
                break;
            }

            // A field is its first line plus the continuation lines that start with white space (RFC 5322 section 2.2.3).
            var end = next;
            while (end < message.Length && message[end] is (byte)' ' or (byte)'\t')
            {
                LineAt(message, end, out end);
            }

            if (IsField(line, out var colon))
            {
                found = true;
                if (!IsNo(message[(at + colon + 1)..end]))
                {
                    return false;
                }
            }

            at = end;
        }

        return found;
    }

    /// <summary>The line at <paramref name="at"/> without its CRLF or LF; <paramref name="next"/> is where the next one starts.</summary>
    private static ReadOnlySpan<byte> LineAt(ReadOnlySpan<byte> message, int at, out int next)
    {
        var lf = message[at..].IndexOf((byte)'\n');
        var end = lf < 0 ? message.Length : at + lf;
        next = lf < 0 ? message.Length : end + 1;
        var line = message[at..end];
        return line.Length > 0 && line[^1] == '\r' ? line[..^1] : line;
    }

    /// <summary>The line starts "TLS-Required" followed by optional white space and a colon (RFC 5322 section 4.5.3 allows the white space).</summary>
    private static bool IsField(ReadOnlySpan<byte> line, out int colon)
    {
        colon = -1;
        if (line.Length <= Name.Length || !System.Text.Ascii.EqualsIgnoreCase(line[..Name.Length], Name))
        {
            return false;
        }

        var rest = line[Name.Length..];
        var i = rest.IndexOfAnyExcept((byte)' ', (byte)'\t');
        if (i < 0 || rest[i] != ':')
        {
            return false;
        }

        colon = Name.Length + i;
        return true;
    }

    /// <summary>The value (folding included) is "No" with white space, CR and LF around it.</summary>
    private static bool IsNo(ReadOnlySpan<byte> value)
    {
        var trimmed = value.Trim(" \t\r\n"u8);
        return trimmed.Length == 2 && System.Text.Ascii.EqualsIgnoreCase(trimmed, "no"u8);
    }
}
