namespace Tern.Smtp.Protocol;

/// <summary>BODY parameter (RFC 6152 8BITMIME, RFC 3030 BINARYMIME).</summary>
public enum BodyType : byte
{
    Unspecified,
    SevenBit,
    EightBitMime,
    BinaryMime,
}

/// <summary>DSN RET parameter (RFC 3461 4.3).</summary>
public enum DsnReturn : byte
{
    Unspecified,
    Full,
    Headers,
}

/// <summary>DSN NOTIFY parameter (RFC 3461 4.1); Never excludes the others.</summary>
[Flags]
public enum DsnNotify : byte
{
    Unspecified = 0,
    Never = 1,
    Success = 2,
    Failure = 4,
    Delay = 8,
}

/// <summary>What is wrong with a MAIL or RCPT command; the session maps each to its reply.</summary>
public enum ArgumentError : byte
{
    None,

    /// <summary>"FROM:" / "TO:" missing or path syntax (501 5.5.4 / 501 5.1.7 / 501 5.1.3).</summary>
    PathSyntax,
    PathTooLong,
    NeedsSmtpUtf8,

    /// <summary>Malformed or repeated parameter (501 5.5.4).</summary>
    ParameterSyntax,

    /// <summary>Parameter not supported here (555 5.5.4, RFC 5321 4.1.1.11).</summary>
    UnknownParameter,
}

/// <summary>A parsed <c>MAIL FROM:</c> (offsets refer to the argument span it came from).</summary>
public struct MailFromArguments
{
    public SmtpPath Path;
    public long Size;
    public BodyType Body;
    public bool SmtpUtf8;
    public bool RequireTls;
    public DsnReturn Ret;

    /// <summary>ENVID as sent (xtext, RFC 3461 4.4); length 0 when absent.</summary>
    public int EnvIdStart;
    public int EnvIdLength;

    /// <summary>AUTH= (RFC 4954 5) as sent; length 0 when absent.</summary>
    public int AuthStart;
    public int AuthLength;
}

/// <summary>A parsed <c>RCPT TO:</c>.</summary>
public struct RcptToArguments
{
    public SmtpPath Path;
    public DsnNotify Notify;

    /// <summary>ORCPT (RFC 3461 4.2) as sent, "addr-type;xtext"; length 0 when absent.</summary>
    public int OrcptStart;
    public int OrcptLength;
}

/// <summary>Parses the arguments of MAIL and RCPT (RFC 5321 4.1.1.2-3 and their ESMTP parameters).</summary>
public static class MailParameters
{
    /// <summary>Parses <c>FROM:&lt;path&gt; [params]</c> (the text after the MAIL verb).</summary>
    public static ArgumentError ParseMailFrom(ReadOnlySpan<byte> arg, bool chunkingOffered, out MailFromArguments result)
    {
        var sink = new MailSink { ChunkingOffered = chunkingOffered };
        sink.Result.Size = -1;
        var error = ParseCommand(arg, "FROM:"u8, isMail: true, smtpUtf8: false, ref sink, out var path);
        result = sink.Result;
        result.Path = path;
        return error;
    }

    /// <summary>Parses <c>TO:&lt;path&gt; [params]</c> (the text after the RCPT verb).</summary>
    public static ArgumentError ParseRcptTo(ReadOnlySpan<byte> arg, bool smtpUtf8, out RcptToArguments result)
    {
        var sink = default(RcptSink);
        var error = ParseCommand(arg, "TO:"u8, isMail: false, smtpUtf8, ref sink, out var path);
        result = sink.Result;
        result.Path = path;
        return error;
    }

    /// <summary>
    /// The grammar MAIL and RCPT share: "FROM:"/"TO:", the path, then ESMTP parameters handed to
    /// <typeparamref name="TSink"/> (a struct, so the calls are not virtual). A repeated parameter is
    /// a syntax error.
    /// </summary>
    private static ArgumentError ParseCommand<TSink>(ReadOnlySpan<byte> arg, ReadOnlySpan<byte> prefix, bool isMail, bool smtpUtf8, ref TSink sink, out SmtpPath path)
        where TSink : struct, IParameterSink
    {
        path = default;
        if (!Ascii.StartsWithIgnoreCase(arg, prefix))
        {
            return ArgumentError.PathSyntax;
        }

        // Tolerate spaces after the colon: many clients send "MAIL FROM: <a@b>".
        var offset = SkipSpaces(arg, prefix.Length);

        // On MAIL, SMTPUTF8 must be known before the path is judged: look for it first.
        var allowUtf8 = isMail ? HasKeyword(arg[offset..], "SMTPUTF8"u8) : smtpUtf8;
        var error = SmtpPathParser.TryParse(arg[offset..], offset, allowNull: isMail, allowPostmaster: !isMail, allowUtf8, out path, out var consumed);
        if (error != PathError.None)
        {
            return ToArgumentError(error);
        }

        var parameters = new EsmtpParameters(arg, offset + consumed);
        var seen = 0;
        while (parameters.MoveNext())
        {
            if (parameters.Malformed)
            {
                return ArgumentError.ParameterSyntax;
            }

            var result = sink.Accept(parameters.Key, parameters.Value, parameters.ValueStart, out var bit);
            if (result != ArgumentError.None)
            {
                return result;
            }

            if ((seen & bit) != 0)
            {
                return ArgumentError.ParameterSyntax;
            }

            seen |= bit;
        }

        return ArgumentError.None;
    }

    private interface IParameterSink
    {
        /// <summary>Takes one parameter; <paramref name="bit"/> identifies it for the repetition check.</summary>
        ArgumentError Accept(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, int valueStart, out int bit);
    }

    /// <summary>MAIL: SIZE (RFC 1870), BODY (RFC 6152, RFC 3030), SMTPUTF8 (RFC 6531), RET and ENVID (RFC 3461), AUTH (RFC 4954), REQUIRETLS (RFC 8689).</summary>
    private struct MailSink : IParameterSink
    {
        public MailFromArguments Result;
        public bool ChunkingOffered;

        public ArgumentError Accept(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, int valueStart, out int bit)
        {
            bit = 0;
            if (Ascii.EqualsIgnoreCase(key, "SIZE"u8))
            {
                bit = 1;
                if (!Ascii.TryParseUInt64(value, out var size) || size > long.MaxValue)
                {
                    return ArgumentError.ParameterSyntax;
                }

                Result.Size = (long)size;
            }
            else if (Ascii.EqualsIgnoreCase(key, "BODY"u8))
            {
                bit = 2;
                if (Ascii.EqualsIgnoreCase(value, "7BIT"u8))
                {
                    Result.Body = BodyType.SevenBit;
                }
                else if (Ascii.EqualsIgnoreCase(value, "8BITMIME"u8))
                {
                    Result.Body = BodyType.EightBitMime;
                }
                else if (Ascii.EqualsIgnoreCase(value, "BINARYMIME"u8) && ChunkingOffered)
                {
                    Result.Body = BodyType.BinaryMime;
                }
                else
                {
                    return ArgumentError.ParameterSyntax;
                }
            }
            else if (Ascii.EqualsIgnoreCase(key, "SMTPUTF8"u8))
            {
                bit = 4;
                if (valueStart >= 0)
                {
                    return ArgumentError.ParameterSyntax;
                }

                Result.SmtpUtf8 = true;
            }
            else if (Ascii.EqualsIgnoreCase(key, "RET"u8))
            {
                bit = 8;
                if (Ascii.EqualsIgnoreCase(value, "FULL"u8))
                {
                    Result.Ret = DsnReturn.Full;
                }
                else if (Ascii.EqualsIgnoreCase(value, "HDRS"u8))
                {
                    Result.Ret = DsnReturn.Headers;
                }
                else
                {
                    return ArgumentError.ParameterSyntax;
                }
            }
            else if (Ascii.EqualsIgnoreCase(key, "ENVID"u8))
            {
                bit = 16;

                // RFC 3461 4.4: at most 100 characters, xtext.
                if (value.Length is 0 or > 100 || !Xtext.IsValid(value))
                {
                    return ArgumentError.ParameterSyntax;
                }

                Result.EnvIdStart = valueStart;
                Result.EnvIdLength = value.Length;
            }
            else if (Ascii.EqualsIgnoreCase(key, "AUTH"u8))
            {
                bit = 32;
                if (value.Length == 0 || !Xtext.IsValid(value))
                {
                    return ArgumentError.ParameterSyntax;
                }

                Result.AuthStart = valueStart;
                Result.AuthLength = value.Length;
            }
            else if (Ascii.EqualsIgnoreCase(key, "REQUIRETLS"u8))
            {
                bit = 64;
                if (valueStart >= 0)
                {
                    return ArgumentError.ParameterSyntax;
                }

                Result.RequireTls = true;
            }
            else
            {
                return ArgumentError.UnknownParameter;
            }

            return ArgumentError.None;
        }
    }

    /// <summary>RCPT: NOTIFY and ORCPT (RFC 3461).</summary>
    private struct RcptSink : IParameterSink
    {
        public RcptToArguments Result;

        public ArgumentError Accept(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, int valueStart, out int bit)
        {
            bit = 0;
            if (Ascii.EqualsIgnoreCase(key, "NOTIFY"u8))
            {
                bit = 1;
                if (!TryParseNotify(value, out Result.Notify))
                {
                    return ArgumentError.ParameterSyntax;
                }
            }
            else if (Ascii.EqualsIgnoreCase(key, "ORCPT"u8))
            {
                bit = 2;

                // RFC 3461 4.2: addr-type ";" xtext; RFC 6533 adds utf-8-addr-xtext.
                var semi = value.IndexOf((byte)';');
                if (semi <= 0 || semi == value.Length - 1 || value.Length > 500 || !Xtext.IsValid(value[(semi + 1)..]))
                {
                    return ArgumentError.ParameterSyntax;
                }

                Result.OrcptStart = valueStart;
                Result.OrcptLength = value.Length;
            }
            else
            {
                return ArgumentError.UnknownParameter;
            }

            return ArgumentError.None;
        }
    }

    private static bool TryParseNotify(ReadOnlySpan<byte> value, out DsnNotify notify)
    {
        notify = DsnNotify.Unspecified;
        if (value.Length == 0)
        {
            return false;
        }

        while (true)
        {
            var comma = value.IndexOf((byte)',');
            var item = comma < 0 ? value : value[..comma];
            DsnNotify flag;
            if (Ascii.EqualsIgnoreCase(item, "NEVER"u8))
            {
                flag = DsnNotify.Never;
            }
            else if (Ascii.EqualsIgnoreCase(item, "SUCCESS"u8))
            {
                flag = DsnNotify.Success;
            }
            else if (Ascii.EqualsIgnoreCase(item, "FAILURE"u8))
            {
                flag = DsnNotify.Failure;
            }
            else if (Ascii.EqualsIgnoreCase(item, "DELAY"u8))
            {
                flag = DsnNotify.Delay;
            }
            else
            {
                return false;
            }

            if ((notify & flag) != 0)
            {
                return false;
            }

            notify |= flag;
            if (comma < 0)
            {
                break;
            }

            value = value[(comma + 1)..];
        }

        // RFC 3461 4.1: NEVER must appear alone.
        return (notify & DsnNotify.Never) == 0 || notify == DsnNotify.Never;
    }

    private static ArgumentError ToArgumentError(PathError e) => e switch
    {
        PathError.NeedsSmtpUtf8 => ArgumentError.NeedsSmtpUtf8,
        PathError.TooLong => ArgumentError.PathTooLong,
        _ => ArgumentError.PathSyntax,
    };

    private static int SkipSpaces(ReadOnlySpan<byte> s, int i)
    {
        while (i < s.Length && s[i] == ' ')
        {
            i++;
        }

        return i;
    }

    private static bool HasKeyword(ReadOnlySpan<byte> s, ReadOnlySpan<byte> keyword)
    {
        // Looks for " KEYWORD" as a whole parameter after the path (cheap pre-scan).
        var close = s.IndexOf((byte)'>');
        var parameters = new EsmtpParameters(close < 0 ? default : s[(close + 1)..], 0);
        while (parameters.MoveNext())
        {
            if (!parameters.Malformed && Ascii.EqualsIgnoreCase(parameters.Key, keyword))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Walks esmtp-param = esmtp-keyword ["=" esmtp-value] (RFC 5321 4.1.2), separated by spaces.
    /// <see cref="Malformed"/> flags a bad parameter (and ends the walk).
    /// </summary>
    private ref struct EsmtpParameters(ReadOnlySpan<byte> s, int start)
    {
        private readonly ReadOnlySpan<byte> _s = s;
        private int _p = start;

        public bool Malformed { get; private set; }

        public ReadOnlySpan<byte> Key { get; private set; }

        /// <summary>The value, empty when the parameter has none.</summary>
        public ReadOnlySpan<byte> Value { get; private set; }

        /// <summary>Offset of the value in the argument, -1 when there is none.</summary>
        public int ValueStart { get; private set; }

        public bool MoveNext()
        {
            Key = Value = default;
            ValueStart = -1;
            if (_p >= _s.Length || Malformed)
            {
                return false;
            }

            if (_s[_p] != ' ')
            {
                return Fail();
            }

            _p = SkipSpaces(_s, _p);
            if (_p >= _s.Length)
            {
                return false;
            }

            var keyStart = _p;
            while (_p < _s.Length && _s[_p] != ' ' && _s[_p] != '=')
            {
                var b = _s[_p];
                if (!(char.IsAsciiLetterOrDigit((char)b) || (b == '-' && _p > keyStart)))
                {
                    return Fail();
                }

                _p++;
            }

            Key = _s[keyStart.._p];
            if (_p < _s.Length && _s[_p] == '=')
            {
                _p++;
                var valueStart = _p;
                while (_p < _s.Length && _s[_p] != ' ')
                {
                    // esmtp-value = 1*(%d33-60 / %d62-126), UTF-8 allowed by RFC 6531.
                    var b = _s[_p];
                    if (b < 33 || b == '=' || b == 127)
                    {
                        return Fail();
                    }

                    _p++;
                }

                if (_p == valueStart)
                {
                    return Fail();
                }

                ValueStart = valueStart;
                Value = _s[valueStart.._p];
            }

            return true;
        }

        private bool Fail()
        {
            Malformed = true;
            _p = _s.Length;
            return true;
        }
    }
}

/// <summary>xtext (RFC 3461 4): printable ASCII except '+' and '=', with "+XX" hex escapes.</summary>
public static class Xtext
{
    public static bool IsValid(ReadOnlySpan<byte> s)
    {
        for (var i = 0; i < s.Length; i++)
        {
            var b = s[i];
            if (b == '+')
            {
                if (i + 2 >= s.Length || !IsUpperHex(s[i + 1]) || !IsUpperHex(s[i + 2]))
                {
                    return false;
                }

                i += 2;
            }
            else if (b < 33 || b > 126 || b == '=')
            {
                // RFC 6533 utf-8-addr-xtext also allows UTF-8; accept non-ASCII bytes here.
                if (b < 0x80)
                {
                    return false;
                }
            }
        }

        return true;
    }

    private static bool IsUpperHex(byte b) => (uint)(b - '0') <= 9 || (uint)(b - 'A') <= 5;
}
