namespace Tern.Dsn;

/// <summary>Whether a DSN is sent at all (RFC 3461 NOTIFY semantics).</summary>
public static class DsnPolicy
{
    /// <summary>
    /// Whether the sender asked for (or by default gets) a DSN of this kind about one recipient.
    /// <list type="bullet">
    /// <item>Never to the null sender <c>&lt;&gt;</c>: no DSN about a DSN or any other notification
    /// (RFC 3461 6.2, RFC 5321 4.5.5).</item>
    /// <item>NOTIFY=NEVER: none, whatever else the stored flags hold (RFC 3461 4.1).</item>
    /// <item>No NOTIFY: failure and delay notices, no success notice. RFC 3461 4.1 lets the absence
    /// mean FAILURE or FAILURE,DELAY; Tern takes FAILURE,DELAY, as Postfix and Sendmail do.</item>
    /// <item>Otherwise exactly the kinds listed: SUCCESS only when asked for.</item>
    /// </list>
    /// </summary>
    public static bool ShouldNotify(DsnKind kind, DsnNotify notify, bool senderIsNull)
    {
        if (senderIsNull || (notify & DsnNotify.Never) != 0)
        {
            return false;
        }

        if (notify == DsnNotify.Unspecified)
        {
            return kind is DsnKind.Failure or DsnKind.Delay;
        }

        var wanted = kind switch
        {
            DsnKind.Failure => DsnNotify.Failure,
            DsnKind.Delay => DsnNotify.Delay,
            DsnKind.Success => DsnNotify.Success,
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        return (notify & wanted) != 0;
    }

    /// <summary>As <see cref="ShouldNotify(DsnKind, DsnNotify, bool)"/>, for the byte the spool stores.</summary>
    public static bool ShouldNotify(DsnKind kind, byte notify, bool senderIsNull) =>
        ShouldNotify(kind, (DsnNotify)notify, senderIsNull);

    /// <summary>
    /// Whether the DSN returns the whole message rather than its headers: only a failure DSN with
    /// RET=FULL (RFC 3461 4.3 defines RET for DSNs that report a failure). Without RET, and for
    /// delay and success DSNs, only the headers are returned, as Postfix and mox do.
    /// </summary>
    public static bool ReturnsFullMessage(DsnKind kind, DsnRet ret) => kind == DsnKind.Failure && ret == DsnRet.Full;
}
