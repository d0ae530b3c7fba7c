using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Tern.Smtp.Client;
using Tern.Tests.Support;

namespace Tern.Delivery.Tests.Delivering;

/// <summary>
/// What the <see cref="Deliverer"/> counts, against real SMTP servers on loopback (knot for DNS, as
/// in <see cref="DelivererTests"/>): attempts by result and transport, batch durations by TLS mode,
/// sessions by TLS mode, connections opened and reused, plaintext fallbacks, REQUIRETLS refusals.
/// </summary>
public sealed class DelivererMetricsTests(DeliveryDns dns) : IClassFixture<DeliveryDns>
{
    private static int _messages;

    private int Port => dns.SmtpPort;

    [Fact]
    public async Task Attempts_by_result_durations_sessions_and_reuse_are_counted()
    {
        const string refusal = "550 5.1.1 <bob@one.example.test>: User unknown";
        await using var h2 = new MxServer("127.0.0.2", Port, c => c.ServeAsync(answer: l => l switch
        {
            "RCPT TO:<bob@one.example.test>" => refusal,
            "RCPT TO:<carol@one.example.test>" => "450 4.7.1 greylisted",
            _ => null,
        }));
        var metrics = new RecordingMetrics();
        await using var deliverer = NewDeliverer(metrics, TimeSpan.FromSeconds(10));

        var result = await deliverer.DeliverAsync(Batch("one.example.test", "alice", "bob", "carol"));
        Assert.Equal([SmtpOutcome.Delivered, SmtpOutcome.PermanentFailure, SmtpOutcome.TemporaryFailure], result.Recipients.Select(r => r.Outcome));
        Assert.Equal(1, metrics.Value("tern_delivery_attempts_total", "delivered", "direct"));
        Assert.Equal(1, metrics.Value("tern_delivery_attempts_total", "failed", "direct"));
        Assert.Equal(1, metrics.Value("tern_delivery_attempts_total", "deferred", "direct"));
        Assert.Equal(0, metrics.Value("tern_delivery_attempts_total", "delivered", "smtp"));

        // One batch: its duration under its worst outcome and the session's TLS mode (none: no STARTTLS offered).
        Assert.Equal(1, metrics.Count("tern_delivery_duration_seconds", "failed", "direct", "none"));
        Assert.Equal(0, metrics.Count("tern_delivery_duration_seconds", "delivered", "direct", "none"));
        Assert.Equal(1, metrics.Value("tern_delivery_tls_sessions_total", "none"));
        Assert.Equal(0, metrics.Value("tern_delivery_tls_sessions_total", "opportunistic"));
        Assert.Equal(1, metrics.Value("tern_delivery_connections_opened_total"));

        // The next batch to the same host goes over the same connection.
        await deliverer.DeliverAsync(Batch("one.example.test", "dave"));
        Assert.Equal(2, metrics.Value("tern_delivery_attempts_total", "delivered", "direct"));
        Assert.Equal(1, metrics.Value("tern_delivery_connections_reused_total"));
        Assert.Equal(1, metrics.Value("tern_delivery_connections_opened_total"));
        Assert.Equal(1, metrics.Count("tern_delivery_duration_seconds", "delivered", "direct", "none"));
        Assert.Equal(1, metrics.Value("tern_delivery_tls_sessions_total", "none"));
        Assert.Equal(0, metrics.Value("tern_delivery_plaintext_fallbacks_total"));
    }

    [Fact]
    public async Task A_broken_starttls_counts_a_plaintext_fallback()
    {
        string[] ehlo = ["PIPELINING", "STARTTLS", "ENHANCEDSTATUSCODES"];
        await using var h2 = new MxServer("127.0.0.2", Port, async c =>
        {
            if (c.Index > 0)
            {
                await c.ServeAsync(ehlo: ehlo);
                return;
            }

            await c.SendAsync($"220 {c.Name} ESMTP");
            await c.ExpectAsync("EHLO ");
            await c.SendRawAsync(c.Ehlo(ehlo) + "\r\n");
            await c.ExpectAsync("STARTTLS");
            await c.SendAsync("220 2.0.0 Ready to start TLS");
            await c.ReadRawAsync();
            await c.SendRawAsync("this is not a TLS record at all\r\n");
        });
        var metrics = new RecordingMetrics();
        await using var deliverer = NewDeliverer(metrics);

        var result = await deliverer.DeliverAsync(Batch("one.example.test", "alice"));

        Assert.Equal(SmtpOutcome.Delivered, Assert.Single(result.Recipients).Outcome);
        Assert.Equal(1, metrics.Value("tern_delivery_plaintext_fallbacks_total"));
        Assert.Equal(2, metrics.Value("tern_delivery_connections_opened_total"));
        Assert.Equal(1, metrics.Value("tern_delivery_tls_sessions_total", "none"));
        Assert.Equal(1, metrics.Value("tern_delivery_attempts_total", "delivered", "direct"));
    }

    [Fact]
    public async Task Requiretls_refusals_are_counted_by_reason()
    {
        // An MX host with neither DANE nor an enforced MTA-STS policy (the zone is not signed): REQUIRETLS
        // cannot be met there (RFC 8689 section 4.2.1), so it is not even contacted (unverified); being the
        // only MX, the refusal is final.
        await using var h2 = MxServer.Accepting("127.0.0.2", Port);
        await using var smarthost = MxServer.Accepting("127.0.0.8", Port);
        var metrics = new RecordingMetrics();
        await using var deliverer = NewDeliverer(metrics);

        var direct = await deliverer.DeliverAsync(Batch("one.example.test", ["alice"], requireTls: true));
        Assert.Equal(SmtpOutcome.PermanentFailure, Assert.Single(direct.Recipients).Outcome);
        Assert.Equal("550 5.7.30 REQUIRETLS support required, h2.example.test has neither DANE nor an enforced MTA-STS policy", direct.Recipients[0].Reply.ToString());
        Assert.Empty(h2.Connections);
        Assert.Equal(1, metrics.Value("tern_delivery_requiretls_unsupported_total", "unverified"));

        // Routed to a transport that does not verify TLS: refused before connecting (transport).
        var routed = await deliverer.DeliverAsync(Batch("one.example.test", ["alice"], sender: "carol@smart.test", requireTls: true));
        Assert.Equal("550 5.7.30 REQUIRETLS: transport \"smarthost\" does not verify TLS", Assert.Single(routed.Recipients).Reply.ToString());
        Assert.Equal(1, metrics.Value("tern_delivery_requiretls_unsupported_total", "transport"));
        Assert.Equal(1, metrics.Value("tern_delivery_attempts_total", "failed", "smtp"));
        Assert.Empty(smarthost.Connections);
        Assert.Equal(1, metrics.Value("tern_delivery_requiretls_unsupported_total", "unverified"));
        Assert.Equal(0, metrics.Value("tern_delivery_requiretls_unsupported_total", "no_tls"));
        Assert.Equal(0, metrics.Value("tern_delivery_requiretls_unsupported_total", "not_offered"));
    }

    private Deliverer NewDeliverer(RecordingMetrics metrics, TimeSpan idleReuse = default) => new(
        RouteTable.Create(new RoutingOptions
        {
            Transports = [new SmtpTransport { Name = "smarthost", Host = "127.0.0.8", Port = Port, RequireTls = false }],
            DomainRoutes = new Dictionary<string, IReadOnlyList<Route>> { ["smart.test"] = [new Route { Transport = "smarthost" }] },
        }),
        dns.Resolver(),
        new DelivererOptions
        {
            EhloName = "out.tern.test",
            ConnectTimeout = TimeSpan.FromSeconds(2),
            IdleReuse = idleReuse,
            DirectPort = Port,
        },
        NullLoggerFactory.Instance,
        metrics: metrics);

    private static DeliveryBatch Batch(string domain, params string[] locals) => Batch(domain, locals, requireTls: false);

    private static DeliveryBatch Batch(string domain, string[] locals, string sender = "alice@sender.test", bool requireTls = false) => new()
    {
        MessageId = "metrics" + Interlocked.Increment(ref _messages),
        RecipientDomain = domain,
        Message = new SmtpMessage
        {
            Sender = sender,
            Recipients = [.. locals.Select(l => new SmtpRecipient($"{l}@{domain}"))],
            Content = Encoding.ASCII.GetBytes("From: <" + sender + ">\r\nSubject: metrics\r\n\r\nHello.\r\n"),
            RequireTls = requireTls,
        },
    };
}
