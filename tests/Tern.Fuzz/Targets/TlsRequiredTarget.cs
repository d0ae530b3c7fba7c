using System.Buffers;
using Tern.Delivery;
using Tern.Fuzz.Support;
using Tern.Hosting;

namespace Tern.Fuzz.Targets;

/// <summary>
/// The TLS-Required header field (RFC 8689 section 5) on both sides: the spool writer's streaming
/// <see cref="TlsRequiredHeaderScanner"/> fed the message in chunks as DATA delivers it, and
/// delivery's <see cref="TlsRequiredHeader.SaysNo"/> on the stored message. For a message the server
/// would store (CRLF line ends only), a "TLS-Required: No" that delivery honours must have been seen
/// by the scanner, or automatic REQUIRETLS would override the sender's explicit choice.
/// </summary>
internal static class TlsRequiredTarget
{
    public static void Run(ReadOnlySpan<byte> input)
    {
        var scanner = default(TlsRequiredHeaderScanner);
        scanner.Reset();
        Chunks.Feed(input.ToArray(), (buffer, final) =>
        {
            foreach (var segment in buffer)
            {
                scanner.Feed(segment.Span);
            }

            return buffer.End;
        });

        var saysNo = TlsRequiredHeader.SaysNo(input);
        if (OnlyCrLf(input))
        {
            FuzzInvariantException.Check(!saysNo || scanner.Found, "delivery honours TLS-Required: No but the spool writer did not see the field");
        }
    }

    private static bool OnlyCrLf(ReadOnlySpan<byte> message)
    {
        for (var i = 0; i < message.Length; i++)
        {
            if ((message[i] == '\r' && (i + 1 == message.Length || message[i + 1] != '\n')) || (message[i] == '\n' && (i == 0 || message[i - 1] != '\r')))
            {
                return false;
            }
        }

        return true;
    }
}
