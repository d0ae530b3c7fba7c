using System.Text;
using Microsoft.Extensions.Logging;
using Tern.MtaSts;
using Tern.Smtp.Client;
using Tern.Tests.Support;

namespace Tern.Delivery.Tests.Delivering;

/// <summary>
/// MTA-STS (RFC 8461), "TLS-Required: No" and REQUIRETLS (RFC 8689) through the <see cref="Deliverer"/>:
/// knot answers for sts.test (<see cref="MtaStsDeliveryDns"/>), each test's <see cref="PolicyServer"/>
/// serves the policy over HTTPS on 127.0.0.1, and the MX servers offer STARTTLS with certificates of
/// the test CA (trusted through the deliverer's CA bundle) or of an unrelated one. Each test checks the
/// recipients' results, which servers were contacted and what they saw, and the deliverer's metrics.
/// </summary>
public sealed class MtaStsDeliveryTests(MtaStsDeliveryDns dns) : IClassFixture<MtaStsDeliveryDns>
{
    private const string Mx1 = "mx1.sts.test";
    private const string EnforceAll = "enforce";
    private const string TestingAll = "testing";

    private static readonly SmtpClientTimeouts Short = TestTimeouts.Short;

    private static readonly string[] RequireTlsEhlo = [.. MxConnection.DefaultEhlo, "REQUIRETLS"];

    private static int _messages;
    private readonly RecordingMetrics _metrics = new();
    private readonly ListLoggerFactory _logs = new();

    private int Port => dns.SmtpPort;

    [Fact]
    public async Task Enforced_policy_listing_the_mx_delivers_over_tls_verified_by_pkix()
    {
        await using var policy = Policy(EnforceAll);
        await using var mx = MxServer.Accepting(MtaStsDeliveryDns.Mx1Address, Port, dns.Trusted(Mx1));
        await using var deliverer = NewDeliverer(policy);

        var result = await deliverer.DeliverAsync(Batch("enforce"));

        Delivered(Assert.Single(result.Recipients), "alice@enforce.sts.test");
        Assert.Equal(Mx1, result.Host);
        Assert.True(result.MtaSts);
        var session = Assert.IsType<SmtpSessionInfo>(result.Session);
        Assert.True(session.Tls);
        Assert.True(session.Verification?.PkixValid, session.Verification?.PkixError);
        var connection = Assert.Single(mx.Connections);
        Assert.True(connection.Secured);
        Assert.Equal(["EHLO", "STARTTLS", "EHLO", "MAIL", "RCPT", "DATA"], connection.Verbs.Take(6));
        Assert.Empty(mx.Faults);

        // The policy was fetched once, from mta-sts.DOMAIN (SNI and Host, with the test's port) at the well-known path.
        Assert.Equal($"mta-sts.enforce.sts.test|GET /.well-known/mta-sts.txt HTTP/1.1|mta-sts.enforce.sts.test:{policy.Port}", Assert.Single(policy.Seen));
        Assert.Equal(MtaStsMode.Enforce, deliverer.MtaStsPolicies?.Entries().Single(e => e.Domain == "enforce.sts.test").Policy?.Mode);

        Assert.Equal(1, _metrics.Value("tern_delivery_tls_sessions_total", "mtasts"));
        Assert.Equal(0, _metrics.Value("tern_delivery_tls_sessions_total", "pkix"));
        Assert.Equal(1, _metrics.Value("tern_delivery_mtasts_total", "verified"));
        Assert.Equal(1, _metrics.Count("tern_delivery_duration_seconds", "delivered", "direct", "mtasts"));
        Assert.Equal(1, _metrics.Value("tern_mtasts_fetches_total", "ok"));
        Assert.Equal(1, _metrics.Value("tern_mtasts_lookups_total", "fresh"));
    }

    [Fact]
    public async Task Enforced_policy_skips_an_mx_its_wildcard_does_not_match_and_the_listed_mx_delivers()
    {
        // "*.sts.test" matches one label only: a.b.sts.test (preference 10) is not an MX of the policy.
        await using var policy = Policy(EnforceAll);
        await using var deep = MxServer.Accepting(MtaStsDeliveryDns.DeepAddress, Port, dns.Trusted("a.b.sts.test"));
        await using var mx = MxServer.Accepting(MtaStsDeliveryDns.Mx1Address, Port, dns.Trusted(Mx1));
        await using var deliverer = NewDeliverer(policy);

        var result = await deliverer.DeliverAsync(Batch("deep"));

        Delivered(Assert.Single(result.Recipients), "alice@deep.sts.test");
        Assert.Equal(Mx1, result.Host);
        Assert.Empty(deep.Connections);
        Assert.True(Assert.Single(mx.Connections).Secured);
        Assert.Equal(1, _metrics.Value("tern_delivery_mtasts_total", "mx_not_listed"));
        Assert.Equal(1, _metrics.Value("tern_delivery_mtasts_total", "verified"));
        Assert.Contains(_logs.Entries, e => e.Level == LogLevel.Warning
            && e.Message.Contains("mx host not in the enforced policy", StringComparison.Ordinal)
            && e.Message.Contains("a.b.sts.test", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Enforced_policy_listing_none_of_the_mx_hosts_defers_with_4_7_5_without_connecting()
    {
        await using var policy = Policy(EnforceAll);
        await using var deep = MxServer.Accepting(MtaStsDeliveryDns.DeepAddress, Port, dns.Trusted("a.b.sts.test"));
        await using var other = MxServer.Accepting(MtaStsDeliveryDns.OtherDeepAddress, Port, dns.Trusted("c.d.sts.test"));
        await using var deliverer = NewDeliverer(policy);

        var result = await deliverer.DeliverAsync(Batch("unlisted", locals: ["alice", "bob"]));

        foreach (var r in result.Recipients)
        {
            Assert.Equal((SmtpOutcome.TemporaryFailure, SmtpFailureKind.Tls), (r.Outcome, r.Kind));
            Assert.Equal("451 4.7.5 a.b.sts.test: not an MX host of the MTA-STS policy of unlisted.sts.test (mode enforce)", r.Reply.ToString());
        }

        Assert.Null(result.Session);
        Assert.Empty(deep.Connections);
        Assert.Empty(other.Connections);
        Assert.Equal(2, _metrics.Value("tern_delivery_mtasts_total", "mx_not_listed"));
        Assert.Equal(0, _metrics.Value("tern_delivery_connections_opened_total"));
        Assert.Equal(2, _metrics.Value("tern_delivery_attempts_total", "deferred", "direct"));
    }

    [Theory]
    [InlineData("untrusted", "certificate chain: ")]
    [InlineData("wrong-name", "do not match mx1.sts.test")]
    public async Task Enforced_policy_with_a_certificate_failing_pkix_defers_without_plaintext_retry(string certificate, string reason)
    {
        var tls = certificate == "untrusted" ? dns.Untrusted(Mx1) : dns.Trusted("other.sts.test");
        await using var policy = Policy(EnforceAll);
        await using var mx = MxServer.Accepting(MtaStsDeliveryDns.Mx1Address, Port, tls);
        await using var deliverer = NewDeliverer(policy);

        var result = await deliverer.DeliverAsync(Batch("enforce"));

        var r = Assert.Single(result.Recipients);
        Assert.Equal((SmtpOutcome.TemporaryFailure, SmtpStage.StartTls, SmtpFailureKind.Tls), (r.Outcome, r.Stage, r.Kind));
        Assert.StartsWith("421 4.7.5 certificate not accepted: ", r.Reply.ToString(), StringComparison.Ordinal);
        Assert.Contains(reason, r.Reply.ToString(), StringComparison.OrdinalIgnoreCase);

        // One connection, nothing after the refused handshake, no second connection in plaintext.
        await mx.WhenScriptsEndAsync();
        var connection = Assert.Single(mx.Connections);
        Assert.Equal(["EHLO", "STARTTLS"], connection.Verbs);
        Assert.Empty(connection.Messages);
        Assert.Equal(0, _metrics.Value("tern_delivery_plaintext_fallbacks_total"));
        Assert.Equal(1, _metrics.Value("tern_delivery_mtasts_total", "certificate_rejected"));
        Assert.Equal(0, _metrics.Value("tern_delivery_mtasts_total", "no_tls"));
        Assert.Equal(0, _metrics.Value("tern_delivery_mtasts_total", "verified"));
    }

    [Fact]
    public async Task Enforced_policy_with_an_mx_without_starttls_defers_and_sends_nothing_in_plaintext()
    {
        // No certificate: the server offers no STARTTLS and answers 454 when it is sent anyway.
        await using var policy = Policy(EnforceAll);
        await using var mx = MxServer.Accepting(MtaStsDeliveryDns.Mx1Address, Port);
        await using var deliverer = NewDeliverer(policy);

        var result = await deliverer.DeliverAsync(Batch("enforce"));

        var r = Assert.Single(result.Recipients);
        Assert.Equal((SmtpOutcome.TemporaryFailure, SmtpStage.StartTls), (r.Outcome, r.Stage));
        Assert.Equal("454 4.7.0 TLS not available", r.Reply.ToString());
        var connection = Assert.Single(mx.Connections);
        Assert.DoesNotContain("MAIL", connection.Verbs);
        Assert.Empty(connection.Messages);
        Assert.Equal(0, _metrics.Value("tern_delivery_plaintext_fallbacks_total"));
        Assert.Equal(1, _metrics.Value("tern_delivery_mtasts_total", "no_tls"));
        Assert.Equal(0, _metrics.Value("tern_delivery_mtasts_total", "certificate_rejected"));
    }

    [Fact]
    public async Task Enforced_policy_with_an_unreachable_mx_defers_and_counts_not_connected()
    {
        // Nothing listens on mx1.sts.test: the connection is refused at once.
        await using var policy = Policy(EnforceAll);
        await using var deliverer = NewDeliverer(policy);

        var result = await deliverer.DeliverAsync(Batch("enforce"));

        var r = Assert.Single(result.Recipients);
        Assert.Equal((SmtpOutcome.TemporaryFailure, SmtpStage.Connect, SmtpFailureKind.ConnectionLost), (r.Outcome, r.Stage, r.Kind));
        Assert.Equal("4.4.1", r.Reply.Status);
        Assert.Equal(1, _metrics.Value("tern_delivery_mtasts_total", "not_connected"));
        Assert.Equal(0, _metrics.Value("tern_delivery_mtasts_total", "no_tls"));
    }

    [Fact]
    public async Task Testing_policy_with_an_untrusted_certificate_delivers_and_counts_a_testing_failure()
    {
        await using var policy = Policy(TestingAll);
        await using var mx = MxServer.Accepting(MtaStsDeliveryDns.Mx1Address, Port, dns.Untrusted(Mx1));
        await using var deliverer = NewDeliverer(policy);

        var result = await deliverer.DeliverAsync(Batch("enforce"));

        Delivered(Assert.Single(result.Recipients), "alice@enforce.sts.test");
        Assert.False(result.MtaSts);
        var session = Assert.IsType<SmtpSessionInfo>(result.Session);
        Assert.True(session.Tls);
        Assert.False(session.Verification?.PkixValid);
        Assert.True(Assert.Single(mx.Connections).Secured);
        Assert.Equal(1, _metrics.Value("tern_delivery_mtasts_total", "testing_failure"));
        Assert.Equal(0, _metrics.Value("tern_delivery_mtasts_total", "certificate_rejected"));
        Assert.Equal(1, _metrics.Value("tern_delivery_tls_sessions_total", "opportunistic"));
        Assert.Contains(_logs.Entries, e => e.Level == LogLevel.Warning
            && e.Message.Contains("testing policy not met", StringComparison.Ordinal)
            && e.Message.Contains("certificate not valid", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Testing_policy_not_listing_the_first_mx_still_delivers_to_it_and_counts_a_testing_failure()
    {
        await using var policy = Policy(TestingAll);
        await using var deep = MxServer.Accepting(MtaStsDeliveryDns.DeepAddress, Port, dns.Trusted("a.b.sts.test"));
        await using var mx = MxServer.Accepting(MtaStsDeliveryDns.Mx1Address, Port, dns.Trusted(Mx1));
        await using var deliverer = NewDeliverer(policy);

        var result = await deliverer.DeliverAsync(Batch("deep"));

        Delivered(Assert.Single(result.Recipients), "alice@deep.sts.test");
        Assert.Equal("a.b.sts.test", result.Host);
        Assert.Single(deep.Connections);
        Assert.Empty(mx.Connections);
        Assert.Equal(1, _metrics.Value("tern_delivery_mtasts_total", "testing_failure"));
        Assert.Equal(0, _metrics.Value("tern_delivery_mtasts_total", "mx_not_listed"));
        Assert.Contains(_logs.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("not an MX host of the policy", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Domain_without_an_mta_sts_record_delivers_with_opportunistic_tls_as_before()
    {
        await using var policy = Policy(EnforceAll);
        await using var mx = MxServer.Accepting(MtaStsDeliveryDns.Mx1Address, Port, dns.Untrusted(Mx1));
        await using var deliverer = NewDeliverer(policy);

        var result = await deliverer.DeliverAsync(Batch("none"));

        Delivered(Assert.Single(result.Recipients), "alice@none.sts.test");
        Assert.False(result.MtaSts);
        Assert.True(Assert.Single(mx.Connections).Secured);
        Assert.Equal(0, policy.Connections);
        Assert.Equal(1, _metrics.Value("tern_delivery_tls_sessions_total", "opportunistic"));
        Assert.Equal(1, _metrics.Value("tern_mtasts_lookups_total", "none"));
        Assert.All(DeliveryMetrics.MtaStsResults, label => Assert.Equal(0, _metrics.Value("tern_delivery_mtasts_total", label)));
    }

    [Fact]
    public async Task Policy_fetch_failing_with_404_on_first_fetch_delivers_with_opportunistic_tls()
    {
        await using var policy = Policy(new PolicyServer.Reply(404, "no policy here"));
        await using var mx = MxServer.Accepting(MtaStsDeliveryDns.Mx1Address, Port, dns.Untrusted(Mx1));
        await using var deliverer = NewDeliverer(policy);

        var result = await deliverer.DeliverAsync(Batch("nopolicy"));

        Delivered(Assert.Single(result.Recipients), "alice@nopolicy.sts.test");
        Assert.False(result.MtaSts);
        Assert.True(Assert.Single(mx.Connections).Secured);
        Assert.Equal(1, policy.Requests);
        Assert.Equal(1, _metrics.Value("tern_mtasts_fetches_total", "http_error"));
        Assert.Equal(1, _metrics.Value("tern_delivery_tls_sessions_total", "opportunistic"));
        Assert.All(DeliveryMetrics.MtaStsResults, label => Assert.Equal(0, _metrics.Value("tern_delivery_mtasts_total", label)));

        // The failure is remembered (backoff): the next message neither waits for nor repeats the fetch.
        var again = await deliverer.DeliverAsync(Batch("nopolicy"));
        Delivered(Assert.Single(again.Recipients), "alice@nopolicy.sts.test");
        Assert.Equal(1, policy.Requests);
        Assert.Equal(1, _metrics.Value("tern_mtasts_lookups_total", "backoff"));
    }

    [Fact]
    public async Task Requiretls_message_under_an_enforced_policy_to_a_server_announcing_requiretls_is_sent_with_requiretls()
    {
        await using var policy = Policy(EnforceAll);
        await using var mx = new MxServer(MtaStsDeliveryDns.Mx1Address, Port, c => c.ServeAsync(tlsEhlo: RequireTlsEhlo), dns.Trusted(Mx1));
        await using var deliverer = NewDeliverer(policy);

        var result = await deliverer.DeliverAsync(Batch("enforce", requireTls: true));

        Delivered(Assert.Single(result.Recipients), "alice@enforce.sts.test");
        Assert.True(result.Session?.Verification?.PkixValid);
        var connection = Assert.Single(mx.Connections);
        Assert.True(connection.Secured);
        Assert.Contains("MAIL FROM:<alice@sender.test> REQUIRETLS", connection.Received);
        Assert.Equal(1, _metrics.Value("tern_delivery_mtasts_total", "verified"));
        Assert.All(DeliveryMetrics.RequireTlsReasons, label => Assert.Equal(0, _metrics.Value("tern_delivery_requiretls_unsupported_total", label)));
    }

    [Fact]
    public async Task Requiretls_message_under_an_enforced_policy_to_a_server_without_requiretls_fails_with_5_7_30()
    {
        await using var policy = Policy(EnforceAll);
        await using var mx = MxServer.Accepting(MtaStsDeliveryDns.Mx1Address, Port, dns.Trusted(Mx1));
        await using var deliverer = NewDeliverer(policy);

        var result = await deliverer.DeliverAsync(Batch("enforce", requireTls: true));

        var r = Assert.Single(result.Recipients);
        Assert.Equal((SmtpOutcome.PermanentFailure, SmtpFailureKind.Policy), (r.Outcome, r.Kind));
        Assert.Equal("5.7.30", r.Reply.Status);
        Assert.Contains("the server does not offer REQUIRETLS", r.Reply.ToString(), StringComparison.Ordinal);
        Assert.True(result.Session?.Verification?.PkixValid);
        var connection = Assert.Single(mx.Connections);
        Assert.True(connection.Secured);
        Assert.DoesNotContain("MAIL", connection.Verbs);
        Assert.Equal(1, _metrics.Value("tern_delivery_requiretls_unsupported_total", "not_offered"));
    }

    [Fact]
    public async Task Requiretls_message_without_mta_sts_or_dane_fails_with_5_7_30_without_connecting()
    {
        await using var policy = Policy(EnforceAll);
        await using var mx = new MxServer(MtaStsDeliveryDns.Mx1Address, Port, c => c.ServeAsync(tlsEhlo: RequireTlsEhlo), dns.Trusted(Mx1));
        await using var deliverer = NewDeliverer(policy);

        var result = await deliverer.DeliverAsync(Batch("none", requireTls: true));

        var r = Assert.Single(result.Recipients);
        Assert.Equal((SmtpOutcome.PermanentFailure, SmtpFailureKind.Policy), (r.Outcome, r.Kind));
        Assert.Equal("550 5.7.30 REQUIRETLS support required, mx1.sts.test has neither DANE nor an enforced MTA-STS policy", r.Reply.ToString());
        Assert.Empty(mx.Connections);
        Assert.Equal(1, _metrics.Value("tern_delivery_requiretls_unsupported_total", "unverified"));
    }

    [Fact]
    public async Task Requiretls_message_whose_policy_fetch_failed_is_deferred_not_bounced()
    {
        // The domain publishes MTA-STS but its policy could not be fetched (404, then the backoff): whether
        // an MX qualifies for REQUIRETLS is unknown, so the message waits for a later attempt (4.7.5).
        await using var policy = Policy(new PolicyServer.Reply(404, "no policy here"));
        await using var mx = new MxServer(MtaStsDeliveryDns.Mx1Address, Port, c => c.ServeAsync(tlsEhlo: RequireTlsEhlo), dns.Trusted(Mx1));
        await using var deliverer = NewDeliverer(policy);

        foreach (var attempt in new[] { "fetch failed", "backoff" })
        {
            var r = Assert.Single((await deliverer.DeliverAsync(Batch("nopolicy", requireTls: true))).Recipients);
            Assert.True((SmtpOutcome.TemporaryFailure, SmtpFailureKind.Tls) == (r.Outcome, r.Kind), $"{attempt}: {r.Reply}");
            Assert.StartsWith("451 4.7.5 REQUIRETLS support required, mx1.sts.test has no DANE and the MTA-STS policy of nopolicy.sts.test could not be had", r.Reply.ToString());
        }

        Assert.Empty(mx.Connections);
        Assert.Equal(1, policy.Requests);
    }

    [Fact]
    public async Task Tls_required_no_under_an_enforced_policy_delivers_despite_an_untrusted_certificate()
    {
        await using var policy = Policy(EnforceAll);
        await using var mx = MxServer.Accepting(MtaStsDeliveryDns.Mx1Address, Port, dns.Untrusted(Mx1));
        await using var deliverer = NewDeliverer(policy);

        var result = await deliverer.DeliverAsync(Batch("enforce", tlsRequiredNo: true));

        Delivered(Assert.Single(result.Recipients), "alice@enforce.sts.test");
        Assert.False(result.MtaSts);
        var session = Assert.IsType<SmtpSessionInfo>(result.Session);
        Assert.True(session.Tls);
        Assert.False(session.Verification?.PkixValid);
        var connection = Assert.Single(mx.Connections);
        Assert.True(connection.Secured);
        Assert.Contains("TLS-Required: No", Assert.Single(connection.Messages), StringComparison.Ordinal);
        Assert.Equal(1, _metrics.Value("tern_delivery_tls_required_no_total", "mta_sts"));
        Assert.Equal(1, _metrics.Value("tern_delivery_tls_sessions_total", "opportunistic"));
        Assert.All(DeliveryMetrics.MtaStsResults, label => Assert.Equal(0, _metrics.Value("tern_delivery_mtasts_total", label)));
    }

    [Fact]
    public async Task Tls_required_no_under_an_enforced_policy_delivers_in_plaintext_to_an_mx_without_starttls()
    {
        await using var policy = Policy(EnforceAll);
        await using var mx = MxServer.Accepting(MtaStsDeliveryDns.Mx1Address, Port);
        await using var deliverer = NewDeliverer(policy);

        var result = await deliverer.DeliverAsync(Batch("enforce", tlsRequiredNo: true));

        Delivered(Assert.Single(result.Recipients), "alice@enforce.sts.test");
        Assert.False(result.Session?.Tls);
        var connection = Assert.Single(mx.Connections);
        Assert.False(connection.Secured);
        Assert.DoesNotContain("STARTTLS", connection.Verbs);
        Assert.Equal(1, _metrics.Value("tern_delivery_tls_required_no_total", "mta_sts"));
        Assert.Equal(1, _metrics.Value("tern_delivery_tls_sessions_total", "none"));
    }

    [Fact]
    public async Task Tls_required_no_under_an_enforced_policy_uses_an_mx_the_policy_does_not_list()
    {
        await using var policy = Policy(EnforceAll);
        await using var deep = MxServer.Accepting(MtaStsDeliveryDns.DeepAddress, Port, dns.Trusted("a.b.sts.test"));
        await using var deliverer = NewDeliverer(policy);

        var result = await deliverer.DeliverAsync(Batch("unlisted", tlsRequiredNo: true));

        Delivered(Assert.Single(result.Recipients), "alice@unlisted.sts.test");
        Assert.Equal("a.b.sts.test", result.Host);
        Assert.Single(deep.Connections);
        Assert.Equal(0, _metrics.Value("tern_delivery_mtasts_total", "mx_not_listed"));
        Assert.Equal(1, _metrics.Value("tern_delivery_tls_required_no_total", "mta_sts"));
    }

    [Fact]
    public async Task Tls_required_no_with_requiretls_is_ignored_and_the_enforced_policy_applies()
    {
        // RFC 8689 section 5: the REQUIRETLS parameter wins over the header.
        await using var policy = Policy(EnforceAll);
        await using var mx = new MxServer(MtaStsDeliveryDns.Mx1Address, Port, c => c.ServeAsync(tlsEhlo: RequireTlsEhlo), dns.Untrusted(Mx1));
        await using var deliverer = NewDeliverer(policy);

        var result = await deliverer.DeliverAsync(Batch("enforce", requireTls: true, tlsRequiredNo: true));

        var r = Assert.Single(result.Recipients);
        Assert.Equal((SmtpOutcome.TemporaryFailure, SmtpStage.StartTls, SmtpFailureKind.Tls), (r.Outcome, r.Stage, r.Kind));
        await mx.WhenScriptsEndAsync();
        Assert.Equal(["EHLO", "STARTTLS"], Assert.Single(mx.Connections).Verbs);
        Assert.Equal(1, _metrics.Value("tern_delivery_mtasts_total", "certificate_rejected"));
        Assert.All(DeliveryMetrics.TlsPolicies, label => Assert.Equal(0, _metrics.Value("tern_delivery_tls_required_no_total", label)));
    }

    [Fact]
    public async Task Domain_tls_history_says_verified_and_requiretls_under_an_enforced_policy_and_unverified_without_one()
    {
        var dir = Directory.CreateDirectory(Path.Combine(dns.Dir, "history-" + Guid.NewGuid().ToString("N"))).FullName;
        using var history = DomainTlsHistory.Open(DomainTlsHistory.PathIn(dir), new DomainTlsHistoryOptions { WriteInterval = TimeSpan.FromHours(1) });
        await using var policy = Policy(EnforceAll);
        await using var mx = new MxServer(MtaStsDeliveryDns.Mx1Address, Port, c => c.ServeAsync(tlsEhlo: RequireTlsEhlo), dns.Trusted(Mx1));
        await using var deliverer = NewDeliverer(policy, history);

        Delivered(Assert.Single((await deliverer.DeliverAsync(Batch("enforce"))).Recipients), "alice@enforce.sts.test");
        Delivered(Assert.Single((await deliverer.DeliverAsync(Batch("none"))).Recipients), "alice@none.sts.test");

        // Same server, same certificate: only the enforced policy makes its verification count.
        Assert.True(history.TryGet("enforce.sts.test", out var enforced));
        Assert.True(enforced.StartTls && enforced.Verified && enforced.RequireTls, enforced.ToString());
        Assert.True(enforced.TakesRequireTls);
        Assert.True(history.TryGet("none.sts.test", out var opportunistic));
        Assert.True(opportunistic.StartTls && opportunistic.RequireTls, opportunistic.ToString());
        Assert.False(opportunistic.Verified);
        Assert.False(opportunistic.TakesRequireTls);
        Assert.Equal(2, history.Count);
    }

    /// <summary>A policy host answering "mode: <paramref name="mode"/>" with "mx: *.sts.test".</summary>
    private PolicyServer Policy(string mode) => Policy(PolicyServer.Reply.Policy($"version: STSv1\nmode: {mode}\nmx: *.sts.test\nmax_age: 86400\n"));

    /// <summary>A policy host presenting the test CA's certificate for the name asked for (SNI).</summary>
    private PolicyServer Policy(PolicyServer.Reply reply)
    {
        var server = PolicyServer.Start(dns.Pki.Leaf("mta-sts.enforce.sts.test"), reply);
        server.CertificateFor = name => dns.Pki.Leaf(name);
        return server;
    }

    private Deliverer NewDeliverer(PolicyServer policy, IDomainTlsObserver? observer = null) => new(
        RouteTable.Create(new RoutingOptions()),
        dns.Resolver(),
        new DelivererOptions
        {
            EhloName = "out.tern.test",
            CaBundlePath = dns.Pki.BundlePath,
            ConnectTimeout = TimeSpan.FromSeconds(2),
            Timeouts = Short,
            IdleReuse = TimeSpan.Zero,
            DirectPort = Port,
            DomainTls = observer,
            MtaSts = new MtaStsOptions
            {
                CacheDirectory = Path.Combine(dns.Dir, "mtasts-" + Guid.NewGuid().ToString("N")),
                Port = policy.Port,
                FetchTimeout = TimeSpan.FromSeconds(5),
            },
        },
        _logs,
        metrics: _metrics);

    private static DeliveryBatch Batch(string subdomain, bool requireTls = false, bool tlsRequiredNo = false, string[]? locals = null)
    {
        var domain = $"{subdomain}.{MtaStsDeliveryDns.Zone}";
        var header = tlsRequiredNo ? "TLS-Required: No\r\n" : string.Empty;
        return new DeliveryBatch
        {
            MessageId = "sts" + Interlocked.Increment(ref _messages),
            RecipientDomain = domain,
            Message = new SmtpMessage
            {
                Sender = "alice@sender.test",
                Recipients = [.. (locals ?? ["alice"]).Select(l => new SmtpRecipient($"{l}@{domain}"))],
                Content = Encoding.ASCII.GetBytes($"From: <alice@sender.test>\r\n{header}Subject: mta-sts\r\n\r\nHello.\r\n"),
                RequireTls = requireTls,
            },
        };
    }

    private static void Delivered(SmtpRecipientResult r, string address)
    {
        Assert.Equal(address, r.Recipient.Address);
        Assert.True(r.Outcome == SmtpOutcome.Delivered, $"{r.Outcome} {r.Stage} {r.Kind}: {r.Reply}");
        Assert.Equal(SmtpStage.DataEnd, r.Stage);
    }
}
