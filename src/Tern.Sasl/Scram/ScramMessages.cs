using System.Diagnostics.CodeAnalysis;
using System.Text;
using Tern.Sasl.Text;

namespace Tern.Sasl.Scram;

/// <summary>client-first-message (RFC 5802 section 7), split into its GS2 header and bare part.</summary>
internal sealed record ClientFirstMessage(
    char Gs2Flag,
    string? ChannelBindingType,
    string? AuthorizationIdentity,
    string Username,
    string Nonce,
    string Gs2Header,
    string Bare);

/// <summary>client-final-message; <see cref="WithoutProof"/> is the part covered by AuthMessage.</summary>
internal sealed record ClientFinalMessage(byte[] ChannelBinding, string Nonce, byte[] Proof, string WithoutProof);

/// <summary>server-first-message.</summary>
internal sealed record ServerFirstMessage(string Nonce, byte[] Salt, int Iterations);

/// <summary>
/// Strict parsing and formatting of SCRAM messages (RFC 5802 section 7). Attributes must come in
/// the grammar's order; optional extensions are accepted and ignored, the reserved mandatory
/// extension "m=" is refused (section 5.1: a server or client that does not understand it must
/// fail). Nothing here throws on peer input.
/// </summary>
internal static class ScramMessages
{
    /// <summary>Longest nonce part accepted from a peer (the grammar has no limit; a peer does not need more).</summary>
    public const int MaxNonceLength = 256;

    /// <summary>Longest salt accepted from a server, decoded.</summary>
    public const int MaxSaltLength = 256;

    public const int MinIterations = 4096;

    /// <summary>A server asking for more is a CPU exhaustion attempt on the client.</summary>
    public const int MaxIterations = 1_000_000;

    /// <summary>A fresh nonce: 24 random bytes (more than the 18 RFC 5802 section 5.1 suggests), base64, so printable and without ','.</summary>
    public static string NewNonce() => Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24));

    public static bool TryParseClientFirst(string message, [NotNullWhen(true)] out ClientFirstMessage? result)
    {
        result = null;
        if (message.Contains('\0', StringComparison.Ordinal))
        {
            return false;
        }

        // gs2-header = gs2-cbind-flag "," [ authzid ] ","
        char flag;
        string? bindingType = null;
        int position;
        if (message.StartsWith("n,", StringComparison.Ordinal) || message.StartsWith("y,", StringComparison.Ordinal))
        {
            flag = message[0];
            position = 2;
        }
        else if (message.StartsWith("p=", StringComparison.Ordinal))
        {
            var comma = message.IndexOf(',', 2);
            if (comma < 0 || !IsChannelBindingName(message.AsSpan(2, comma - 2)))
            {
                return false;
            }

            flag = 'p';
            bindingType = message[2..comma];
            position = comma + 1;
        }
        else
        {
            return false;
        }

        string? authorization = null;
        if (message.AsSpan(position).StartsWith("a="))
        {
            var comma = message.IndexOf(',', position);
            if (comma < 0 || !TryDecodeSaslName(message.AsSpan(position + 2, comma - position - 2), out authorization))
            {
                return false;
            }

            position = comma + 1;
        }
        else if (position < message.Length && message[position] == ',')
        {
            position++;
        }
        else
        {
            return false;
        }

        // client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
        var bare = message[position..];
        var parts = bare.Split(',');
        if (parts.Length < 2
            || !parts[0].StartsWith("n=", StringComparison.Ordinal)
            || !TryDecodeSaslName(parts[0].AsSpan(2), out var username)
            || !TryNonce(parts[1], out var nonce)
            || !AreExtensions(parts.AsSpan(2)))
        {
            return false;
        }

        result = new ClientFirstMessage(flag, bindingType, authorization, username, nonce, message[..position], bare);
        return true;
    }

    public static bool TryParseClientFinal(string message, [NotNullWhen(true)] out ClientFinalMessage? result)
    {
        // client-final-message = "c=" base64 "," nonce ["," extensions] "," proof
        result = null;
        var parts = message.Split(',');
        if (parts.Length < 3
            || !parts[0].StartsWith("c=", StringComparison.Ordinal)
            || !StrictBase64.TryDecode(parts[0].AsSpan(2), out var binding)
            || binding.Length == 0
            || !TryNonce(parts[1], out var nonce)
            || !parts[^1].StartsWith("p=", StringComparison.Ordinal)
            || !StrictBase64.TryDecode(parts[^1].AsSpan(2), out var proof)
            || proof.Length == 0
            || !AreExtensions(parts.AsSpan(2, parts.Length - 3)))
        {
            return false;
        }

        result = new ClientFinalMessage(binding, nonce, proof, message[..message.LastIndexOf(',')]);
        return true;
    }

    /// <summary>server-first-message; <see cref="SaslFailure.None"/> when it parsed.</summary>
    public static SaslFailure ParseServerFirst(string message, out ServerFirstMessage? result)
    {
        // server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count ["," extensions]
        result = null;
        if (message.StartsWith("e=", StringComparison.Ordinal))
        {
            return SaslFailure.ServerError;
        }

        var parts = message.Split(',');
        if (message.Contains('\0', StringComparison.Ordinal)
            || parts.Length < 3
            || !TryNonce(parts[0], out var nonce)
            || !parts[1].StartsWith("s=", StringComparison.Ordinal)
            || !StrictBase64.TryDecode(parts[1].AsSpan(2), out var salt)
            || salt.Length is 0 or > MaxSaltLength
            || !parts[2].StartsWith("i=", StringComparison.Ordinal)
            || !AreExtensions(parts.AsSpan(3)))
        {
            return SaslFailure.Malformed;
        }

        var iterations = ParseIterationCount(parts[2].AsSpan(2));
        if (iterations == 0)
        {
            return SaslFailure.Malformed;
        }

        if (iterations is < MinIterations or > MaxIterations)
        {
            return SaslFailure.IterationCountOutOfRange;
        }

        result = new ServerFirstMessage(nonce, salt, iterations);
        return SaslFailure.None;
    }

    /// <summary>server-final-message: the verifier, or the failure ("e=" is <see cref="SaslFailure.ServerError"/>).</summary>
    public static SaslFailure ParseServerFinal(string message, out byte[]? verifier)
    {
        // server-final-message = (server-error / verifier) ["," extensions]
        verifier = null;
        var parts = message.Split(',');
        if (parts[0].StartsWith("e=", StringComparison.Ordinal))
        {
            return SaslFailure.ServerError;
        }

        if (!parts[0].StartsWith("v=", StringComparison.Ordinal)
            || !StrictBase64.TryDecode(parts[0].AsSpan(2), out verifier)
            || !AreExtensions(parts.AsSpan(1)))
        {
            verifier = null;
            return SaslFailure.Malformed;
        }

        return SaslFailure.None;
    }

    /// <summary>saslname (RFC 5802 section 5.1): ',' and '=' are written "=2C" and "=3D".</summary>
    public static string EncodeSaslName(string name) => name.Replace("=", "=3D", StringComparison.Ordinal).Replace(",", "=2C", StringComparison.Ordinal);

    public static bool TryDecodeSaslName(ReadOnlySpan<char> text, [NotNullWhen(true)] out string? name)
    {
        // saslname = 1*(value-safe-char / "=2C" / "=3D"); any other '=' is an error ("e=invalid-encoding").
        name = null;
        if (text.IsEmpty)
        {
            return false;
        }

        var builder = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == ',')
            {
                return false;
            }

            if (c != '=')
            {
                builder.Append(c);
                continue;
            }

            var escape = text.Slice(i + 1, Math.Min(2, text.Length - i - 1));
            if (escape.SequenceEqual("2C"))
            {
                builder.Append(',');
            }
            else if (escape.SequenceEqual("3D"))
            {
                builder.Append('=');
            }
            else
            {
                return false;
            }

            i += 2;
        }

        name = builder.ToString();
        return true;
    }

    /// <summary>"r=" followed by 1*printable (%x21-2B / %x2D-7E), at most <see cref="MaxNonceLength"/> plus the other side's part.</summary>
    private static bool TryNonce(string attribute, [NotNullWhen(true)] out string? nonce)
    {
        nonce = null;
        if (!attribute.StartsWith("r=", StringComparison.Ordinal) || attribute.Length == 2 || attribute.Length > 2 + (2 * MaxNonceLength))
        {
            return false;
        }

        var value = attribute.AsSpan(2);
        if (!IsPrintable(value))
        {
            return false;
        }

        nonce = value.ToString();
        return true;
    }

    public static bool IsPrintable(ReadOnlySpan<char> value)
    {
        foreach (var c in value)
        {
            if (c is < (char)0x21 or > (char)0x7e or ',')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Optional extensions: attr-val = ALPHA "=" value. A letter the RFC already defines (e.g. a
    /// second "p=") is out of order, not an extension; "m" is the reserved mandatory extension.
    /// </summary>
    private static bool AreExtensions(ReadOnlySpan<string> parts)
    {
        foreach (var part in parts)
        {
            if (part.Length < 3 || part[1] != '=' || !char.IsAsciiLetter(part[0]) || "aceimnprsv".Contains(part[0], StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>posit-number = %x31-39 *DIGIT; 0 when not one; values past the maximum are clamped to MaxIterations + 1.</summary>
    private static int ParseIterationCount(ReadOnlySpan<char> text)
    {
        if (text.IsEmpty || text[0] is < '1' or > '9')
        {
            return 0;
        }

        var value = 0;
        foreach (var c in text)
        {
            if (!char.IsAsciiDigit(c))
            {
                return 0;
            }

            if (value <= MaxIterations)
            {
                value = (value * 10) + (c - '0');
            }
        }

        return Math.Min(value, MaxIterations + 1);
    }

    /// <summary>cb-name = 1*(ALPHA / DIGIT / "." / "-") (RFC 5802 section 7).</summary>
    private static bool IsChannelBindingName(ReadOnlySpan<char> name)
    {
        if (name.IsEmpty)
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not '.' and not '-')
            {
                return false;
            }
        }

        return true;
    }
}
