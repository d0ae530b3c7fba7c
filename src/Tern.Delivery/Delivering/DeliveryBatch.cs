using System.Net;
using Tern.Smtp.Client;

namespace Tern.Delivery;

/// <summary>
/// One message and those of its recipients that share a recipient domain: what one delivery
/// attempt sends over one route. Built by the caller (the scheduler) from the queue.
/// </summary>
public sealed record DeliveryBatch
{
    /// <summary>The queue's id of the message, for log lines.</summary>
    public required string MessageId { get; init; }

    /// <summary>The recipients' domain (A-label form, or an address literal).</summary>
    public required string RecipientDomain { get; init; }

    /// <summary>The envelope (these recipients only) and the content.</summary>
    public required SmtpMessage Message
    {
        get => _message;
        init
        {
            _message = value;
            _tlsRequiredNo = 0;
        }
    }

    private readonly SmtpMessage _message = null!;

    /// <summary>The authenticated account that submitted the message (account routes); null for relayed mail.</summary>
    public string? Account { get; init; }

    /// <summary>Attempts already made (routes with a minimum, address family alternation).</summary>
    public int Attempts { get; init; }

    /// <summary>The transport the operator set on the message; null or empty: routes decide.</summary>
    public string? TransportOverride { get; init; }

    /// <summary>The destination's limits on connections (null: <see cref="DelivererOptions"/>' own).</summary>
    public ConnectionLimits? Limits { get; init; }

    /// <summary>
    /// The batch the caller delivers right after this one (null: none yet). When it takes the same way, its
    /// envelope may go ahead with this batch's end of data on the same connection (RFC 2920 section 3.1), which
    /// is then kept for it: the caller delivers that batch next (the same instance, or a copy of it made with
    /// <c>with</c>: the connection is found by its <see cref="Message"/>); a connection it does not end up using is
    /// closed when that delivery ends.
    /// </summary>
    public DeliveryBatch? Next { get; init; }

    /// <summary>0: not looked at yet; 1: no "TLS-Required: No"; 2: says "No". A copy made with <c>with</c> keeps it unless it sets another message.</summary>
    private int _tlsRequiredNo;

    /// <summary>
    /// <see cref="TlsRequiredHeader.SaysNo"/> of the content, scanned once: the delivery and the check whether the
    /// next batch may go ahead each ask, up to three times per message.
    /// </summary>
    internal bool TlsRequiredSaysNo
    {
        get
        {
            var known = Volatile.Read(ref _tlsRequiredNo);
            if (known == 0)
            {
                known = TlsRequiredHeader.SaysNo(Message.Content.Span) ? 2 : 1;
                Volatile.Write(ref _tlsRequiredNo, known);
            }

            return known == 2;
        }
    }
}

/// <summary>Per-destination limits the deliverer applies to the connections it opens and reuses.</summary>
/// <param name="MaxRecipientsPerTransaction">RCPT commands per transaction; more recipients take further transactions.</param>
/// <param name="MaxMessagesPerConnection">Transactions on one connection before QUIT (0: no limit but the server's LIMITS MAILMAX).</param>
/// <param name="IdleReuse">How long an open connection waits for the next batch (zero: QUIT at once).</param>
public sealed record ConnectionLimits(int MaxRecipientsPerTransaction, int MaxMessagesPerConnection, TimeSpan IdleReuse);

/// <summary>What one attempt of a batch came to.</summary>
/// <param name="Recipients">One result per recipient of the batch, in its order, each with the full reply that decided it.</param>
/// <param name="Transport">The transport's name.</param>
/// <param name="Host">The last host talked to (MX or smarthost), null when none was reached.</param>
/// <param name="Remote">The last address connected to.</param>
/// <param name="Session">Facts about the last session (TLS, extensions), null when none was opened.</param>
public sealed record BatchResult(IReadOnlyList<SmtpRecipientResult> Recipients, string Transport, string? Host, IPEndPoint? Remote, SmtpSessionInfo? Session)
{
    /// <summary>The last session's TLS was required and PKIX-verified because of an enforced MTA-STS policy (RFC 8461).</summary>
    public bool MtaSts { get; init; }
}

/// <summary>Settings of the <see cref="Deliverer"/> that are not a transport's: built by the host from <c>[delivery]</c>.</summary>
public sealed record DelivererOptions
{
    /// <summary>The EHLO name of transports that set none (RFC 5321 section 4.1.1.1: this host's FQDN).</summary>
    public required string EhloName { get; init; }

    /// <summary>PEM bundle of trusted roots for PKIX; null: the system's store.</summary>
    public string? CaBundlePath { get; init; }

    /// <summary>For all addresses of one host together (mail-behaviour.md: 30 s).</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public int MaxRecipientsPerTransaction { get; init; } = 100;

    public bool Strict8BitMime { get; init; }

    public SmtpClientTimeouts Timeouts { get; init; } = new();

    /// <summary>
    /// An open connection waits this long for the next batch to the same host (then QUIT), as
    /// Postfix's smtp_connection_cache_time_limit (2 s).
    /// </summary>
    public TimeSpan IdleReuse { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Idle connections kept per host and transport.</summary>
    public int MaxIdlePerHost { get; init; } = 4;

    /// <summary>Port of direct delivery (25; tests point it at a loopback server).</summary>
    public int DirectPort { get; init; } = 25;

    /// <summary>
    /// Told, after each session opened to a recipient domain's MX (direct or SOCKS), what the server
    /// offered: STARTTLS, verified TLS, REQUIRETLS (<see cref="DomainTlsHistory"/>); null: nobody.
    /// </summary>
    public IDomainTlsObserver? DomainTls { get; init; }

    /// <summary>
    /// MTA-STS (RFC 8461) for direct delivery: where policies are cached, the HTTPS port (443), the fetch
    /// timeout. Its CA bundle defaults to <see cref="CaBundlePath"/>. Null: no MTA-STS.
    /// </summary>
    public Tern.MtaSts.MtaStsOptions? MtaSts { get; init; }
}
