using Tern.Dsn;

namespace Tern.Spool.Queue;

/// <summary>
/// What every delivery status notification (DSN, RFC 3464) the spool queues has in common: the
/// Status and Diagnostic-Code taken from a reply, and queueing the notice as a new message from the
/// null sender to the envelope sender, through the spool like any other. Which recipients a notice
/// reports is decided by <see cref="FailureNotices"/>, <see cref="DelayNotices"/> and
/// <see cref="SuccessNotices"/>; none is ever sent about a message from the null sender.
/// </summary>
internal static class Notices
{
    /// <summary>RFC 3463 4.4.7 "delivery time expired": a failure after retries ran out on a reply without an enhanced code.</summary>
    public const string Expired = "4.4.7";

    /// <summary>Whether the reply came from a remote server ("550 5.1.1 ...") rather than from Tern itself.</summary>
    public static bool IsSmtpReply(string reply) =>
        reply.Length >= 4 && char.IsAsciiDigit(reply[0]) && char.IsAsciiDigit(reply[1]) && char.IsAsciiDigit(reply[2]) && reply[3] is ' ' or '-' or '\r' or '\n';

    /// <summary>
    /// The Status field (RFC 3464 2.3.4) for a recipient reported in a notice of this kind: the
    /// enhanced status code (RFC 3463) of its reply when the reply carries one of the reply's own
    /// class, else a default:
    /// <list type="bullet">
    /// <item>Failure: a 5xx reply's code, else 5.0.0; a 4xx reply (the recipient failed because its
    /// retries ran out) keeps its 4.x.x code, else 4.4.7 (delivery time expired).</item>
    /// <item>Delay: a 4xx reply's code, else 4.0.0.</item>
    /// <item>Success: a 2xx reply's code, else 2.0.0.</item>
    /// </list>
    /// </summary>
    public static string StatusOf(string reply, DsnKind kind)
    {
        var smtp = IsSmtpReply(reply);
        var replyClass = smtp ? reply[0] : '\0';
        var code = smtp ? EnhancedCode(reply) : null;
        return kind switch
        {
            DsnKind.Failure => replyClass switch
            {
                '5' => code ?? "5.0.0",
                '4' => code ?? Expired,
                _ => "5.0.0",
            },
            DsnKind.Delay => replyClass == '4' && code is not null ? code : "4.0.0",
            _ => replyClass == '2' && code is not null ? code : "2.0.0",
        };
    }

    /// <summary>The diagnostic-type of Diagnostic-Code: "smtp" for a remote reply, "X-Tern" for a local reason.</summary>
    public static string DiagnosticType(string reply) => IsSmtpReply(reply) ? "smtp" : "X-Tern";

    /// <summary>Builds the notice and commits it to the spool; false when the spool could not store it.</summary>
    public static async Task<bool> QueueAsync(Spool spool, QueueEntry entry, DsnKind kind, IReadOnlyList<DsnRecipient> recipients, byte[] original, CancellationToken cancel)
    {
        if (recipients.Count == 0 || entry.Envelope.Sender.Length == 0)
        {
            return true;
        }

        var bytes = DsnBuilder.Build(
            new DsnRequest
            {
                ReportingMta = spool.Options.ReportingMta,
                QueueId = entry.Id.ToString(),
                Sender = entry.Envelope.Sender,
                EnvelopeId = entry.Envelope.EnvelopeId,
                // RFC 8689 section 4.4: a notice about a REQUIRETLS message returns the headers only
                // (RET=FULL is disregarded) and travels with REQUIRETLS itself.
                Ret = entry.RequiresTls ? DsnRet.Headers : (DsnRet)entry.Envelope.Ret,
                ArrivalDate = entry.Received,
                SmtpUtf8 = entry.Envelope.SmtpUtf8,
                Kind = kind,
                Recipients = recipients,
                OriginalMessage = original,
                Date = spool.Clock.GetUtcNow(),
            },
            out var traits);

        using var w = spool.Begin();
        w.Envelope.AddRecipient(System.Text.Encoding.UTF8.GetBytes(entry.Envelope.Sender), StoredNotify.Never, []);
        w.Envelope.SetListener("dsn"u8);
        w.Envelope.SmtpUtf8 = traits.SmtpUtf8;
        w.Envelope.EightBit = traits.EightBit;
        w.Envelope.BodyType = traits.EightBit ? (byte)2 : (byte)0;
        w.Envelope.RequireTls = entry.RequiresTls;
        // Before the body: a notice may write into the free-space reserve (see SpoolWriter.Reserved).
        w.IsNotice = true;
        w.Write(bytes);
        if (!await w.CommitAsync(cancel).ConfigureAwait(false))
        {
            return false;
        }

        spool.Metrics.Notice(kind);
        return true;
    }

    /// <summary>Whether the recipient asks for (or by default gets) a notice of this kind; never for the null sender.</summary>
    public static bool Wants(QueueEntry entry, RecipientState r, DsnKind kind) =>
        DsnPolicy.ShouldNotify(kind, (byte)r.Notify, entry.Envelope.Sender.Length == 0);

    /// <summary>The enhanced code after the reply code ("550 5.1.1 ..." gives 5.1.1) when it is of the reply's class.</summary>
    private static string? EnhancedCode(string reply)
    {
        if (reply.Length < 5)
        {
            return null;
        }

        var text = reply.AsSpan(4);
        var end = text.IndexOfAny(' ', '\r', '\n');
        var code = end < 0 ? text : text[..end];
        return IsEnhancedStatus(code) && code[0] == reply[0] && code[1] == '.' ? code.ToString() : null;
    }

    /// <summary>class "." subject "." detail, with 1-3 digits each (RFC 3463 section 2).</summary>
    private static bool IsEnhancedStatus(ReadOnlySpan<char> code)
    {
        var parts = 0;
        var digits = 0;
        foreach (var c in code)
        {
            if (char.IsAsciiDigit(c) && digits < 3)
            {
                digits++;
            }
            else if (c == '.' && digits > 0 && parts < 2)
            {
                parts++;
                digits = 0;
            }
            else
            {
                return false;
            }
        }

        return parts == 2 && digits > 0;
    }
}
