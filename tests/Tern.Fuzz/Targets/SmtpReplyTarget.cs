using System.Buffers;
using Tern.Fuzz.Support;
using Tern.Smtp.Client;

namespace Tern.Fuzz.Targets;

/// <summary>
/// The client's reply reader (RFC 5321 4.2, RFC 3463 enhanced codes): chunked server output through
/// <see cref="SmtpReplyParser"/> as SmtpClientSession.ReadReplyAsync reads it, each complete reply
/// looked at as the client does (code, enhanced code, kept as <see cref="SmtpReply"/>, and parsed as
/// an EHLO reply by <see cref="SmtpExtensions.Parse(SmtpReplyView)"/>). Bad input may only come back
/// as an <see cref="SmtpReplyError"/>, which ends the connection.
/// </summary>
internal static class SmtpReplyTarget
{
    public static void Run(ReadOnlySpan<byte> input)
    {
        var flags = input.IsEmpty ? 0 : input[0];
        var limits = (flags & 1) != 0 ? new SmtpReplyLimits() : new SmtpReplyLimits { MaxLineLength = 3 + (flags >> 1), MaxLines = 1 + (flags & 7) };
        using var parser = new SmtpReplyParser(limits);
        var failed = false;
        Chunks.Feed(input.ToArray(), (buffer, final) =>
        {
            var reader = new SequenceReader<byte>(buffer);
            while (!failed && !reader.End)
            {
                if (!parser.TryParse(ref reader, out var error))
                {
                    break;
                }

                if (error != SmtpReplyError.None)
                {
                    FuzzInvariantException.Check(Enum.IsDefined(error), "unknown SmtpReplyError value");
                    failed = true;
                    break;
                }

                Inspect(parser, limits);
            }

            return failed ? buffer.End : reader.Position;
        });
    }

    private static void Inspect(SmtpReplyParser parser, SmtpReplyLimits limits)
    {
        var view = parser.Current;
        FuzzInvariantException.Check(view.Code is >= 200 and <= 599, $"code {view.Code}");
        FuzzInvariantException.Check(view.LineCount >= 1 && view.LineCount <= limits.MaxLines, $"{view.LineCount} lines");
        for (var i = 0; i < view.LineCount; i++)
        {
            FuzzInvariantException.Check(view.Line(i).Length <= limits.MaxLineLength, "line over the limit");
        }

        if (view.EnhancedCode is { } enhanced)
        {
            FuzzInvariantException.Check(enhanced.Class == view.Class, "enhanced code of another class");
            FuzzInvariantException.Check(EnhancedStatusCode.TryParse(enhanced.ToString(), out var again) && again == enhanced, "enhanced code does not round-trip");
        }

        var reply = parser.ToReply();
        FuzzInvariantException.Check(reply.Code == view.Code && reply.Lines.Count == view.LineCount, "ToReply differs from the view");
        _ = reply.ToString();
        var extensions = SmtpExtensions.Parse(view);
        FuzzInvariantException.Check(extensions.MaxSize >= 0 && extensions.RcptMax >= 0 && extensions.MailMax >= 0, "negative limit from EHLO");
        _ = SmtpExtensions.Parse(reply.Lines);
    }
}
