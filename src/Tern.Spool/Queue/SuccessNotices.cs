using Tern.Dsn;

namespace Tern.Spool.Queue;

/// <summary>
/// The success notice for a relayed recipient (Action: relayed, RFC 3464 2.3.3; RFC 3461 4.1 and
/// 6.2): delivered to a next hop that does not support the DSN extension, so no notice can come
/// from further on; only for recipients whose NOTIFY includes SUCCESS. A next hop that supports DSN
/// was given the NOTIFY parameter and reports delivery itself.
/// </summary>
internal static class SuccessNotices
{
    /// <summary>Whether recipient <paramref name="i"/> is reported: newly delivered by a relaying outcome, asking for success notices.</summary>
    public static bool Wants(QueueEntry before, QueueEntry after, int i, AttemptOutcome? outcome) =>
        outcome is { Relayed: true }
        && after.Recipients[i].Status == RecipientStatus.Delivered
        && before.Recipients[i].Status is RecipientStatus.Pending or RecipientStatus.Deferred
        && Notices.Wants(after, after.Recipients[i], DsnKind.Success);

    /// <summary>A relayed recipient's report.</summary>
    public static DsnRecipient Recipient(RecipientState r, AttemptOutcome outcome) => new()
    {
        FinalRecipient = r.Address,
        OriginalRecipient = r.OriginalRecipient,
        Action = DsnAction.Relayed,
        Status = Notices.StatusOf(r.LastReply, DsnKind.Success),
        RemoteMtaName = outcome.RemoteMta,
        RemoteMtaAddress = outcome.RemoteAddress,
        DiagnosticType = Notices.DiagnosticType(r.LastReply),
        DiagnosticCode = r.LastReply,
        LastAttemptDate = r.LastAttempt,
    };
}
