using System.Buffers;

namespace Tern.Smtp.Protocol;

/// <summary>Result of looking for one command line in the input.</summary>
public enum LineStatus : byte
{
    /// <summary>No complete line yet: read more input (the caller keeps the bytes).</summary>
    NeedMoreData,

    /// <summary>A line was found (CRLF, or a lone LF which is tolerated on command lines).</summary>
    Line,

    /// <summary>
    /// The line exceeds the limit (RFC 5321 4.5.3.1.4/4.5.3.1.6): its bytes were skipped up to and
    /// including the end of line, or all buffered bytes were skipped when no end of line is there yet.
    /// </summary>
    TooLong,
}

/// <summary>
/// Splits the input into command lines and recognises the verb. Allocation-free: a line in one
/// segment is returned as a slice of the input; a line split across segments is copied into the
/// caller's scratch buffer.
/// </summary>
public static class SmtpCommandParser
{
    /// <summary>
    /// Reads one line (without its line ending) from <paramref name="reader"/>. On
    /// <see cref="LineStatus.TooLong"/> with no line end in sight, everything buffered is consumed and
    /// <paramref name="skipping"/> is set so that the caller discards input up to the next line end.
    /// </summary>
    public static LineStatus TryReadLine(ref SequenceReader<byte> reader, Span<byte> scratch, out ReadOnlySpan<byte> line, ref bool skipping)
    {
        line = default;
        var limit = scratch.Length;
        while (true)
        {
            if (!reader.TryReadTo(out ReadOnlySequence<byte> seq, (byte)'\n', advancePastDelimiter: true))
            {
                if (reader.Remaining > limit || skipping)
                {
                    // Over-long line without an end yet: drop what we have and keep skipping.
                    reader.AdvanceToEnd();
                    var wasSkipping = skipping;
                    skipping = true;
                    if (!wasSkipping)
                    {
                        return LineStatus.TooLong;
                    }
                }

                return LineStatus.NeedMoreData;
            }

            if (skipping)
            {
                // The tail of an over-long line already answered: drop it and look at the next line.
                skipping = false;
                continue;
            }

            if (seq.Length > limit)
            {
                return LineStatus.TooLong;
            }

            ReadOnlySpan<byte> span;
            if (seq.IsSingleSegment)
            {
                span = seq.FirstSpan;
            }
            else
            {
                seq.CopyTo(scratch);
                span = scratch[..(int)seq.Length];
            }

            if (span.Length > 0 && span[^1] == '\r')
            {
                span = span[..^1];
            }

            line = span;
            return LineStatus.Line;
        }
    }

    /// <summary>Recognises the verb of a command line and returns the argument text after it.</summary>
    public static SmtpVerb ParseVerb(ReadOnlySpan<byte> line, out ReadOnlySpan<byte> argument)
    {
        var space = line.IndexOf((byte)' ');
        var token = space < 0 ? line : line[..space];
        argument = space < 0 ? default : Ascii.TrimSpaces(line[(space + 1)..]);
        var key = Ascii.PackUpper(token);
        return key switch
        {
            Verbs.Ehlo => SmtpVerb.Ehlo,
            Verbs.Helo => SmtpVerb.Helo,
            Verbs.Mail => SmtpVerb.Mail,
            Verbs.Rcpt => SmtpVerb.Rcpt,
            Verbs.Data => SmtpVerb.Data,
            Verbs.Bdat => SmtpVerb.Bdat,
            Verbs.Rset => SmtpVerb.Rset,
            Verbs.Noop => SmtpVerb.Noop,
            Verbs.Quit => SmtpVerb.Quit,
            Verbs.Vrfy => SmtpVerb.Vrfy,
            Verbs.Expn => SmtpVerb.Expn,
            Verbs.Help => SmtpVerb.Help,
            Verbs.StartTls => SmtpVerb.StartTls,
            Verbs.Auth => SmtpVerb.Auth,
            _ => SmtpVerb.Unknown,
        };
    }

    /// <summary>Verbs packed as little-endian upper-case ASCII (see <see cref="Ascii.PackUpper"/>).</summary>
    private static class Verbs
    {
        public const ulong Ehlo = 0x4F4C4845; // "EHLO"
        public const ulong Helo = 0x4F4C4548;
        public const ulong Mail = 0x4C49414D;
        public const ulong Rcpt = 0x54504352;
        public const ulong Data = 0x41544144;
        public const ulong Bdat = 0x54414442;
        public const ulong Rset = 0x54455352;
        public const ulong Noop = 0x504F4F4E;
        public const ulong Quit = 0x54495551;
        public const ulong Vrfy = 0x59465256;
        public const ulong Expn = 0x4E505845;
        public const ulong Help = 0x504C4548;
        public const ulong StartTls = 0x534C545452415453; // "STARTTLS"
        public const ulong Auth = 0x48545541;
    }
}
