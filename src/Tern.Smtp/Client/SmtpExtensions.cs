using Ascii = Tern.Smtp.Protocol.Ascii;
using Encoding = System.Text.Encoding;

namespace Tern.Smtp.Client;

/// <summary>What a server's EHLO reply offers (RFC 5321 4.1.1.1: one keyword per line after the first).</summary>
public sealed record SmtpExtensions
{
    /// <summary>No EHLO (HELO fallback): nothing is offered.</summary>
    public static SmtpExtensions None { get; } = new();

    /// <summary>RFC 2920.</summary>
    public bool Pipelining { get; init; }

    /// <summary>RFC 6152.</summary>
    public bool EightBitMime { get; init; }

    /// <summary>RFC 6531.</summary>
    public bool SmtpUtf8 { get; init; }

    /// <summary>RFC 1870: the SIZE keyword was present.</summary>
    public bool Size { get; init; }

    /// <summary>RFC 1870: the declared maximum message size; 0 when none was declared ("SIZE" or "SIZE 0").</summary>
    public long MaxSize { get; init; }

    /// <summary>RFC 3207.</summary>
    public bool StartTls { get; init; }

    /// <summary>RFC 8689 (offered only over TLS).</summary>
    public bool RequireTls { get; init; }

    /// <summary>RFC 2034.</summary>
    public bool EnhancedStatusCodes { get; init; }

    /// <summary>RFC 3030 BDAT.</summary>
    public bool Chunking { get; init; }

    /// <summary>RFC 3030 BODY=BINARYMIME.</summary>
    public bool BinaryMime { get; init; }

    /// <summary>RFC 3461.</summary>
    public bool Dsn { get; init; }

    /// <summary>RFC 4954 mechanisms, upper-case as offered (AUTH and the old "AUTH=" form merged).</summary>
    public IReadOnlyList<string> AuthMechanisms { get; init; } = [];

    /// <summary>RFC 9422 LIMITS RCPTMAX: most RCPT commands per transaction; 0 when not announced.</summary>
    public int RcptMax { get; init; }

    /// <summary>RFC 9422 LIMITS MAILMAX: most transactions (MAIL commands) per connection; 0 when not announced.</summary>
    public int MailMax { get; init; }

    /// <summary>Reads the keywords of an EHLO reply (lines after the first, which is the server's name).</summary>
    public static SmtpExtensions Parse(SmtpReplyView reply)
    {
        var e = new Builder();
        for (var i = 1; i < reply.LineCount; i++)
        {
            e.Line(reply.Line(i));
        }

        return e.Build();
    }

    /// <summary>Reads the keywords of an EHLO reply given as the text of each line (tests, stored replies).</summary>
    public static SmtpExtensions Parse(IReadOnlyList<string> lines)
    {
        ArgumentNullException.ThrowIfNull(lines);
        var e = new Builder();
        for (var i = 1; i < lines.Count; i++)
        {
            e.Line(Encoding.UTF8.GetBytes(lines[i]));
        }

        return e.Build();
    }

    private struct Builder
    {
        private SmtpExtensions _e;
        private List<string>? _auth;

        public Builder() => _e = new SmtpExtensions();

        public void Line(ReadOnlySpan<byte> line)
        {
            line = Ascii.TrimSpaces(line);
            var space = line.IndexOf((byte)' ');
            var keyword = space < 0 ? line : line[..space];
            var args = space < 0 ? default : Ascii.TrimSpaces(line[(space + 1)..]);
            if (Is(keyword, "PIPELINING"u8))
            {
                _e = _e with { Pipelining = true };
            }
            else if (Is(keyword, "8BITMIME"u8))
            {
                _e = _e with { EightBitMime = true };
            }
            else if (Is(keyword, "SMTPUTF8"u8))
            {
                _e = _e with { SmtpUtf8 = true };
            }
            else if (Is(keyword, "SIZE"u8))
            {
                // RFC 1870 4: an optional limit; absent, 0 or unparsable means no declared limit.
                _e = _e with { Size = true, MaxSize = Ascii.TryParseUInt64(args, out var max) && max <= long.MaxValue ? (long)max : 0 };
            }
            else if (Is(keyword, "STARTTLS"u8))
            {
                _e = _e with { StartTls = true };
            }
            else if (Is(keyword, "REQUIRETLS"u8))
            {
                _e = _e with { RequireTls = true };
            }
            else if (Is(keyword, "ENHANCEDSTATUSCODES"u8))
            {
                _e = _e with { EnhancedStatusCodes = true };
            }
            else if (Is(keyword, "CHUNKING"u8))
            {
                _e = _e with { Chunking = true };
            }
            else if (Is(keyword, "BINARYMIME"u8))
            {
                _e = _e with { BinaryMime = true };
            }
            else if (Is(keyword, "DSN"u8))
            {
                _e = _e with { Dsn = true };
            }
            else if (Is(keyword, "AUTH"u8))
            {
                AddMechanisms(args);
            }
            else if (Ascii.StartsWithIgnoreCase(keyword, "AUTH="u8))
            {
                // Pre-RFC 4954 servers (and Outlook's old clients) use "AUTH=PLAIN LOGIN".
                AddMechanisms(line[5..]);
            }
            else if (Is(keyword, "LIMITS"u8))
            {
                Limits(args);
            }
        }

        public readonly SmtpExtensions Build() => _auth is null ? _e : _e with { AuthMechanisms = _auth };

        private static bool Is(ReadOnlySpan<byte> keyword, ReadOnlySpan<byte> upper) => Ascii.EqualsIgnoreCase(keyword, upper);

        private void AddMechanisms(ReadOnlySpan<byte> args)
        {
            _auth ??= [];
            foreach (var range in args.Split((byte)' '))
            {
                var name = args[range];
                if (name.IsEmpty || name.Length > 64 || name.IndexOfAnyExceptInRange((byte)'!', (byte)'~') >= 0)
                {
                    continue;
                }

                var upper = Encoding.ASCII.GetString(name).ToUpperInvariant();
                if (!_auth.Contains(upper))
                {
                    _auth.Add(upper);
                }
            }
        }

        /// <summary>
        /// RFC 9422 section 4: "LIMITS" name=value pairs. A syntax error in the list drops the
        /// whole extension; a bad value drops only that limit (section 5: 1 to 6 digits, not 0).
        /// </summary>
        private void Limits(ReadOnlySpan<byte> args)
        {
            int rcptMax = 0, mailMax = 0;
            foreach (var range in args.Split((byte)' '))
            {
                var pair = args[range];
                if (pair.IsEmpty)
                {
                    continue;
                }

                var eq = pair.IndexOf((byte)'=');
                if (eq <= 0 || eq == pair.Length - 1)
                {
                    return;
                }

                var name = pair[..eq];
                var value = pair[(eq + 1)..];
                ulong n = 0;
                var number = value.Length <= 6 && Ascii.TryParseUInt64(value, out n) && n > 0 ? (int)n : 0;
                if (Is(name, "RCPTMAX"u8))
                {
                    rcptMax = number;
                }
                else if (Is(name, "MAILMAX"u8))
                {
                    mailMax = number;
                }
            }

            _e = _e with { RcptMax = rcptMax, MailMax = mailMax };
        }
    }
}
