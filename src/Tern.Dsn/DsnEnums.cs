namespace Tern.Dsn;

/// <summary>What a DSN reports; picks the subject, the wording and what the RET parameter may return.</summary>
public enum DsnKind
{
    /// <summary>Delivery failed and was given up (RFC 3461 4.1 NOTIFY=FAILURE).</summary>
    Failure,

    /// <summary>Delivery is late but still being retried (NOTIFY=DELAY).</summary>
    Delay,

    /// <summary>Delivered, or relayed to a server that sends no DSNs (NOTIFY=SUCCESS).</summary>
    Success,
}

/// <summary>The per-recipient Action field (RFC 3464 2.3.3).</summary>
public enum DsnAction
{
    /// <summary>"failed": given up, no further notice.</summary>
    Failed,

    /// <summary>"delayed": still being retried.</summary>
    Delayed,

    /// <summary>"delivered": delivered to the recipient (terminal).</summary>
    Delivered,

    /// <summary>"relayed": handed to a server that does not send success DSNs (RFC 3461 5.2.2.1).</summary>
    Relayed,

    /// <summary>"expanded": delivered to an alias and forwarded to several addresses.</summary>
    Expanded,
}

/// <summary>The MAIL RET parameter (RFC 3461 4.3); the values are those the spool stores.</summary>
public enum DsnRet : byte
{
    /// <summary>No RET given: a DSN returns the headers only.</summary>
    Unspecified = 0,

    /// <summary>RET=FULL: a failure DSN returns the whole message.</summary>
    Full = 1,

    /// <summary>RET=HDRS: only the header section is returned.</summary>
    Headers = 2,
}

/// <summary>The RCPT NOTIFY parameter (RFC 3461 4.1); the values are those of Tern.Spool's StoredNotify.</summary>
[Flags]
public enum DsnNotify : byte
{
    /// <summary>No NOTIFY given: treated as FAILURE,DELAY (see <see cref="DsnPolicy"/>).</summary>
    Unspecified = 0,

    /// <summary>NOTIFY=NEVER: no DSN of any kind.</summary>
    Never = 1,

    /// <summary>SUCCESS: a DSN on delivery.</summary>
    Success = 2,

    /// <summary>FAILURE: a DSN when delivery fails.</summary>
    Failure = 4,

    /// <summary>DELAY: a DSN when delivery is delayed.</summary>
    Delay = 8,
}
