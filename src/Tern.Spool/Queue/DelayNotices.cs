using Tern.Dsn;

namespace Tern.Spool.Queue;

/// <summary>
/// The delay notice (Action: delayed, RFC 3464 2.3.3): when the caller says one is due, the
/// recipients still deferred after an attempt whose NOTIFY asks for delays (or has no NOTIFY), with
/// until when delivery is retried.
/// </summary>
internal static class DelayNotices
{
    /// <summary>Whether recipient <paramref name="i"/> is reported: still deferred and asking for delay notices.</summary>
    public static bool Wants(QueueEntry after, int i) =>
        after.Recipients[i].Status == RecipientStatus.Deferred && Notices.Wants(after, after.Recipients[i], DsnKind.Delay);

    /// <summary>A deferred recipient's report; <paramref name="outcome"/> names the remote MTA when this attempt deferred it.</summary>
    public static DsnRecipient Recipient(RecipientState r, AttemptOutcome? outcome, DateTimeOffset? willRetryUntil) => new()
    {
        FinalRecipient = r.Address,
        OriginalRecipient = r.OriginalRecipient,
        Action = DsnAction.Delayed,
        Status = Notices.StatusOf(r.LastReply, DsnKind.Delay),
        RemoteMtaName = outcome?.RemoteMta,
        RemoteMtaAddress = outcome?.RemoteAddress,
        DiagnosticType = Notices.DiagnosticType(r.LastReply),
        DiagnosticCode = r.LastReply,
        LastAttemptDate = r.LastAttempt,
        WillRetryUntil = willRetryUntil,
    };
}
