using Tern.Dsn;

namespace Tern.Spool.Queue;

/// <summary>
/// Queues the failure notice (DSN, RFC 3464) for recipients that failed: a new message from the
/// null sender to the envelope sender, through the spool like any other. Never for a message from
/// the null sender (no DSN about a DSN) and only for recipients whose NOTIFY asks for failures.
/// </summary>
internal static class FailureNotices
{
    /// <summary>Recipients of <paramref name="after"/> that were still open in <paramref name="before"/> and are failed now.</summary>
    public static List<RecipientState> NewlyFailed(QueueEntry before, QueueEntry after)
    {
        var failed = new List<RecipientState>();
        for (var i = 0; i < after.Recipients.Count; i++)
        {
            if (after.Recipients[i].Status == RecipientStatus.Failed && before.Recipients[i].Status is RecipientStatus.Pending or RecipientStatus.Deferred)
            {
                failed.Add(after.Recipients[i]);
            }
        }

        return failed;
    }

    /// <summary>Whether any of these recipients asks for a failure notice.</summary>
    public static bool Wanted(QueueEntry entry, IEnumerable<RecipientState> failed) =>
        failed.Any(r => DsnPolicy.ShouldNotify(DsnKind.Failure, (byte)r.Notify, entry.Envelope.Sender.Length == 0));

    /// <summary>Whether the recipient's last reply came from a remote server ("550 5.1.1 ...") rather than from Tern itself.</summary>
    private static bool IsSmtpReply(string reply) =>
        reply.Length >= 4 && char.IsAsciiDigit(reply[0]) && char.IsAsciiDigit(reply[1]) && char.IsAsciiDigit(reply[2]) && reply[3] is ' ' or '-' or '\r';

    /// <summary>
    /// The Status field (RFC 3464 2.3.4): the remote server's enhanced status code (RFC 3463) when its
    /// permanent reply carried one, else 5.0.0.
    /// </summary>
    internal static string StatusOf(string reply)
    {
        if (!IsSmtpReply(reply) || reply[0] != '5' || reply.Length < 5)
        {
            return "5.0.0";
        }

        var text = reply.AsSpan(4);
        var end = text.IndexOfAny(' ', '\r');
        var code = end < 0 ? text : text[..end];
        return IsEnhancedStatus(code) && code[0] == '5' && code[1] == '.' ? code.ToString() : "5.0.0";
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

    /// <summary>Builds the notice and commits it to the spool; false when the spool could not store it.</summary>
    public static async Task<bool> QueueAsync(Spool spool, QueueEntry entry, IReadOnlyList<RecipientState> failed, byte[] original, CancellationToken cancel)
    {
        var recipients = failed
            .Where(r => DsnPolicy.ShouldNotify(DsnKind.Failure, (byte)r.Notify, entry.Envelope.Sender.Length == 0))
            .Select(r => new DsnRecipient
            {
                FinalRecipient = r.Address,
                OriginalRecipient = r.OriginalRecipient,
                Action = DsnAction.Failed,
                Status = StatusOf(r.LastReply),
                DiagnosticType = IsSmtpReply(r.LastReply) ? "smtp" : "X-Tern",
                DiagnosticCode = r.LastReply,
                LastAttemptDate = r.LastAttempt,
            })
            .ToList();
        if (recipients.Count == 0)
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
                Ret = (DsnRet)entry.Envelope.Ret,
                ArrivalDate = entry.Received,
                SmtpUtf8 = entry.Envelope.SmtpUtf8,
                Kind = DsnKind.Failure,
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
        w.Write(bytes);
        return await w.CommitAsync(cancel).ConfigureAwait(false);
    }
}
