using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Tern.Dns;
using Tern.MtaSts;
using Tern.Observability.Logging;
using Tern.Observability.Metrics;
using Tern.Smtp.Client;
using TlsaRecord = Tern.Smtp.Client.TlsaRecord;

namespace Tern.Delivery;

/// <summary>
/// Delivers one batch (a message and the recipients that share a domain) through the transport its
/// route picks: finds where to connect, connects, speaks SMTP, and returns every recipient's result
/// with the full reply that decided it. When is the scheduler's business; this is how.
/// </summary>
public sealed partial class Deliverer : IBatchDeliverer, IAsyncDisposable
{
    /// <summary>Greylisting memory (RFC 6647): the address a host deferred us from, retried first; bounded.</summary>
    private const int MaxRemembered = 10_000;

    private readonly RouteTable _routes;
    private readonly IDnsResolver _dns;
    private readonly DestinationResolver _destinations;
    private readonly DelivererOptions _options;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _log;
    private readonly ConcurrentDictionary<string, IConnector> _connectors = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, IPAddress> _lastUsed = new(StringComparer.OrdinalIgnoreCase);
    private readonly SessionPool _pool;
    private readonly DeliveryMetrics _metrics;
    private readonly TimeProvider _clock;
    private readonly Tern.Smtp.Client.Tls.TrustStore _trust = new();
    private readonly MtaStsPolicies? _mtaSts;
    private long _sessions;

    public Deliverer(RouteTable routes, IDnsResolver dns, DelivererOptions options, ILoggerFactory loggers, TimeProvider? clock = null, IMetrics? metrics = null)
    {
        _metrics = new DeliveryMetrics(metrics ?? NullMetrics.Instance);
        _routes = routes;
        _dns = dns;
        _options = options;
        _loggers = loggers;
        _log = loggers.CreateLogger(LogComponents.Delivery);
        _destinations = new DestinationResolver(dns, new DestinationOptions(), loggers);
        _clock = clock ?? TimeProvider.System;
        _pool = new SessionPool(options.IdleReuse, options.MaxIdlePerHost, _clock);
        if (options.MtaSts is { } sts)
        {
            _mtaSts = new MtaStsPolicies(dns, sts with { CaBundlePath = sts.CaBundlePath ?? options.CaBundlePath }, loggers, clock, metrics, _trust);
        }
    }

    /// <summary>The MTA-STS policies looked up so far (null when MTA-STS is off).</summary>
    public MtaStsPolicies? MtaStsPolicies => _mtaSts;

    public RouteTable Routes => _routes;

    public async ValueTask<DeliveryDestination> DestinationAsync(RouteRequest request, CancellationToken cancel = default)
    {
        var route = _routes.Resolve(request);
        var name = route.TransportName;
        switch (route.Transport)
        {
            case null or FailTransport:
                return new DeliveryDestination(name, name, []);
            case SmarthostTransport smarthost:
                return new DeliveryDestination($"{name}|{smarthost.Host}:{smarthost.Port}", name, [smarthost.Host]);
        }

        if (route.Failure is not null)
        {
            return new DeliveryDestination(name, name, []);
        }

        // Direct (or through SOCKS): the MX host set, in name order so that the same set is one key
        // whatever the preferences; the cache answers after the first lookup of a domain.
        var destinations = await _destinations.ResolveAsync(request.RecipientDomain, cancel).ConfigureAwait(false);
        if (destinations.Status != DestinationStatus.Ok || destinations.Hosts.Count == 0)
        {
            return new DeliveryDestination($"{name}|{request.RecipientDomain}", name, []);
        }

        var hosts = new string[destinations.Hosts.Count];
        for (var i = 0; i < hosts.Length; i++)
        {
            hosts[i] = destinations.Hosts[i].Name.ToLowerInvariant();
        }

        Array.Sort(hosts, StringComparer.Ordinal);
        return new DeliveryDestination($"{name}|{string.Join(',', hosts)}", name, hosts);
    }

    public async Task<BatchResult> DeliverAsync(DeliveryBatch batch, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        BatchResult result;
        TransportKind kind;
        try
        {
            (result, kind) = await RouteAndDeliverAsync(batch, cancel).ConfigureAwait(false);
        }
        finally
        {
            await ReleaseReservedAsync(batch).ConfigureAwait(false);
        }

        var worst = SmtpOutcome.Delivered;
        foreach (var r in result.Recipients)
        {
            _metrics.Attempt(kind, r.Outcome);
            worst = r.Outcome > worst ? r.Outcome : worst; // the enum runs delivered < deferred < failed
        }

        _metrics.Batch(kind, worst, TlsModeOf(result.Session, result.MtaSts), System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
        return result;
    }

    /// <summary>
    /// How the session's TLS was checked: none, opportunistic (unverified), PKIX, MTA-STS (PKIX under an
    /// enforced policy, <paramref name="mtaSts"/>) or DANE.
    /// </summary>
    private static TlsMode TlsModeOf(SmtpSessionInfo? session, bool mtaSts = false) => session switch
    {
        null or { Tls: false } => TlsMode.None,
        { Verification: { DaneValid: true } } => TlsMode.Dane,
        { Verification: { PkixValid: true } } => mtaSts ? TlsMode.MtaSts : TlsMode.Pkix,
        _ => TlsMode.Opportunistic,
    };

    /// <summary>What DANE came to on a connection to a host with TLSA records; null when it failed before STARTTLS (nothing to say about TLS).</summary>
    private static DaneResult? DaneResultOf(SmtpSessionInfo session, SmtpFailure? failure) => session switch
    {
        { Verification.DaneValid: true } => DaneResult.Verified,
        { Verification.DaneValid: false } => DaneResult.CertificateRejected,
        { Tls: true } => DaneResult.UnusableRecords,
        _ when failure is { Stage: SmtpStage.StartTls } => DaneResult.NoTls,
        _ => null,
    };

    /// <summary>Why the session could not take a REQUIRETLS message (the client session's own test, RFC 8689 section 4.1).</summary>
    private static RequireTlsReason RequireTlsReasonOf(SmtpSessionInfo session) => TlsModeOf(session) switch
    {
        TlsMode.None => RequireTlsReason.NoTls,
        TlsMode.Opportunistic => RequireTlsReason.Unverified,
        _ => RequireTlsReason.NotOffered,
    };

    private async Task<(BatchResult Result, TransportKind Kind)> RouteAndDeliverAsync(DeliveryBatch batch, CancellationToken cancel)
    {
        var message = batch.Message;
        var route = _routes.Resolve(new RouteRequest(
            batch.Account,
            SenderDomain(message.Sender),
            batch.RecipientDomain,
            batch.Attempts,
            batch.TransportOverride,
            message.RequireTls));
        if (route.Failure is { } refused || route.Transport is null)
        {
            var f = route.Failure ?? new DeliveryFailure(451, "4.3.5", $"transport \"{route.TransportName}\" is not configured");
            if (f.EnhancedCode == "5.7.30")
            {
                _metrics.RequireTlsUnsupported(RequireTlsReason.Transport);
            }

            Routed(_log, batch.MessageId, batch.RecipientDomain, route.TransportName, f.ToString());
            return (AllFailed(batch, route.TransportName, Local(f.Code, f.EnhancedCode, f.Text, SmtpFailureKind.Policy)), route.Transport?.Kind ?? TransportKind.Fail);
        }

        var transport = route.Transport;
        if (_log.IsEnabled(LogLevel.Debug))
        {
            // Only then: the source's name is an enum's, formatted through reflection metadata.
            Routed(_log, batch.MessageId, batch.RecipientDomain, transport.Name, route.Location?.ToString() ?? route.Source.ToString());
        }

        var result = transport switch
        {
            FailTransport fail => AllFailed(batch, transport.Name, Local(fail.Code, fail.EnhancedCode, fail.Text, SmtpFailureKind.Policy)),
            SmarthostTransport smarthost => await SmarthostAsync(batch, smarthost, cancel).ConfigureAwait(false),
            _ => await DirectAsync(batch, transport, cancel).ConfigureAwait(false),
        };
        return (result, transport.Kind);
    }

    /// <summary>
    /// Direct delivery (also through a SOCKS proxy): the domain's MX hosts in order (RFC 5321
    /// section 5.1); a temporary failure of one host moves the recipients still open to the next.
    /// </summary>
    private async Task<BatchResult> DirectAsync(DeliveryBatch batch, Transport transport, CancellationToken cancel)
    {
        var ehlo = (transport as DirectTransport)?.EhloName ?? (transport as SocksTransport)?.EhloName ?? _options.EhloName;
        var destinations = await _destinations.ResolveAsync(batch.RecipientDomain, cancel).ConfigureAwait(false);
        if (destinations.Status != DestinationStatus.Ok)
        {
            return AllFailed(batch, transport.Name, DnsFailure(destinations.Status, destinations.EnhancedCode, destinations.Error ?? batch.RecipientDomain));
        }

        // "TLS-Required: No" (RFC 8689 section 5): the sender prefers delivery to TLS policy; never with REQUIRETLS.
        var relaxed = !batch.Message.RequireTls && batch.TlsRequiredSaysNo;

        // MTA-STS (RFC 8461) of the recipient domain: looked up once per batch (cached), applied per MX host.
        var sts = _mtaSts is null ? default : await _mtaSts.GetAsync(batch.RecipientDomain, cancel).ConfigureAwait(false);
        var results = new SmtpRecipientResult?[batch.Message.Recipients.Count];
        SmtpFailure? last = null;
        string? lastHost = null;
        IPEndPoint? lastRemote = null;
        SmtpSessionInfo? lastSession = null;
        var lastMtaSts = false;
        foreach (var host in destinations.Hosts)
        {
            var open = Open(results);
            if (open.Count == 0)
            {
                break;
            }

            // RFC 8461 section 4.1: under an enforced policy only the MX hosts it names are used.
            var stsListed = sts.Policy is { } policy && policy.MatchesMx(host.Name);
            if (sts.Enforced && !stsListed && !relaxed)
            {
                _metrics.MtaSts(MtaStsResult.MxNotListed);
                MtaStsSkipped(_log, batch.MessageId, batch.RecipientDomain, host.Name, sts.Policy!.Id);
                last = last is { Outcome: SmtpOutcome.TemporaryFailure } ? last : Local(451, "4.7.5", $"{host.Name}: not an MX host of the MTA-STS policy of {batch.RecipientDomain} (mode enforce)", SmtpFailureKind.Tls);
                continue;
            }

            var addresses = await _destinations.ResolveHostAsync(host, cancel).ConfigureAwait(false);
            if (addresses.Status != DestinationStatus.Ok || addresses.Addresses.Count == 0)
            {
                // A later host without addresses must not turn an earlier host's temporary failure into a bounce.
                var unresolved = DnsFailure(addresses.Status == DestinationStatus.Ok ? DestinationStatus.TemporaryFailure : addresses.Status, addresses.EnhancedCode, $"{host.Name}: {addresses.Error ?? "no addresses"}");
                last = last is { Outcome: SmtpOutcome.TemporaryFailure } ? last : unresolved;
                continue;
            }

            // DANE (RFC 7672): only when the whole chain to the host was DNSSEC-authentic; then TLS is required and checked against TLSA.
            var tlsa = addresses.Authentic && host.MxAuthentic ? await TlsaAsync(addresses, cancel).ConfigureAwait(false) : (Status: DnsStatus.NoData, Records: (IReadOnlyList<TlsaRecord>)[]);
            if (tlsa.Status is DnsStatus.TemporaryFailure or DnsStatus.PermanentFailure && !relaxed)
            {
                // RFC 7672 section 2.2: a TLSA lookup that fails makes the host unusable for now.
                _metrics.Dane(DaneResult.TlsaLookupFailed);
                last = Local(451, "4.7.5", $"{host.Name}: TLSA lookup failed", SmtpFailureKind.Tls);
                continue;
            }

            // DANE takes precedence over MTA-STS for a host with usable TLSA records (RFC 8461 section 2);
            // records that are all unusable (RFC 7672 section 2.2: still TLS, unauthenticated) leave an
            // enforced MTA-STS policy in force.
            var dane = tlsa.Records.Count > 0;
            var daneUsable = tlsa.Records.Any(static r => r.IsUsable);
            var mtaSts = !daneUsable && sts.Enforced && stsListed;
            if (batch.Message.RequireTls && !daneUsable && !mtaSts)
            {
                // RFC 8689 section 4.2.1: the MX must be authenticated (DNSSEC for DANE, or an enforced MTA-STS
                // policy) as well as the certificate; without either this host cannot take the message. While
                // the domain's MTA-STS policy could not be had (fetch failed, backoff), that is not final yet.
                _metrics.RequireTlsUnsupported(RequireTlsReason.Unverified);
                var unknown = sts.Policy is null && (sts.Source == MtaStsSource.Backoff || sts.Error is not null);
                var refusal = unknown
                    ? Local(451, "4.7.5", $"REQUIRETLS support required, {host.Name} has no DANE and the MTA-STS policy of {batch.RecipientDomain} could not be had: {sts.Error ?? "fetch backoff"}", SmtpFailureKind.Tls)
                    : Local(550, "5.7.30", $"REQUIRETLS support required, {host.Name} has neither DANE nor an enforced MTA-STS policy", SmtpFailureKind.Policy);
                last = last is { Outcome: SmtpOutcome.TemporaryFailure } ? last : refusal;
                continue;
            }

            if (relaxed)
            {
                _metrics.TlsRequiredNo(daneUsable ? TlsPolicy.Dane : sts.Enforced ? TlsPolicy.MtaSts : TlsPolicy.None);
            }

            var verify = !relaxed && (dane || mtaSts);
            var tls = new ClientTlsOptions
            {
                ServerName = host.Name,
                VerifyDane = dane && !relaxed,
                VerifyPkix = mtaSts && !relaxed,
                IgnoreVerificationErrors = !verify,
                Tlsa = tlsa.Records,
                DaneNames = addresses.CanonicalName == host.Name ? [] : [addresses.CanonicalName],
                CaBundlePath = _options.CaBundlePath,
            };
            var mode = verify || batch.Message.RequireTls ? SmtpTlsMode.Required : SmtpTlsMode.Opportunistic;
            var ordered = AddressOrder.ForAttempt(addresses.Addresses, batch.Attempts, _lastUsed.GetValueOrDefault(host.Name));
            var attempt = await SendAsync(batch, transport, host.Name, ordered, _options.DirectPort, mode, tls, mtaSts && !relaxed, ehlo, auth: null, open, results, cancel).ConfigureAwait(false);
            if (mtaSts && !relaxed)
            {
                // A session that opened (pooled or new) is counted here; one that did not was counted by
                // ConnectAsync, where the refused certificate was still known.
                if (attempt.Session is { } opened)
                {
                    _metrics.MtaSts(MtaStsResultOf(opened, null));
                }
            }
            else if (sts.Policy is { Mode: MtaStsMode.Testing } testing && MtaStsTestingFailure(attempt.Session, attempt.Failure, stsListed) is { } why)
            {
                // RFC 8461 section 5: mode testing delivers anyway; the failure is only reported.
                _metrics.MtaSts(MtaStsResult.TestingFailure);
                MtaStsTestingFailed(_log, batch.MessageId, batch.RecipientDomain, host.Name, testing.Id, why);
            }

            if (_options.DomainTls is { } observer && attempt.Session is { } seen)
            {
                // What the recipient domain's server offered (tern queue domains, "auto" REQUIRETLS). Per batch, not
                // per new session: a pooled session may carry another domain with the same MX hosts. "Verified" is
                // what REQUIRETLS needs here: DANE, or PKIX where an enforced MTA-STS policy names the host (also when
                // "TLS-Required: No" set the policy aside for this message: the checks ran all the same).
                observer.Observed(batch.RecipientDomain, seen.StartTlsOffered || seen.Tls, TlsModeOf(seen, !daneUsable && sts.Enforced && stsListed) is TlsMode.Dane or TlsMode.MtaSts, seen.RequireTlsOffered, _clock.GetUtcNow());
            }

            lastHost = host.Name;
            lastRemote = attempt.Remote ?? lastRemote;
            lastSession = attempt.Session ?? lastSession;
            lastMtaSts = attempt.Session is not null ? mtaSts && !relaxed : lastMtaSts;
            last = attempt.Failure ?? last;
            if (attempt.Failure is { } failure && attempt.Remote is { } remote && failure.Outcome == SmtpOutcome.TemporaryFailure && failure.Kind == SmtpFailureKind.Reply)
            {
                Remember(host.Name, remote.Address);
            }
            else if (attempt.Failure is null)
            {
                _lastUsed.TryRemove(host.Name, out _);
            }

            if (!attempt.TryNextHost)
            {
                break;
            }
        }

        return Finish(batch, transport.Name, results, last, lastHost, lastRemote, lastSession, batch.RecipientDomain) with { MtaSts = lastMtaSts };
    }

    /// <summary>
    /// What an enforced MTA-STS policy came to on one host: verified, or why not (RFC 8461 section 5).
    /// A refused certificate fails at the STARTTLS stage like a missing STARTTLS: only the session's
    /// verification (not accepted) tells them apart.
    /// </summary>
    private static MtaStsResult MtaStsResultOf(SmtpSessionInfo session, SmtpFailure? failure) => session switch
    {
        { Tls: true, Verification.PkixValid: true } when failure is null => MtaStsResult.Verified,
        { Verification.Accepted: false } => MtaStsResult.CertificateRejected,
        _ when failure is { Stage: SmtpStage.StartTls } => MtaStsResult.NoTls,
        _ => MtaStsResult.NotConnected,
    };

    /// <summary>Why a host would have failed a testing-mode policy (null when it would have passed, or when nothing was learnt).</summary>
    private static string? MtaStsTestingFailure(SmtpSessionInfo? session, SmtpFailure? failure, bool listed) => (session, listed) switch
    {
        (_, false) => "not an MX host of the policy",
        (null, _) when failure is { Kind: SmtpFailureKind.Tls } or { Stage: SmtpStage.StartTls } => "no TLS",
        ({ Tls: false }, _) => "no TLS",
        ({ Verification.PkixValid: false } s, _) => "certificate not valid: " + s.Verification.PkixError,
        _ => null,
    };

    /// <summary>Relay through the transport's one server: its addresses (no MX), its TLS, its AUTH.</summary>
    private async Task<BatchResult> SmarthostAsync(DeliveryBatch batch, SmarthostTransport transport, CancellationToken cancel)
    {
        var results = new SmtpRecipientResult?[batch.Message.Recipients.Count];
        var host = new DestinationHost { Name = transport.Host, Address = IPAddress.TryParse(transport.Host, out var literal) ? literal : null };
        var addresses = await _destinations.ResolveHostAsync(host, cancel).ConfigureAwait(false);
        if (addresses.Status != DestinationStatus.Ok || addresses.Addresses.Count == 0)
        {
            // The smarthost is ours to fix: its name not resolving never bounces the mail.
            return AllFailed(batch, transport.Name, DnsFailure(DestinationStatus.TemporaryFailure, DestinationCodes.DnsFailure, $"{transport.Host}: {addresses.Error ?? "no addresses"}"));
        }

        var mode = transport.Tls switch
        {
            SmarthostTls.Implicit => SmtpTlsMode.Implicit,
            SmarthostTls.StartTls => SmtpTlsMode.Required,
            _ => SmtpTlsMode.Opportunistic,
        };
        var verify = transport.VerifyTls && mode != SmtpTlsMode.Opportunistic;
        var tls = new ClientTlsOptions
        {
            ServerName = transport.Host,
            VerifyPkix = verify,
            IgnoreVerificationErrors = !verify,
            CaBundlePath = _options.CaBundlePath,
        };
        var auth = transport.Auth is { } a
            ? new SmtpClientAuthOptions { Username = a.Username, Password = a.Password, Mechanisms = a.Mechanisms.Count > 0 ? a.Mechanisms : null }
            : null;
        var attempt = await SendAsync(batch, transport, transport.Host, AddressOrder.ForAttempt(addresses.Addresses, batch.Attempts), transport.Port, mode, tls, mtaSts: false, transport.EhloName ?? _options.EhloName, auth, Open(results), results, cancel).ConfigureAwait(false);
        return Finish(batch, transport.Name, results, attempt.Failure, transport.Host, attempt.Remote, attempt.Session);
    }

    private readonly record struct Attempt(SmtpFailure? Failure, IPEndPoint? Remote, SmtpSessionInfo? Session, bool TryNextHost);

    /// <summary>
    /// One host: a pooled session or a new connection, then the open recipients as one message.
    /// Results of recipients the server decided go into <paramref name="results"/>; the returned
    /// failure stands for those still open.
    /// </summary>
    private async Task<Attempt> SendAsync(
        DeliveryBatch batch, Transport transport, string host, IReadOnlyList<IPAddress> addresses, int port, SmtpTlsMode mode, ClientTlsOptions tls, bool mtaSts, string ehlo,
        SmtpClientAuthOptions? auth, List<int> open, SmtpRecipientResult?[] results, CancellationToken cancel)
    {
        var key = SessionPool.Key(transport.Name, host, port, mode, tls.VerifyDane ? "dane" : tls.VerifyPkix ? "pkix" : "none");
        var (session, remote, failure, pooled) = await SessionAsync(batch, transport, host, addresses, port, mode, tls, mtaSts, ehlo, auth, key, reuseFor: open.Count, cancel).ConfigureAwait(false);
        if (session is null)
        {
            return Unopened(failure, remote);
        }

        // The whole batch is the very instance whose envelope may have gone ahead on a reserved connection.
        var message = open.Count == batch.Message.Recipients.Count ? batch.Message : batch.Message with { Recipients = [.. open.Select(i => batch.Message.Recipients[i])] };
        var next = AheadCandidate(batch);
        var maxTransactions = batch.Limits?.MaxMessagesPerConnection ?? 0;

        // Until the session goes back to the pool or is kept for the next batch: an exception out of a send
        // (cancelled at shutdown, or a bug) leaves it in an unknown state, so it is closed, not leaked.
        SmtpClientSession? live = session;
        try
        {
            var sent = await session.SendAsync(message, next, maxTransactions, cancel).ConfigureAwait(false);
            if (pooled && sent.Failure is { Stage: SmtpStage.Mail or SmtpStage.Rset } stale && (stale.Kind == SmtpFailureKind.ConnectionLost || stale.Reply.Code == 421))
            {
                // The server closed the idle connection meanwhile (its own idle timeout, silently or with
                // a 421, noticed at MAIL or at the RSET before it), or right after the message before
                // this one, whose end of data carried this envelope: a new one, once.
                live = null;
                await SessionPool.CloseAsync(session).ConfigureAwait(false);
                (session, remote, failure, _) = await SessionAsync(batch, transport, host, addresses, port, mode, tls, mtaSts, ehlo, auth, key, reuseFor: 0, cancel).ConfigureAwait(false);
                if (session is null)
                {
                    return Unopened(failure, remote);
                }

                live = session;
                sent = await session.SendAsync(message, next, maxTransactions, cancel).ConfigureAwait(false);
            }

            var info = session.Info;
            var undecided = 0;
            var refusedRequireTls = false;
            SmtpFailure? openFailure = null;
            for (var j = 0; j < sent.Recipients.Count; j++)
            {
                var r = sent.Recipients[j];

                // Lost with the session (no word of the server's about the recipient itself: a dropped or
                // timed-out connection, TLS, garbage, 421 closing) stays open for the next host, as Postfix
                // moves on after a session-level failure; a reply about the message or recipient decides.
                // REQUIRETLS refused by this host (no verified TLS, or no REQUIRETLS keyword): another MX
                // may do better; it becomes final only when every host refused (RFC 8689 section 4.2.1).
                var requireTls = r.Kind == SmtpFailureKind.Policy && r.Reply.Status == "5.7.30";
                if (requireTls && !refusedRequireTls)
                {
                    refusedRequireTls = true;
                    _metrics.RequireTlsUnsupported(RequireTlsReasonOf(info));
                }

                if (requireTls || (r.Outcome == SmtpOutcome.TemporaryFailure && (r.Kind != SmtpFailureKind.Reply || r.Reply.Code == 421)))
                {
                    undecided++;
                    openFailure ??= new SmtpFailure(r.Stage, r.Outcome, r.Reply, r.Kind);
                    continue;
                }

                results[open[j]] = r with { Recipient = batch.Message.Recipients[open[j]] };
            }

            live = null;
            if (sent.NextSentAhead)
            {
                await ReserveAsync(batch.Next!, key, session, remote).ConfigureAwait(false);
            }
            else
            {
                await _pool.ReturnAsync(key, session, remote, batch.Limits).ConfigureAwait(false);
            }

            var whole = sent.Failure;
            return new Attempt(openFailure ?? whole, remote, info, TryNextHost: undecided > 0);
        }
        finally
        {
            if (live is not null)
            {
                await live.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// No session: connection refused, timed out, greeting or EHLO refused, TLS failed. Temporary
    /// ones move on to the next host (RFC 5321 section 5.1). So does a 5xx greeting, which says more
    /// about that host than about the mail (Postfix's smtp_skip_5xx_greeting): it only defers, with
    /// the server's lines kept. Other permanent refusals end the batch.
    /// </summary>
    private static Attempt Unopened(SmtpFailure? failure, IPEndPoint? remote)
    {
        if (failure is { Stage: SmtpStage.Greeting, Outcome: SmtpOutcome.PermanentFailure })
        {
            failure = failure with { Outcome = SmtpOutcome.TemporaryFailure };
        }

        return new Attempt(failure, remote, null, failure is null || failure.Outcome == SmtpOutcome.TemporaryFailure);
    }

    private async Task<(SmtpClientSession? Session, IPEndPoint? Remote, SmtpFailure? Failure, bool Pooled)> SessionAsync(
        DeliveryBatch batch, Transport transport, string host, IReadOnlyList<IPAddress> addresses, int port, SmtpTlsMode mode, ClientTlsOptions tls, bool mtaSts, string ehlo,
        SmtpClientAuthOptions? auth, string key, int reuseFor, CancellationToken cancel)
    {
        // reuseFor: the recipients still open (0: a new connection). The connection that carries this batch's
        // envelope already (sent ahead with the previous batch's end of data) comes first, then the pool.
        if (reuseFor > 0 && (TryTakeReserved(batch, key, reuseFor, out var pooled, out var pooledRemote) || _pool.TryTake(key, out pooled, out pooledRemote)))
        {
            Reused(_log, batch.MessageId, host, pooledRemote?.ToString() ?? string.Empty);
            _metrics.Reused.Inc();
            return (pooled, pooledRemote, null, true);
        }

        var connector = _connectors.GetOrAdd(transport.Name, _ => Connectors.For(transport, _loggers, _options.ConnectTimeout));
        var options = new SmtpClientOptions
        {
            LocalHostname = ehlo,
            TlsMode = mode,
            Tls = tls,
            Auth = auth,
            Timeouts = _options.Timeouts,
            MaxRecipientsPerTransaction = batch.Limits?.MaxRecipientsPerTransaction ?? _options.MaxRecipientsPerTransaction,
            Strict8BitMime = _options.Strict8BitMime,
        };
        var (session, remote, failure) = await ConnectAsync(connector, host, addresses, port, options, mtaSts, cancel).ConfigureAwait(false);
        if (session is null && failure is { Stage: SmtpStage.StartTls } or { Kind: SmtpFailureKind.Tls } && batch.Message.RequireTls)
        {
            // TLS required for REQUIRETLS and not had (STARTTLS not offered, refused or broken).
            _metrics.RequireTlsUnsupported(RequireTlsReason.NoTls);
        }

        // Opportunistic TLS that fails is retried in plaintext on the same address (RFC 7435 section 3;
        // mail-behaviour.md), never for DANE, REQUIRETLS or a smarthost that requires TLS.
        if (session is null && failure is { Kind: SmtpFailureKind.Tls } && mode == SmtpTlsMode.Opportunistic && remote is { } tried)
        {
            PlaintextRetry(_log, batch.MessageId, host, failure.Reply.ToString());
            _metrics.PlaintextFallbacks.Inc();
            (session, remote, failure) = await ConnectAsync(connector, host, [tried.Address], port, options with { TlsMode = SmtpTlsMode.None }, mtaSts: false, cancel).ConfigureAwait(false);
        }

        return (session, remote, failure, false);
    }

    private async Task<(SmtpClientSession? Session, IPEndPoint? Remote, SmtpFailure? Failure)> ConnectAsync(
        IConnector connector, string host, IReadOnlyList<IPAddress> addresses, int port, SmtpClientOptions options, bool mtaSts, CancellationToken cancel)
    {
        var connected = await connector.ConnectAsync(host, addresses, port, cancel).ConfigureAwait(false);
        if (connected.Socket is not { } socket)
        {
            if (mtaSts)
            {
                _metrics.MtaSts(MtaStsResult.NotConnected);
            }

            return (null, null, Local(451, "4.4.1", $"{host}: {connected.Describe()}", SmtpFailureKind.ConnectionLost));
        }

        _metrics.Opened.Inc();
        var id = $"d{Interlocked.Increment(ref _sessions)}";
        var session = new SmtpClientSession(new NetworkStream(socket, ownsSocket: true), options, _loggers.CreateLogger(LogComponents.Delivery), id, _trust);
        var failure = await session.OpenAsync(cancel).ConfigureAwait(false);
        if (options.Tls is { VerifyDane: true } && DaneResultOf(session.Info, failure) is { } dane)
        {
            _metrics.Dane(dane);
        }

        if (failure is not null)
        {
            if (mtaSts)
            {
                _metrics.MtaSts(MtaStsResultOf(session.Info, failure));
            }

            await SessionPool.CloseAsync(session).ConfigureAwait(false);
            return (null, connected.Remote, failure);
        }

        _metrics.Session(TlsModeOf(session.Info, mtaSts));
        Connected(_log, id, host, connected.Remote?.ToString() ?? string.Empty, session.Info.TlsVersionName);
        return (session, connected.Remote, null);
    }

    private async Task<(DnsStatus Status, IReadOnlyList<TlsaRecord> Records)> TlsaAsync(HostAddresses host, CancellationToken cancel)
    {
        // RFC 7672 section 2.2.2: TLSA at the CNAME-expanded name first, then at the original name.
        foreach (var name in host.CanonicalName == host.Host ? [host.Host] : new[] { host.CanonicalName, host.Host })
        {
            var answer = await _dns.LookupTlsaAsync($"_25._tcp.{name}", cancel).ConfigureAwait(false);
            if (answer.Status == DnsStatus.Ok && answer.Authentic)
            {
                return (DnsStatus.Ok, [.. answer.Records.Select(r => new TlsaRecord(r.Usage, r.Selector, r.MatchingType, r.Data))]);
            }

            if (answer.Status is DnsStatus.TemporaryFailure or DnsStatus.PermanentFailure)
            {
                return (answer.Status, []);
            }
        }

        return (DnsStatus.NoData, []);
    }

    private void Remember(string host, IPAddress address)
    {
        if (_lastUsed.Count >= MaxRemembered)
        {
            _lastUsed.Clear();
        }

        _lastUsed[host] = address;
    }

    private static List<int> Open(SmtpRecipientResult?[] results) => [.. Enumerable.Range(0, results.Length).Where(i => results[i] is null)];

    /// <summary>
    /// The batch's result: each recipient's own, or for one no host answered, the last failure (else "no host
    /// could be reached", naming <paramref name="domain"/> when given). That fallback is built only when a
    /// recipient needs it: a delivered batch built it for nothing (a string and a reply per message).
    /// </summary>
    internal static BatchResult Finish(DeliveryBatch batch, string transport, SmtpRecipientResult?[] results, SmtpFailure? last, string? host, IPEndPoint? remote, SmtpSessionInfo? session, string? domain = null)
    {
        var all = new SmtpRecipientResult[results.Length];
        for (var i = 0; i < all.Length; i++)
        {
            if (results[i] is { } result)
            {
                all[i] = result;
                continue;
            }

            var fallback = last ??= Local(451, "4.4.4", domain is null ? "no host could be reached" : $"{domain}: no host could be reached", SmtpFailureKind.ConnectionLost);
            all[i] = new SmtpRecipientResult(batch.Message.Recipients[i], fallback.Outcome, fallback.Stage, fallback.Reply, fallback.Kind);
        }

        return new BatchResult(all, transport, host, remote, session);
    }

    private static BatchResult AllFailed(DeliveryBatch batch, string transport, SmtpFailure failure) =>
        new(SmtpTransactionResult.Failed(batch.Message, failure).Recipients, transport, null, null, null);

    private static SmtpFailure DnsFailure(DestinationStatus status, string? enhanced, string text) =>
        status == DestinationStatus.PermanentFailure
            ? Local(550, enhanced ?? DestinationCodes.NoRoute, text, SmtpFailureKind.Policy)
            : Local(451, enhanced ?? DestinationCodes.DnsFailure, text, SmtpFailureKind.ConnectionLost);

    private static SmtpFailure Local(int code, string enhanced, string text, SmtpFailureKind kind)
    {
        var status = EnhancedStatusCode.TryParse(enhanced, out var parsed) ? parsed : new EnhancedStatusCode((byte)(code / 100), 0, 0);
        return new SmtpFailure(SmtpStage.Connect, code >= 500 ? SmtpOutcome.PermanentFailure : SmtpOutcome.TemporaryFailure, SmtpReply.Local(code, status, text), kind);
    }

    private static string SenderDomain(string sender) => sender.LastIndexOf('@') is var at and >= 0 ? sender[(at + 1)..].ToLowerInvariant() : string.Empty;

    public async ValueTask DisposeAsync()
    {
        await CloseReservedAsync().ConfigureAwait(false);
        await _pool.DisposeAsync().ConfigureAwait(false);
        if (_mtaSts is not null)
        {
            await _mtaSts.DisposeAsync().ConfigureAwait(false);
        }

        _trust.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "routed {id} {domain} {transport} {by}")]
    private static partial void Routed(ILogger log, string id, string domain, string transport, string by);

    [LoggerMessage(Level = LogLevel.Debug, Message = "connected {cid} {host} {remote} {tls}")]
    private static partial void Connected(ILogger log, string cid, string host, string remote, string tls);

    [LoggerMessage(Level = LogLevel.Debug, Message = "connection reused {id} {host} {remote}")]
    private static partial void Reused(ILogger log, string id, string host, string remote);

    [LoggerMessage(Level = LogLevel.Warning, Message = "mta-sts: mx host not in the enforced policy, skipped {id} {domain} {host} {policy}")]
    private static partial void MtaStsSkipped(ILogger log, string id, string domain, string host, string policy);

    [LoggerMessage(Level = LogLevel.Warning, Message = "mta-sts: testing policy not met, delivered anyway {id} {domain} {host} {policy} {reason}")]
    private static partial void MtaStsTestingFailed(ILogger log, string id, string domain, string host, string policy, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "TLS failed, retrying in plaintext {id} {host} {error}")]
    private static partial void PlaintextRetry(ILogger log, string id, string host, string error);
}
