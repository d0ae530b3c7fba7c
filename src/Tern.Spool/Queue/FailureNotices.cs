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

    /// <summary>Builds the notice and commits it to the spool; false when the spool could not store it.</summary>
    public static async Task<bool> QueueAsync(Spool spool, QueueEntry entry, IReadOnlyList<RecipientState> failed, byte[] original, string diagnosticType, CancellationToken cancel)
    {
        var recipients = failed
            .Where(r => DsnPolicy.ShouldNotify(DsnKind.Failure, (byte)r.Notify, entry.Envelope.Sender.Length == 0))
            .Select(r => new DsnRecipient
            {
                FinalRecipient = r.Address,
                OriginalRecipient = r.OriginalRecipient,
                Action = DsnAction.Failed,
                Status = "5.0.0",
                DiagnosticType = diagnosticType,
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
