using System.Text;
using Microsoft.Extensions.Logging;
using Tern.Smtp.Client;
using Tern.Tests.Support;

namespace Tern.Delivery.Tests.Delivering;

/// <summary>
/// DANE for SMTP (RFC 7672) through the <see cref="Deliverer"/> with real DNSSEC: knot signs dane.test,
/// unbound validates it (see <see cref="DaneDns"/>), and servers on 127.0.0.21..29 offer STARTTLS with
/// the certificates of <see cref="DanePki"/>. Each test checks the recipients' results, what the server
/// saw, the session's verification and the deliverer's metrics.
/// </summary>
public sealed class DaneDeliveryTests(DaneDns dns) : IClassFixture<DaneDns>
{
    private static readonly SmtpClientTimeouts Short = TestTimeouts.Short;

    private static int _messages;
    private readonly RecordingMetrics _metrics = new();
    private readonly ListLoggerFactory _logs = new();

    private int Port => dns.SmtpPort;

    private DanePki Pki => dns.Pki;

    [Fact]
    public async Task Dane_ee_record_matching_the_key_delivers_over_tls_verified_by_dane()
    {
        // The certificate is self-signed, expired and named for another host: DANE-EE looks at the key only.
        await using var mx = MxServer.Accepting(DaneDns.EeAddress, Port, Pki.Context(Pki.EndEntity));
        await using var deliverer = NewDeliverer();

        var result = await deliverer.DeliverAsync(Batch("ee.dane.test", "alice"));

        Delivered(Assert.Single(result.Recipients), "alice@ee.dane.test");
        Assert.Equal("mx-ee.dane.test", result.Host);
        var session = Assert.IsType<SmtpSessionInfo>(result.Session);
        Assert.True(session.Tls);
        Assert.True(session.Verification?.DaneValid, session.Verification?.DaneError);
        Assert.False(session.Verification?.PkixValid);
        var connection = Assert.Single(mx.Connections);
        Assert.True(connection.Secured);
        Assert.Equal(["EHLO", "STARTTLS", "EHLO", "MAIL", "RCPT", "DATA"], connection.Verbs.Take(6));

        Assert.Equal(1, _metrics.Value("tern_delivery_tls_sessions_total", "dane"));
        Assert.Equal(1, _metrics.Count("tern_delivery_duration_seconds", "delivered", "direct", "dane"));
        Assert.Equal(1, _metrics.Value("tern_delivery_dane_total", "verified"));
        Assert.Empty(mx.Faults);
    }

    [Theory]
    [InlineData("alias.dane.test", "mx-alias.dane.test")]
    [InlineData("original.dane.test", "mx-original.dane.test")]
    public async Task An_mx_host_behind_a_cname_is_verified_with_the_tlsa_record_of_the_expanded_or_the_original_name(string domain, string host)
    {
        // RFC 7672 section 2.2.2: TLSA at the CNAME-expanded name first, then at the name the MX gave.
        await using var mx = MxServer.Accepting(DaneDns.EeAddress, Port, Pki.Context(Pki.EndEntity));
        await using var deliverer = NewDeliverer();

        var result = await deliverer.DeliverAsync(Batch(domain, "alice"));

        Delivered(Assert.Single(result.Recipients), "alice@" + domain);
        Assert.Equal(host, result.Host);
        Assert.True(result.Session?.Verification?.DaneValid, result.Session?.Verification?.DaneError);
        Assert.True(Assert.Single(mx.Connections).Secured);
        Assert.Equal(1, _metrics.Value("tern_delivery_dane_total", "verified"));
    }

    [Fact]
    public async Task Dane_ee_record_of_another_key_defers_without_plaintext_and_the_metric_and_log_say_why()
    {
        await using var mx = MxServer.Accepting(DaneDns.MismatchAddress, Port, Pki.Context(Pki.EndEntity));
        await using var deliverer = NewDeliverer();

        var result = await deliverer.DeliverAsync(Batch("mismatch.dane.test", "alice"));

        var r = Assert.Single(result.Recipients);
        Assert.Equal((SmtpOutcome.TemporaryFailure, SmtpStage.StartTls, SmtpFailureKind.Tls), (r.Outcome, r.Stage, r.Kind));
        // DANE's reason only: PKIX (which this self-signed certificate fails too) was not required.
        Assert.Equal("421 4.7.5 certificate not accepted: no DANE-EE record matches the server certificate", r.Reply.ToString());

        // One connection, nothing after the refused handshake (the server's side of a TLS 1.3
        // handshake may complete before the client checks the certificate and hangs up), and no retry in plaintext.
        await mx.WhenScriptsEndAsync();
        Assert.Equal(["EHLO", "STARTTLS"], Assert.Single(mx.Connections).Verbs);

        Assert.Equal(1, _metrics.Value("tern_delivery_dane_total", "certificate_rejected"));
        Assert.Equal(0, _metrics.Value("tern_delivery_dane_total", "verified"));
        Assert.Equal(0, _metrics.Value("tern_delivery_plaintext_fallbacks_total"));
        Assert.Equal(1, _metrics.Count("tern_delivery_duration_seconds", "deferred", "direct", "none"));
        Assert.Contains(_logs.Entries, e => e.Level == LogLevel.Information
            && e.Message.Contains("client tls failed", StringComparison.Ordinal)
            && e.Message.Contains("no DANE-EE record matches the server certificate", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Tls_required_no_delivers_despite_a_dane_ee_record_of_another_key()
    {
        // RFC 8689 section 5: the sender prefers delivery to DANE's verdict; the handshake completes, the mismatch is only recorded.
        await using var mx = MxServer.Accepting(DaneDns.MismatchAddress, Port, Pki.Context(Pki.EndEntity));
        await using var deliverer = NewDeliverer();
        var batch = Batch("mismatch.dane.test", "alice");
        batch = batch with { Message = batch.Message with { Content = Encoding.ASCII.GetBytes("From: <alice@sender.test>\r\nTLS-Required: No\r\nSubject: dane\r\n\r\nHello.\r\n") } };

        var result = await deliverer.DeliverAsync(batch);

        Delivered(Assert.Single(result.Recipients), "alice@mismatch.dane.test");
        var session = Assert.IsType<SmtpSessionInfo>(result.Session);
        Assert.True(session.Tls);
        Assert.False(session.Verification?.DaneValid);
        Assert.True(Assert.Single(mx.Connections).Secured);
        Assert.Equal(1, _metrics.Value("tern_delivery_tls_required_no_total", "dane"));
        Assert.Equal(1, _metrics.Value("tern_delivery_tls_sessions_total", "opportunistic"));
        Assert.Equal(0, _metrics.Value("tern_delivery_dane_total", "certificate_rejected"));
    }

    [Fact]
    public async Task Unsigned_zone_delivers_with_opportunistic_tls_and_ignores_its_tlsa_record()
    {
        // plain.test publishes "3 1 1" of another key, but without DNSSEC nothing of it counts.
        await using var mx = MxServer.Accepting(DaneDns.PlainAddress, Port, Pki.Context(Pki.EndEntity));
        await using var deliverer = NewDeliverer();

        var result = await deliverer.DeliverAsync(Batch("plain.test", "alice"));

        Delivered(Assert.Single(result.Recipients), "alice@plain.test");
        var session = Assert.IsType<SmtpSessionInfo>(result.Session);
        Assert.True(session.Tls);
        Assert.Null(session.Verification?.DaneValid);
        Assert.True(Assert.Single(mx.Connections).Secured);
        Assert.Equal(1, _metrics.Value("tern_delivery_tls_sessions_total", "opportunistic"));
        Assert.Equal(0, _metrics.Value("tern_delivery_tls_sessions_total", "dane"));
        Assert.All(DeliveryMetrics.DaneResults, label => Assert.Equal(0, _metrics.Value("tern_delivery_dane_total", label)));
    }

    [Fact]
    public async Task Bogus_signature_defers_without_connecting()
    {
        // unbound holds a trust anchor for bogus.test that no key matches: SERVFAIL for its MX.
        await using var mx = MxServer.Accepting(DaneDns.EeAddress, Port, Pki.Context(Pki.EndEntity));
        await using var deliverer = NewDeliverer();

        var result = await deliverer.DeliverAsync(Batch("bogus.test", "alice"));

        var r = Assert.Single(result.Recipients);
        Assert.Equal((SmtpOutcome.TemporaryFailure, SmtpStage.Connect), (r.Outcome, r.Stage));
        Assert.Equal("4.4.3", r.Reply.Status);
        Assert.Contains("bogus.test", r.Reply.ToString(), StringComparison.Ordinal);
        Assert.Null(result.Host);
        Assert.Empty(mx.Connections);
    }

    [Fact]
    public async Task Tlsa_lookup_servfail_skips_that_host_and_the_next_mx_delivers()
    {
        await using var failing = MxServer.Accepting(DaneDns.TlsaFailAddress, Port, Pki.Context(Pki.EndEntity));
        await using var next = MxServer.Accepting(DaneDns.EeAddress, Port, Pki.Context(Pki.EndEntity));
        await using var deliverer = NewDeliverer();

        var result = await deliverer.DeliverAsync(Batch("tlsafail.dane.test", "alice"));

        Delivered(Assert.Single(result.Recipients), "alice@tlsafail.dane.test");
        Assert.Equal("mx-ee.dane.test", result.Host);
        Assert.True(result.Session?.Verification?.DaneValid);
        Assert.Empty(failing.Connections);
        Assert.Single(next.Connections);
        Assert.Equal(1, _metrics.Value("tern_delivery_dane_total", "tlsa_lookup_failed"));
        Assert.Equal(1, _metrics.Value("tern_delivery_dane_total", "verified"));
    }

    [Fact]
    public async Task Tlsa_lookup_servfail_at_the_only_mx_defers()
    {
        await using var failing = MxServer.Accepting(DaneDns.TlsaFailAddress, Port, Pki.Context(Pki.EndEntity));
        await using var deliverer = NewDeliverer();

        var result = await deliverer.DeliverAsync(Batch("tlsafailonly.dane.test", "alice"));

        var r = Assert.Single(result.Recipients);
        Assert.Equal((SmtpOutcome.TemporaryFailure, SmtpFailureKind.Tls), (r.Outcome, r.Kind));
        Assert.Equal("451 4.7.5 mx-tlsafail.dane.test: TLSA lookup failed", r.Reply.ToString());
        Assert.Empty(failing.Connections);
        Assert.Equal(1, _metrics.Value("tern_delivery_dane_total", "tlsa_lookup_failed"));
    }

    [Fact]
    public async Task Dane_ta_record_of_the_issuing_ca_delivers_when_the_certificate_names_the_mx()
    {
        await using var mx = MxServer.Accepting(DaneDns.TaAddress, Port, Pki.Context(Pki.TrustAnchorLeaf));
        await using var deliverer = NewDeliverer();

        var result = await deliverer.DeliverAsync(Batch("ta.dane.test", "alice"));

        Delivered(Assert.Single(result.Recipients), "alice@ta.dane.test");
        Assert.True(result.Session?.Verification?.DaneValid, result.Session?.Verification?.DaneError);
        Assert.True(Assert.Single(mx.Connections).Secured);
        Assert.Equal(1, _metrics.Value("tern_delivery_tls_sessions_total", "dane"));
        Assert.Equal(1, _metrics.Value("tern_delivery_dane_total", "verified"));
    }

    [Fact]
    public async Task Dane_ta_record_with_a_certificate_for_another_name_defers()
    {
        // Same CA, same record; the leaf names not-mx-taname.dane.test (RFC 7672 section 3.2.2: DANE-TA checks the name).
        await using var mx = MxServer.Accepting(DaneDns.TaWrongNameAddress, Port, Pki.Context(Pki.WrongNameLeaf));
        await using var deliverer = NewDeliverer();

        var result = await deliverer.DeliverAsync(Batch("taname.dane.test", "alice"));

        var r = Assert.Single(result.Recipients);
        Assert.Equal((SmtpOutcome.TemporaryFailure, SmtpStage.StartTls, SmtpFailureKind.Tls), (r.Outcome, r.Stage, r.Kind));
        Assert.Contains("DANE-TA: server certificate names", r.Reply.ToString(), StringComparison.Ordinal);
        Assert.Contains("match none of mx-taname.dane.test", r.Reply.ToString(), StringComparison.Ordinal);
        Assert.Equal(["EHLO", "STARTTLS"], Assert.Single(mx.Connections).Verbs);
        Assert.Equal(1, _metrics.Value("tern_delivery_dane_total", "certificate_rejected"));
    }

    [Fact]
    public async Task Only_unusable_tlsa_records_deliver_over_tls_that_is_not_verified()
    {
        // "1 1 1" (PKIX-EE) is unusable for SMTP (RFC 7672 section 3.1.3), even though it names the right key.
        await using var mx = MxServer.Accepting(DaneDns.UnusableAddress, Port, Pki.Context(Pki.EndEntity));
        await using var deliverer = NewDeliverer();

        var result = await deliverer.DeliverAsync(Batch("unusable.dane.test", "alice"));

        Delivered(Assert.Single(result.Recipients), "alice@unusable.dane.test");
        var session = Assert.IsType<SmtpSessionInfo>(result.Session);
        Assert.True(session.Tls);
        Assert.Null(session.Verification?.DaneValid);
        Assert.Contains("no usable TLSA records", session.Verification?.DaneError, StringComparison.Ordinal);
        Assert.Equal(1, _metrics.Value("tern_delivery_tls_sessions_total", "opportunistic"));
        Assert.Equal(1, _metrics.Value("tern_delivery_dane_total", "unusable_records"));
    }

    [Fact]
    public async Task Only_unusable_tlsa_records_still_require_tls()
    {
        await using var mx = MxServer.Accepting(DaneDns.UnusableAddress, Port);
        await using var deliverer = NewDeliverer();

        var result = await deliverer.DeliverAsync(Batch("unusable.dane.test", "alice"));

        var r = Assert.Single(result.Recipients);
        Assert.Equal((SmtpOutcome.TemporaryFailure, SmtpStage.StartTls), (r.Outcome, r.Stage));
        Assert.DoesNotContain("MAIL", Assert.Single(mx.Connections).Verbs);
        Assert.Equal(0, _metrics.Value("tern_delivery_plaintext_fallbacks_total"));
    }

    [Fact]
    public async Task Dane_server_without_starttls_gets_no_message_in_plaintext()
    {
        // No certificate: STARTTLS is not offered and answered 454 when sent anyway.
        await using var mx = MxServer.Accepting(DaneDns.NoStartTlsAddress, Port);
        await using var deliverer = NewDeliverer();

        var result = await deliverer.DeliverAsync(Batch("nostarttls.dane.test", "alice", "bob"));

        foreach (var r in result.Recipients)
        {
            Assert.Equal((SmtpOutcome.TemporaryFailure, SmtpStage.StartTls, SmtpFailureKind.Reply), (r.Outcome, r.Stage, r.Kind));
            Assert.Equal("454 4.7.0 TLS not available", r.Reply.ToString());
        }

        var connection = Assert.Single(mx.Connections);
        Assert.Equal(["EHLO", "STARTTLS"], connection.Verbs.Take(2));
        Assert.DoesNotContain("MAIL", connection.Verbs);
        Assert.Empty(connection.Messages);
        Assert.Equal(0, _metrics.Value("tern_delivery_plaintext_fallbacks_total"));
        Assert.Equal(1, _metrics.Value("tern_delivery_dane_total", "no_tls"));
    }

    [Fact]
    public async Task Requiretls_message_to_a_dane_verified_server_announcing_requiretls_is_sent_with_requiretls()
    {
        await using var mx = new MxServer(DaneDns.RequireTlsAddress, Port, c => c.ServeAsync(tlsEhlo: [.. MxConnection.DefaultEhlo, "REQUIRETLS"]), Pki.Context(Pki.EndEntity));
        await using var deliverer = NewDeliverer();

        var result = await deliverer.DeliverAsync(Batch("requiretls.dane.test", ["alice"], requireTls: true));

        Delivered(Assert.Single(result.Recipients), "alice@requiretls.dane.test");
        Assert.True(result.Session?.Verification?.DaneValid);
        var connection = Assert.Single(mx.Connections);
        Assert.True(connection.Secured);
        Assert.Contains("MAIL FROM:<alice@sender.test> REQUIRETLS", connection.Received);
        Assert.Equal(0, _metrics.Value("tern_delivery_requiretls_unsupported_total", "not_offered"));
    }

    [Fact]
    public async Task Requiretls_message_to_a_dane_verified_server_without_requiretls_fails_with_5_7_30()
    {
        await using var mx = MxServer.Accepting(DaneDns.EeAddress, Port, Pki.Context(Pki.EndEntity));
        await using var deliverer = NewDeliverer();

        var result = await deliverer.DeliverAsync(Batch("ee.dane.test", ["alice"], requireTls: true));

        var r = Assert.Single(result.Recipients);
        Assert.Equal((SmtpOutcome.PermanentFailure, SmtpFailureKind.Policy), (r.Outcome, r.Kind));
        Assert.Equal("5.7.30", r.Reply.Status);
        Assert.Contains("the server does not offer REQUIRETLS", r.Reply.ToString(), StringComparison.Ordinal);
        Assert.True(result.Session?.Verification?.DaneValid);
        Assert.DoesNotContain("MAIL", Assert.Single(mx.Connections).Verbs);
        Assert.Equal(1, _metrics.Value("tern_delivery_requiretls_unsupported_total", "not_offered"));
    }

    private Deliverer NewDeliverer() => new(
        RouteTable.Create(new RoutingOptions()),
        dns.Resolver(),
        new DelivererOptions
        {
            EhloName = "out.tern.test",
            ConnectTimeout = TimeSpan.FromSeconds(2),
            Timeouts = Short,
            IdleReuse = TimeSpan.Zero,
            DirectPort = Port,
        },
        _logs,
        metrics: _metrics);

    private static DeliveryBatch Batch(string domain, params string[] locals) => Batch(domain, locals, requireTls: false);

    private static DeliveryBatch Batch(string domain, string[] locals, bool requireTls) => new()
    {
        MessageId = "dane" + Interlocked.Increment(ref _messages),
        RecipientDomain = domain,
        Message = new SmtpMessage
        {
            Sender = "alice@sender.test",
            Recipients = [.. locals.Select(l => new SmtpRecipient($"{l}@{domain}"))],
            Content = Encoding.ASCII.GetBytes("From: <alice@sender.test>\r\nSubject: dane\r\n\r\nHello.\r\n"),
            RequireTls = requireTls,
        },
    };

    private static void Delivered(SmtpRecipientResult r, string address)
    {
        Assert.Equal(address, r.Recipient.Address);
        Assert.True(r.Outcome == SmtpOutcome.Delivered, $"{r.Outcome} {r.Stage} {r.Kind}: {r.Reply}");
        Assert.Equal(SmtpStage.DataEnd, r.Stage);
    }
}
