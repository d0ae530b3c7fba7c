namespace Tern.Scheduler;

/// <summary>
/// Limits of one destination (an MX host set, or a smarthost): how hard Tern pushes at it. The
/// defaults follow Postfix (20 connections per destination, connection reuse) with a rate cap off.
/// </summary>
public sealed record DestinationLimits
{
    /// <summary>Connections (deliveries in flight) at once; lowered while the destination fails, raised again by successes.</summary>
    public int MaxConnections { get; init; } = 20;

    /// <summary>Transactions on one connection before it is closed (0: no limit but the server's LIMITS MAILMAX).</summary>
    public int MaxMessagesPerConnection { get; init; } = 1000;

    /// <summary>Deliveries started per second (0: no cap), shaped by GCRA with <see cref="Burst"/>.</summary>
    public double MessagesPerSecond { get; init; }

    /// <summary>Deliveries allowed back to back before the rate applies (at least 1).</summary>
    public int Burst { get; init; } = 1;

    /// <summary>RCPT commands per transaction (RFC 5321 section 4.5.3.1.8: servers take at least 100).</summary>
    public int MaxRecipientsPerTransaction { get; init; } = 100;

    /// <summary>How long an open connection waits for the next message (Postfix: 2 s).</summary>
    public TimeSpan IdleReuse { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// With more mail waiting, the next message's MAIL, RCPT and DATA go in the same write as the previous one's
    /// end of data (RFC 2920 section 3.1): one round trip per message instead of two. Off for a server that
    /// offers PIPELINING and mishandles it.
    /// </summary>
    public bool PipelineNext { get; init; } = true;

    /// <summary>Session-level failures in a row (no connection, 421, timeout) after which the destination is suspended.</summary>
    public int SuspendAfter { get; init; } = 5;

    /// <summary>How long a suspended destination gets no attempts: its queued messages are deferred at once (Postfix: 5 min).</summary>
    public TimeSpan SuspendFor { get; init; } = TimeSpan.FromMinutes(5);
}
