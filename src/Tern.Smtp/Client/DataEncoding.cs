namespace Tern.Smtp.Client;

/// <summary>
/// Message content on its way out: dot-stuffing for DATA (RFC 5321 4.5.2) and line-end repair.
/// Tern never emits a bare CR or LF (RFC 5321 2.3.8; servers that accept them differently from the
/// next hop make SMTP smuggling possible): the spool's content is CRLF already, but a bare CR or LF
/// that got there anyway is sent as CRLF. Resumable, so that the caller can flush between pieces.
/// </summary>
internal static class DataEncoding
{
    /// <summary>The most a single step writes: a stuffed dot and the dot itself, or CRLF.</summary>
    private const int MaxStep = 2;

    /// <summary>The most <see cref="Finish"/> writes: CRLF (when the content does not end with one) and ".CRLF".</summary>
    public const int MaxFinish = 5;

    /// <summary>
    /// Encodes from <paramref name="position"/> until <paramref name="input"/> is done or
    /// <paramref name="output"/> is nearly full; returns the bytes written. <paramref name="lineStart"/>
    /// starts true. <paramref name="repaired"/> is set when a bare CR or LF was seen.
    /// </summary>
    public static int Encode(ReadOnlySpan<byte> input, ref int position, ref bool lineStart, Span<byte> output, bool stuffDots, ref bool repaired)
    {
        var written = 0;
        var pos = position;
        while (pos < input.Length)
        {
            var room = output.Length - written;
            if (lineStart && stuffDots && input[pos] == '.')
            {
                // RFC 5321 4.5.2: a line starting with "." gets one more.
                if (room < MaxStep)
                {
                    break;
                }

                output[written++] = (byte)'.';
                output[written++] = (byte)'.';
                pos++;
                lineStart = false;
                continue;
            }

            var rest = input[pos..];
            var end = rest.IndexOfAny((byte)'\r', (byte)'\n');
            var run = end < 0 ? rest.Length : end;
            if (run > 0)
            {
                var n = Math.Min(run, room);
                if (n == 0)
                {
                    break;
                }

                rest[..n].CopyTo(output[written..]);
                written += n;
                pos += n;
                lineStart = false;
                continue;
            }

            if (room < MaxStep)
            {
                break;
            }

            if (rest[0] == '\r' && rest.Length > 1 && rest[1] == '\n')
            {
                pos += 2;
            }
            else
            {
                pos++;
                repaired = true;
            }

            output[written++] = (byte)'\r';
            output[written++] = (byte)'\n';
            lineStart = true;
        }

        position = pos;
        return written;
    }

    /// <summary>The end of DATA content: CRLF if the content did not end with one, then ".CRLF" (RFC 5321 4.1.1.4).</summary>
    public static int Finish(bool lineStart, Span<byte> output)
    {
        var n = 0;
        if (!lineStart)
        {
            output[n++] = (byte)'\r';
            output[n++] = (byte)'\n';
        }

        output[n++] = (byte)'.';
        output[n++] = (byte)'\r';
        output[n++] = (byte)'\n';
        return n;
    }

    /// <summary>True when <paramref name="input"/> has a CR not followed by LF or an LF not preceded by CR.</summary>
    public static bool HasBareLineEnd(ReadOnlySpan<byte> input)
    {
        var pos = 0;
        while (true)
        {
            var i = input[pos..].IndexOfAny((byte)'\r', (byte)'\n');
            if (i < 0)
            {
                return false;
            }

            pos += i;
            if (input[pos] == '\n' || pos + 1 >= input.Length || input[pos + 1] != '\n')
            {
                return true;
            }

            pos += 2;
        }
    }
}
