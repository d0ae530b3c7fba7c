namespace Tern.Spool.Queue;

/// <summary>Where a message stands as a whole.</summary>
public enum MessageState : byte
{
    /// <summary>Waiting for (another) delivery attempt.</summary>
    Queued = 1,

    /// <summary>Finished (delivered, failed or dropped): kept as a summary for the retention period.</summary>
    Retired = 2,
}

/// <summary>Where one recipient stands.</summary>
public enum RecipientStatus : byte
{
    /// <summary>No attempt yet.</summary>
    Pending = 0,

    /// <summary>The last attempt failed temporarily; it will be retried.</summary>
    Deferred = 1,

    /// <summary>The next hop accepted it.</summary>
    Delivered = 2,

    /// <summary>Failed permanently (or expired, or failed by the operator).</summary>
    Failed = 3,

    /// <summary>Dropped by the operator without a notice.</summary>
    Dropped = 4,
}

/// <summary>REQUIRETLS handling of a queued message (RFC 8689), settable by the operator.</summary>
public enum RequireTlsPolicy : byte
{
    /// <summary>As the client asked with MAIL FROM ... REQUIRETLS.</summary>
    Default = 0,

    /// <summary>Require verified TLS on every hop, whatever the client asked.</summary>
    Yes = 1,

    /// <summary>Do not require it (the operator overrides the client, as a TLS-Required: No header would).</summary>
    No = 2,
}

/// <summary>One recipient with its delivery state and the full last reply of the remote server.</summary>
public sealed record RecipientState
{
    public required string Address { get; init; }

    public StoredNotify Notify { get; init; }

    public string OriginalRecipient { get; init; } = string.Empty;

    public RecipientStatus Status { get; init; }

    /// <summary>When its last attempt ended (null before the first).</summary>
    public DateTimeOffset? LastAttempt { get; init; }

    /// <summary>The last reply, every line verbatim (CRLF-separated), or the local reason.</summary>
    public string LastReply { get; init; } = string.Empty;

    /// <summary>The domain part (after the last '@'), lower-case.</summary>
    public string Domain => Address.LastIndexOf('@') is var at and >= 0 ? Address[(at + 1)..].ToLowerInvariant() : string.Empty;
}

/// <summary>A message in the queue index: the envelope and its delivery state.</summary>
public sealed record QueueEntry
{
    public required MessageId Id { get; init; }

    public MessageState State { get; init; } = MessageState.Queued;

    /// <summary>Held messages are not delivered until released.</summary>
    public bool Held { get; init; }

    /// <summary>Why it is held ("operator", or the hold rule that matched).</summary>
    public string HoldReason { get; init; } = string.Empty;

    public required DateTimeOffset Received { get; init; }

    /// <summary>Size of the body as received (bytes, before compression).</summary>
    public long BodyLength { get; init; }

    /// <summary>Log address of the message record (body); moves when compaction copies it.</summary>
    public long Address { get; init; }

    /// <summary>Log address of the first record of the body (a chunk, or the message record): the log is kept from here.</summary>
    public long FirstAddress { get; init; }

    public int Attempts { get; init; }

    /// <summary>
    /// How many retries this message gets before its open recipients fail (0: the global default).
    /// Set by the operator (0 to 100); stored in the entry (format version 2).
    /// </summary>
    public int MaxRetries { get; init; }

    /// <summary>Earliest time of the next attempt.</summary>
    public DateTimeOffset NextAttempt { get; init; }

    /// <summary>When it was retired (null while queued).</summary>
    public DateTimeOffset? Finished { get; init; }

    /// <summary>A transport set by the operator (overrides routes); empty: routes decide.</summary>
    public string Transport { get; init; } = string.Empty;

    public RequireTlsPolicy RequireTlsPolicy { get; init; }

    public required SpoolEnvelope Envelope { get; init; }

    public required IReadOnlyList<RecipientState> Recipients { get; init; }

    /// <summary>Whether delivery must use verified TLS: the client's REQUIRETLS unless the operator overrode it.</summary>
    public bool RequiresTls => RequireTlsPolicy switch
    {
        RequireTlsPolicy.Yes => true,
        RequireTlsPolicy.No => false,
        _ => Envelope.RequireTls,
    };

    /// <summary>The sender's domain (after the last '@'), lower-case; empty for the null sender.</summary>
    public string SenderDomain => Envelope.Sender.LastIndexOf('@') is var at and >= 0 ? Envelope.Sender[(at + 1)..].ToLowerInvariant() : string.Empty;
}

/// <summary>
/// Selects messages for listing and for operations. Every set criterion must match; an empty
/// filter matches everything (operations refuse it unless <see cref="All"/> is set).
/// </summary>
public sealed record QueueFilter
{
    /// <summary>Exactly these messages.</summary>
    public IReadOnlyList<MessageId>? Ids { get; init; }

    /// <summary>The sender: a full address, or "@domain" for any sender of that domain (and "&lt;&gt;" for the null sender).</summary>
    public string? Sender { get; init; }

    /// <summary>Any recipient in this domain; a leading "." also matches subdomains.</summary>
    public string? RecipientDomain { get; init; }

    /// <summary>The authenticated account that submitted it.</summary>
    public string? Account { get; init; }

    /// <summary>Held (true) or not held (false).</summary>
    public bool? Held { get; init; }

    /// <summary>Received at least this long ago.</summary>
    public TimeSpan? OlderThan { get; init; }

    /// <summary>Received at most this long ago.</summary>
    public TimeSpan? NewerThan { get; init; }

    /// <summary>Next attempt due before this time.</summary>
    public DateTimeOffset? NextAttemptBefore { get; init; }

    /// <summary>Next attempt due after this time.</summary>
    public DateTimeOffset? NextAttemptAfter { get; init; }

    /// <summary>The operator-set transport ("" for messages without one).</summary>
    public string? Transport { get; init; }

    /// <summary>Operations: explicitly every message.</summary>
    public bool All { get; init; }

    /// <summary>Listing: at most this many entries per page.</summary>
    public int Limit { get; init; } = 100;

    /// <summary>Listing: entries after this id (the previous page's cursor).</summary>
    public MessageId? After { get; init; }

    /// <summary>True when no criterion is set (paging and <see cref="All"/> are not criteria).</summary>
    public bool IsEmpty => Ids is null && Sender is null && RecipientDomain is null && Account is null && Held is null
        && OlderThan is null && NewerThan is null && NextAttemptBefore is null && NextAttemptAfter is null && Transport is null;
}

/// <summary>One page of a listing, ordered by id (oldest first).</summary>
/// <param name="Entries">The entries of this page.</param>
/// <param name="Total">How many entries matched in all.</param>
/// <param name="Next">The cursor for the next page (null on the last).</param>
public sealed record QueuePage(IReadOnlyList<QueueEntry> Entries, int Total, MessageId? Next);

/// <summary>One message in detail: its entry and the header section of its body.</summary>
public sealed record QueueMessageDetail(QueueEntry Entry, string Headers);

/// <summary>One message as stored: its entry and the message (header section and body) byte for byte.</summary>
/// <param name="Entry">The message's entry (queued or retired).</param>
/// <param name="Message">
/// The message as accepted, with the Received field Tern added; null for a retired message whose
/// body is no longer in the spool (the log was truncated past it).
/// </param>
public sealed record QueueMessageContent(QueueEntry Entry, byte[]? Message);

/// <summary>
/// Messages matching a hold rule are held when they are accepted (and adding a rule holds the
/// queued messages it matches). Every set criterion must match; a rule with none holds everything.
/// </summary>
public sealed record HoldRule
{
    /// <summary>Assigned when the rule is added.</summary>
    public long Id { get; init; }

    /// <summary>Sender domain ("" = any); a leading "." also matches subdomains.</summary>
    public string SenderDomain { get; init; } = string.Empty;

    /// <summary>A recipient domain ("" = any); a leading "." also matches subdomains.</summary>
    public string RecipientDomain { get; init; } = string.Empty;

    /// <summary>The authenticated account ("" = any).</summary>
    public string Account { get; init; } = string.Empty;
}
