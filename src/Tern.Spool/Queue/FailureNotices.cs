using Tern.Dsn;

namespace Tern.Spool.Queue;

/// <summary>
/// The failure notice (Action: failed): recipients given up on, by a permanent reply, because their
/// retries ran out, or by the operator; only those whose NOTIFY asks for failures (the default).
/// </summary>
internal static class FailureNotices
{
    /// <summary>Recipients of <paramref name="after"/> that were still open in <paramref name="before"/> and are failed now.</summary>
    public static List<RecipientState> NewlyFailed(QueueEntry before, QueueEntry after)
    {
        var failed = new List<RecipientState>();
        for (var i = 0; i < after.Recipients.Count; i++)
        {
            if (IsNewlyFailed(before, after, i))
            {
                failed.Add(after.Recipients[i]);
            }
        }

        return failed;
    }

    /// <summary>Whether recipient <paramref name="i"/> was open before and is failed after.</summary>
    public static bool IsNewlyFailed(QueueEntry before, QueueEntry after, int i) =>
        after.Recipients[i].Status == RecipientStatus.Failed && before.Recipients[i].Status is RecipientStatus.Pending or RecipientStatus.Deferred;

    /// <summary>Whether any of these recipients asks for a failure notice.</summary>
    public static bool Wanted(QueueEntry entry, IEnumerable<RecipientState> failed) =>
        failed.Any(r => Notices.Wants(entry, r, DsnKind.Failure));

    /// <summary>The Status of a failed recipient (see <see cref="Notices.StatusOf"/>).</summary>
    internal static string StatusOf(string reply) => Notices.StatusOf(reply, DsnKind.Failure);

    /// <summary>A failed recipient's report; <paramref name="outcome"/> names the remote MTA when this attempt failed it.</summary>
    public static DsnRecipient Recipient(RecipientState r, AttemptOutcome? outcome) => new()
    {
        FinalRecipient = r.Address,
        OriginalRecipient = r.OriginalRecipient,
        Action = DsnAction.Failed,
        Status = StatusOf(r.LastReply),
        RemoteMtaName = outcome?.RemoteMta,
        RemoteMtaAddress = outcome?.RemoteAddress,
        DiagnosticType = Notices.DiagnosticType(r.LastReply),
        DiagnosticCode = r.LastReply,
        LastAttemptDate = r.LastAttempt,
    };

    /// <summary>Queues the failure notice for these recipients (those that ask for one); false when the spool could not store it.</summary>
    public static Task<bool> QueueAsync(Spool spool, QueueEntry entry, IReadOnlyList<RecipientState> failed, byte[] original, CancellationToken cancel)
    {
        var recipients = failed.Where(r => Notices.Wants(entry, r, DsnKind.Failure)).Select(r => Recipient(r, null)).ToList();
        return Notices.QueueAsync(spool, entry, DsnKind.Failure, recipients, original, cancel);
    }
}
