using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Tern.Dns;
using Tern.Smtp.Client;

namespace Tern.Delivery.Tests.Delivering;

/// <summary>
/// The <see cref="Deliverer"/> end to end on loopback: knot answers for example.test (see
/// <see cref="DeliveryDns.Zone"/>), scripted SMTP servers listen on 127.0.0.2..8 at one port (the
/// deliverer's DirectPort). Each test checks every recipient's outcome, stage and full reply, and
/// which hosts were contacted.
/// </summary>
public sealed class DelivererTests(DeliveryDns dns) : IClassFixture<DeliveryDns>
{
    private const string Sender = "alice@sender.test";

    private static readonly SmtpClientTimeouts Short = TestTimeouts.Short;

    private static int _messages;
    private readonly DnsResolver _resolver = dns.Resolver();

    private int Port => dns.SmtpPort;

    // ---- 1. Connection refused -------------------------------------------------------------

    [Fact]
    public async Task Lowest_preference_mx_refusing_the_connection_passes_the_recipients_to_the_next()
    {
        // Nothing listens on 127.0.0.2 (h2, preference 10).
        await using var h3 = MxServer.Accepting("127.0.0.3", Port);
        await using var deliverer = NewDeliverer();

        var result = await deliverer.DeliverAsync(Batch("two.example.test", "alice", "bob"));

        Delivered(result.Recipients[0], "alice@two.example.test", "250 2.0.0 Ok: queued as mx3.test-0-1");
        Delivered(result.Recipients[1], "bob@two.example.test", "250 2.0.0 Ok: queued as mx3.test-0-1");
        Assert.Equal("direct", result.Transport);
        Assert.Equal("h3.example.test", result.Host);
        Assert.Equal(new IPEndPoint(h3.Address, Port), result.Remote);
        var session = Assert.Single(h3.Connections);
        Assert.Equal(["EHLO out.tern.test", "MAIL FROM:<alice@sender.test>", "RCPT TO:<alice@two.example.test>", "RCPT TO:<bob@two.example.test>", "DATA", "<data>"], session.Received.Take(6));
        Assert.Empty(h3.Faults);
    }

    // ---- 2. Greeting 421 / 554 -------------------------------------------------------------

    [Theory]
    [InlineData("421 4.3.2 mx2.test Service shutting down, try again later")]
    [InlineData("554 5.7.1 mx2.test No SMTP service here")]
    public async Task A_refusing_greeting_moves_on_to_the_next_mx(string greeting)
    {
        await using var h2 = new MxServer("127.0.0.2", Port, c => RefuseGreetingAsync(c, greeting));
        await using var h3 = MxServer.Accepting("127.0.0.3", Port);
        await using var deliverer = NewDeliverer();

        var result = await deliverer.DeliverAsync(Batch("two.example.test", "alice", "bob"));

        Delivered(result.Recipients[0], "alice@two.example.test", "250 2.0.0 Ok: queued as mx3.test-0-1");
        Delivered(result.Recipients[1], "bob@two.example.test", "250 2.0.0 Ok: queued as mx3.test-0-1");
        Assert.Equal("h3.example.test", result.Host);
        Assert.Single(h2.Connections);
        Assert.Single(h3.Connections);
    }

    [Fact]
    public async Task Every_mx_greeting_554_defers_with_the_last_servers_lines()
    {
        // Postfix's smtp_skip_5xx_greeting: a 5xx greeting says something about that host, not the mail.
        await using var h2 = new MxServer("127.0.0.2", Port, c => RefuseGreetingAsync(c, "554 5.7.1 mx2.test No SMTP service here"));
        await using var h3 = new MxServer("127.0.0.3", Port, c => RefuseGreetingAsync(c, "554 mx3.test no service"));
        await using var h4 = new MxServer("127.0.0.4", Port, c => RefuseGreetingAsync(c, "554-mx4.test Your address is listed at bl.example\r\n554 5.7.1 See https://bl.example/lookup"));
        await using var deliverer = NewDeliverer();

        var result = await deliverer.DeliverAsync(Batch("three.example.test", "alice", "bob"));

        foreach (var (r, address) in result.Recipients.Zip(["alice@three.example.test", "bob@three.example.test"]))
        {
            Failed(r, address, SmtpOutcome.TemporaryFailure, SmtpStage.Greeting, SmtpFailureKind.Reply,
                "554-mx4.test Your address is listed at bl.example\r\n554 5.7.1 See https://bl.example/lookup");
            Assert.False(r.Reply.IsLocal);
        }

        Assert.Equal("h4.example.test", result.Host);
        Assert.Equal(new IPEndPoint(h4.Address, Port), result.Remote);
        Assert.Single(h2.Connections);
        Assert.Single(h3.Connections);
        Assert.Single(h4.Connections);
    }

    // ---- 3. Connection lost after MAIL -----------------------------------------------------

    [Fact]
    public async Task Connection_dropped_after_MAIL_moves_the_open_recipients_to_the_next_mx()
    {
        await using var h2 = new MxServer("127.0.0.2", Port, c => c.ServeAsync(answer: l => l.StartsWith("MAIL", StringComparison.Ordinal) ? MxConnection.Drop : null));
        await using var h3 = MxServer.Accepting("127.0.0.3", Port);
        await using var deliverer = NewDeliverer();

        var result = await deliverer.DeliverAsync(Batch("two.example.test", "alice", "bob"));

        Delivered(result.Recipients[0], "alice@two.example.test", "250 2.0.0 Ok: queued as mx3.test-0-1");
        Delivered(result.Recipients[1], "bob@two.example.test", "250 2.0.0 Ok: queued as mx3.test-0-1");
        Assert.Equal("h3.example.test", result.Host);
        Assert.Equal(["EHLO", "MAIL"], Assert.Single(h2.Connections).Verbs.Take(2));
        Assert.Empty(Assert.Single(h2.Connections).Messages);
        var second = Assert.Single(h3.Connections);
        Assert.Contains("RCPT TO:<alice@two.example.test>", second.Received);
        Assert.Contains("RCPT TO:<bob@two.example.test>", second.Received);
        Assert.Single(second.Messages);
    }

    // ---- 4. Per-recipient refusal ----------------------------------------------------------

    [Fact]
    public async Task Rcpt_550_for_one_recipient_fails_it_the_other_is_delivered_and_the_next_mx_is_not_contacted()
    {
        const string refusal = "550-5.1.1 <bob@two.example.test>: Recipient address rejected:\r\n550 5.1.1 User unknown in virtual mailbox table";
        await using var h2 = new MxServer("127.0.0.2", Port, c => c.ServeAsync(answer: l => l == "RCPT TO:<bob@two.example.test>" ? refusal : null));
        await using var h3 = MxServer.Accepting("127.0.0.3", Port);
        await using var deliverer = NewDeliverer();

        var result = await deliverer.DeliverAsync(Batch("two.example.test", "alice", "bob"));

        Delivered(result.Recipients[0], "alice@two.example.test", "250 2.0.0 Ok: queued as mx2.test-0-1");
        Failed(result.Recipients[1], "bob@two.example.test", SmtpOutcome.PermanentFailure, SmtpStage.Rcpt, SmtpFailureKind.Reply, refusal);
        Assert.Equal("5.1.1", result.Recipients[1].Reply.Status);
        Assert.Equal("h2.example.test", result.Host);
        Assert.Single(Assert.Single(h2.Connections).Messages);
        Assert.Empty(h3.Connections);
    }

    // ---- 5. Greylisting --------------------------------------------------------------------

    [Fact]
    public async Task Rcpt_450_defers_and_the_next_attempt_starts_at_the_address_that_greylisted()
    {
        // grey.example.test has two addresses; the first in DNS order refuses the connection at first.
        var a = await _resolver.LookupAAsync("grey.example.test");
        Assert.Equal(2, a.Records.Count);
        var (first, second) = (a.Records[0].ToString(), a.Records[1].ToString());
        const string greylisted = "450 4.2.0 <alice@greylist.example.test>: Recipient address rejected: Greylisted, see https://postgrey.example/help/greylist.example.test";
        await using var deliverer = NewDeliverer();

        SmtpRecipientResult deferred;
        await using (var grey = new MxServer(second, Port, c => c.ServeAsync(answer: l => l.StartsWith("RCPT", StringComparison.Ordinal) ? greylisted : null)))
        {
            var result = await deliverer.DeliverAsync(Batch("greylist.example.test", "alice"));
            deferred = Assert.Single(result.Recipients);
            Assert.Equal(new IPEndPoint(grey.Address, Port), result.Remote);
            Assert.Single(grey.Connections);
        }

        Failed(deferred, "alice@greylist.example.test", SmtpOutcome.TemporaryFailure, SmtpStage.Rcpt, SmtpFailureKind.Reply, greylisted);

        // The retry: both addresses answer now; the one that greylisted gets the connection.
        await using var one = MxServer.Accepting(first, Port);
        await using var two = MxServer.Accepting(second, Port);
        var retry = await deliverer.DeliverAsync(Batch("greylist.example.test", ["alice"], attempts: 1));
        Delivered(Assert.Single(retry.Recipients), "alice@greylist.example.test", $"250 2.0.0 Ok: queued as {two.Name}-0-1");
        Assert.Equal(new IPEndPoint(two.Address, Port), retry.Remote);
        Assert.Empty(one.Connections);
        Assert.Single(two.Connections);

        // Without that memory (a new deliverer) the same attempt starts in DNS order.
        await using var fresh = NewDeliverer();
        var control = await fresh.DeliverAsync(Batch("greylist.example.test", ["alice"], attempts: 1));
        Assert.Equal(new IPEndPoint(one.Address, Port), control.Remote);
        Assert.Single(one.Connections);
    }

    // ---- 6. DNS outcomes -------------------------------------------------------------------

    [Fact]
    public async Task Null_mx_fails_every_recipient_permanently_with_5_1_10()
    {
        await using var deliverer = NewDeliverer();

        var result = await deliverer.DeliverAsync(Batch("nullmx.example.test", "alice", "bob"));

        foreach (var (r, address) in result.Recipients.Zip(["alice@nullmx.example.test", "bob@nullmx.example.test"]))
        {
            Failed(r, address, SmtpOutcome.PermanentFailure, SmtpStage.Connect, SmtpFailureKind.Policy,
                "550 5.1.10 nullmx.example.test does not accept mail (null MX, RFC 7505)");
            Assert.True(r.Reply.IsLocal);
        }

        Assert.Null(result.Host);
        Assert.Null(result.Remote);
        Assert.Null(result.Session);
    }

    [Fact]
    public async Task A_domain_that_does_not_exist_fails_permanently_with_5_1_2()
    {
        await using var deliverer = NewDeliverer();

        var result = await deliverer.DeliverAsync(Batch("nothere.example.test", "alice"));

        Failed(Assert.Single(result.Recipients), "alice@nothere.example.test", SmtpOutcome.PermanentFailure, SmtpStage.Connect, SmtpFailureKind.Policy,
            "550 5.1.2 nothere.example.test: no such domain (NXDOMAIN)");
        Assert.Null(result.Host);
    }

    [Fact]
    public async Task A_dns_server_that_does_not_answer_defers_with_4_4_3()
    {
        // A UDP port that takes queries and never answers (and no TCP listener behind it).
        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        silent.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var resolver = new DnsResolver(new DnsOptions { Servers = [(IPEndPoint)silent.LocalEndPoint!], Timeout = TimeSpan.FromMilliseconds(300), Attempts = 1 }, NullLoggerFactory.Instance);
        await using var h2 = MxServer.Accepting("127.0.0.2", Port);
        await using var deliverer = NewDeliverer(resolver: resolver);

        var result = await deliverer.DeliverAsync(Batch("two.example.test", "alice", "bob"));

        foreach (var (r, address) in result.Recipients.Zip(["alice@two.example.test", "bob@two.example.test"]))
        {
            Failed(r, address, SmtpOutcome.TemporaryFailure, SmtpStage.Connect, SmtpFailureKind.ConnectionLost,
                $"451 4.4.3 timeout asking {silent.LocalEndPoint} for two.example.test MX");
        }

        Assert.Null(result.Host);
        Assert.Empty(h2.Connections);
    }

    // ---- 7. Opportunistic STARTTLS that breaks ---------------------------------------------

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Starttls_broken_after_220_is_retried_in_plaintext_on_the_same_host(bool garbage)
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
            Assert.True(await c.ReadRawAsync() > 0, "no ClientHello");
            if (garbage)
            {
                await c.SendRawAsync("this is not a TLS record at all\r\n");
            }
        });
        await using var h3 = MxServer.Accepting("127.0.0.3", Port);
        await using var deliverer = NewDeliverer();

        var result = await deliverer.DeliverAsync(Batch("two.example.test", "alice"));

        Delivered(Assert.Single(result.Recipients), "alice@two.example.test", "250 2.0.0 Ok: queued as mx2.test-1-1");
        Assert.Equal("h2.example.test", result.Host);
        Assert.NotNull(result.Session);
        Assert.False(result.Session.Tls);
        Assert.True(result.Session.StartTlsOffered);
        Assert.Equal(2, h2.Connections.Count);
        Assert.Equal(["EHLO", "STARTTLS"], h2.Connections[0].Verbs);
        Assert.Equal(["EHLO", "MAIL", "RCPT", "DATA"], h2.Connections[1].Verbs.Take(4));
        Assert.DoesNotContain("STARTTLS", h2.Connections[1].Verbs);
        Assert.Empty(h3.Connections);
        Assert.Empty(h2.Faults);
    }

    // ---- 8. Connection reuse ---------------------------------------------------------------

    [Fact]
    public async Task Two_batches_within_idle_reuse_share_one_connection()
    {
        await using var h2 = MxServer.Accepting("127.0.0.2", Port);
        await using (var deliverer = NewDeliverer(idleReuse: TimeSpan.FromSeconds(10)))
        {
            var first = await deliverer.DeliverAsync(Batch("two.example.test", "alice"));
            var second = await deliverer.DeliverAsync(Batch("two.example.test", "bob"));

            Delivered(Assert.Single(first.Recipients), "alice@two.example.test", "250 2.0.0 Ok: queued as mx2.test-0-1");
            Delivered(Assert.Single(second.Recipients), "bob@two.example.test", "250 2.0.0 Ok: queued as mx2.test-0-2");
            Assert.Equal(first.Remote, second.Remote);
        }

        // Disposing the deliverer ends the idle session with QUIT.
        await h2.WhenScriptsEndAsync();
        var session = Assert.Single(h2.Connections);
        Assert.Equal(["EHLO", "MAIL", "RCPT", "DATA", "MAIL", "RCPT", "DATA", "QUIT"], session.Verbs);
        Assert.Equal(2, session.Messages.Count);
    }

    [Fact]
    public async Task The_batch_named_next_goes_ahead_with_the_end_of_data_on_the_same_connection()
    {
        // RFC 2920 section 3.1: the reply to the first message's "." is held back until the next
        // envelope is here; a deliverer that waited for it first would time out.
        await using var h2 = new MxServer("127.0.0.2", Port, async c =>
        {
            await c.SendAsync("220 mx2.test ESMTP");
            await c.ExpectAsync("EHLO");
            await c.SendAsync("250-mx2.test", "250-PIPELINING", "250 ENHANCEDSTATUSCODES");
            foreach (var (local, reply) in new[] { ("alice", string.Empty), ("bob", "250 2.0.0 first queued") })
            {
                await c.ExpectAsync("MAIL FROM:<alice@sender.test>");
                await c.ExpectAsync($"RCPT TO:<{local}@two.example.test>");
                await c.ExpectAsync("DATA");
                await c.SendAsync([.. new[] { reply, "250 2.1.0 ok", "250 2.1.5 ok", "354 go" }.Where(l => l.Length > 0)]);
                while (await c.ReadLineAsync() is not ("." or null))
                {
                }
            }

            await c.SendAsync("250 2.0.0 second queued");
            await c.ExpectAsync("QUIT");
            await c.SendAsync("221 2.0.0 bye");
        });
        await using (var deliverer = NewDeliverer(idleReuse: TimeSpan.FromSeconds(10)))
        {
            var (first, second) = (Batch("two.example.test", "alice"), Batch("two.example.test", "bob"));
            var one = await deliverer.DeliverAsync(first with { Next = second });
            var two = await deliverer.DeliverAsync(second);

            Delivered(Assert.Single(one.Recipients), "alice@two.example.test", "250 2.0.0 first queued");
            Delivered(Assert.Single(two.Recipients), "bob@two.example.test", "250 2.0.0 second queued");
        }

        await h2.WhenScriptsEndAsync();
        Assert.Single(h2.Connections);
        Assert.Empty(h2.Faults);
    }

    [Fact]
    public async Task A_connection_kept_for_the_next_batch_serves_only_it_and_is_dropped_when_unused()
    {
        await using var h2 = MxServer.Accepting("127.0.0.2", Port);
        await using (var deliverer = NewDeliverer(idleReuse: TimeSpan.FromSeconds(10)))
        {
            var (first, second, third) = (Batch("two.example.test", "alice"), Batch("two.example.test", "bob"), Batch("two.example.test", "carol"));

            // The connection carrying the second batch's envelope is not in the pool: the third, out of turn, needs its own.
            Delivered(Assert.Single((await deliverer.DeliverAsync(first with { Next = second })).Recipients), "alice@two.example.test", "250 2.0.0 Ok: queued as mx2.test-0-1");
            Delivered(Assert.Single((await deliverer.DeliverAsync(third)).Recipients), "carol@two.example.test", "250 2.0.0 Ok: queued as mx2.test-1-1");
            Delivered(Assert.Single((await deliverer.DeliverAsync(second)).Recipients), "bob@two.example.test", "250 2.0.0 Ok: queued as mx2.test-0-2");

            // Another domain's batch named next does not go ahead: it may be routed elsewhere.
            var (fourth, elsewhere) = (Batch("two.example.test", "dave"), Batch("one.example.test", "erin"));
            await deliverer.DeliverAsync(fourth with { Next = elsewhere });

            // A fifth names a sixth that is then discarded (held meanwhile, say): its connection is dropped without QUIT.
            var sixth = Batch("two.example.test", "grace");
            await deliverer.DeliverAsync(Batch("two.example.test", "frank") with { Next = sixth });

            // Discarded once the server has read the envelope up to DATA (frank's 250 comes before it reads on): the
            // drop is a reset (the client leaves the replies unread), which discards what the server has not read yet.
            var waited = System.Diagnostics.Stopwatch.StartNew();
            MxConnection? carrier;
            while ((carrier = h2.Connections.SingleOrDefault(c => c.Received.Contains("RCPT TO:<grace@two.example.test>") && c.Verbs[^1] == "DATA")) is null && waited.Elapsed < TimeSpan.FromSeconds(10))
            {
                await Task.Delay(10);
            }

            Assert.NotNull(carrier);
            await deliverer.DiscardAsync(sixth);
            await h2.WhenScriptEndsAsync(carrier.Index);
        }

        await h2.WhenScriptsEndAsync();
        Assert.Equal(2, h2.Connections.Count);
        var verbs = h2.Connections.Select(c => string.Join(' ', c.Verbs)).ToList();
        Assert.True(verbs.Contains("EHLO MAIL RCPT DATA MAIL RCPT DATA QUIT"), string.Join(" | ", verbs));
        Assert.True(verbs.Any(v => v.EndsWith("MAIL RCPT DATA", StringComparison.Ordinal) && !v.Contains("QUIT", StringComparison.Ordinal)), string.Join(" | ", verbs));
        Assert.Equal(["grace@two.example.test"], h2.Connections.SelectMany(c => c.Received).Where(l => l.StartsWith("RCPT", StringComparison.Ordinal)).Select(l => l[9..^1]).Where(a => a.StartsWith('g')));
    }

    [Fact]
    public async Task A_delivery_cancelled_in_the_middle_of_a_transaction_closes_its_connection()
    {
        // The server takes the envelope and never answers it: the delivery is cancelled (a stop) while it waits.
        // (Cancelled once MAIL is there: earlier, the connection may not be up yet.)
        var hungUp = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
        var waiting = System.Diagnostics.Stopwatch.StartNew();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await using var h2 = new MxServer("127.0.0.2", Port, async c =>
        {
            try
            {
                await c.SendAsync("220 mx2.test ESMTP");
                await c.ExpectAsync("EHLO");
                await c.SendRawAsync(c.Ehlo(MxConnection.DefaultEhlo) + "\r\n");
                await c.ExpectAsync("MAIL");
                stop.CancelAfter(TimeSpan.FromMilliseconds(100));
                waiting.Restart();
                while (await c.ReadLineAsync() is not null)
                {
                }

                hungUp.TrySetResult(waiting.Elapsed);
            }
            catch (Exception e)
            {
                hungUp.TrySetException(e);
            }
        });
        await using var deliverer = NewDeliverer(idleReuse: TimeSpan.FromSeconds(10));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => deliverer.DeliverAsync(Batch("two.example.test", "alice"), stop.Token));

        // Closed at once, not left open (the server's own read gives up after 10 s).
        Assert.True(await hungUp.Task.WaitAsync(TimeSpan.FromSeconds(20)) < TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task After_idle_reuse_the_session_gets_QUIT_and_the_next_batch_a_new_connection()
    {
        await using var h2 = MxServer.Accepting("127.0.0.2", Port);
        await using var deliverer = NewDeliverer(idleReuse: TimeSpan.FromMilliseconds(300));

        var first = await deliverer.DeliverAsync(Batch("two.example.test", "alice"));
        await h2.WhenScriptsEndAsync();
        Assert.Equal("QUIT", h2.Connections[0].Verbs[^1]);
        var second = await deliverer.DeliverAsync(Batch("two.example.test", "bob"));

        Delivered(Assert.Single(first.Recipients), "alice@two.example.test", "250 2.0.0 Ok: queued as mx2.test-0-1");
        Delivered(Assert.Single(second.Recipients), "bob@two.example.test", "250 2.0.0 Ok: queued as mx2.test-1-1");
        Assert.Equal(2, h2.Connections.Count);
    }

    [Fact]
    public async Task An_idle_connection_closed_by_the_server_is_replaced_by_a_new_one()
    {
        await using var h2 = new MxServer("127.0.0.2", Port, c => c.ServeAsync(closeAfterMessages: c.Index == 0 ? 1 : 0));
        await using var deliverer = NewDeliverer(idleReuse: TimeSpan.FromSeconds(10));

        var first = await deliverer.DeliverAsync(Batch("one.example.test", "alice"));
        await h2.WhenScriptsEndAsync();
        await Task.Delay(50);
        var second = await deliverer.DeliverAsync(Batch("one.example.test", "bob"));

        Delivered(Assert.Single(first.Recipients), "alice@one.example.test", "250 2.0.0 Ok: queued as mx2.test-0-1");
        Delivered(Assert.Single(second.Recipients), "bob@one.example.test", "250 2.0.0 Ok: queued as mx2.test-1-1");
        Assert.Equal(2, h2.Connections.Count);
        Assert.Equal(["EHLO", "MAIL", "RCPT", "DATA"], h2.Connections[0].Verbs);
    }

    [Fact]
    public async Task An_idle_connection_the_server_closed_with_421_is_replaced_by_a_new_one()
    {
        // What Postfix and Exim do at their idle timeout: 421, then close.
        await using var h2 = new MxServer("127.0.0.2", Port, async c =>
        {
            await c.ServeAsync(closeAfterMessages: c.Index == 0 ? 1 : 0);
            if (c.Index == 0)
            {
                await c.SendAsync("421 4.4.2 mx2.test Error: timeout exceeded");
            }
        });
        await using var deliverer = NewDeliverer(idleReuse: TimeSpan.FromSeconds(10));

        var first = await deliverer.DeliverAsync(Batch("one.example.test", "alice"));
        await h2.WhenScriptsEndAsync();
        await Task.Delay(50);
        var second = await deliverer.DeliverAsync(Batch("one.example.test", "bob"));

        Delivered(Assert.Single(first.Recipients), "alice@one.example.test", "250 2.0.0 Ok: queued as mx2.test-0-1");
        Delivered(Assert.Single(second.Recipients), "bob@one.example.test", "250 2.0.0 Ok: queued as mx2.test-1-1");
        Assert.Equal(2, h2.Connections.Count);
    }

    [Fact]
    public async Task An_idle_connection_closed_after_a_refused_transaction_is_replaced_by_a_new_one()
    {
        // Every RCPT refused: the pooled session starts the next batch with RSET, which finds the connection gone.
        await using var h2 = new MxServer("127.0.0.2", Port, async c =>
        {
            if (c.Index > 0)
            {
                await c.ServeAsync();
                return;
            }

            await c.SendAsync($"220 {c.Name} ESMTP");
            await c.ExpectAsync("EHLO ");
            await c.SendRawAsync(c.Ehlo(MxConnection.DefaultEhlo) + "\r\n");
            await c.ExpectAsync("MAIL FROM:");
            await c.ExpectAsync("RCPT TO:");
            await c.ExpectAsync("DATA");
            await c.SendAsync("250 2.1.0 Ok", "550 5.1.1 <bob@one.example.test>: Recipient address rejected: User unknown", "554 5.5.1 Error: no valid recipients");
        });
        await using var deliverer = NewDeliverer(idleReuse: TimeSpan.FromSeconds(10));

        var first = await deliverer.DeliverAsync(Batch("one.example.test", "bob"));
        await h2.WhenScriptsEndAsync();
        await Task.Delay(50);
        var second = await deliverer.DeliverAsync(Batch("one.example.test", "alice"));

        Failed(Assert.Single(first.Recipients), "bob@one.example.test", SmtpOutcome.PermanentFailure, SmtpStage.Rcpt, SmtpFailureKind.Reply,
            "550 5.1.1 <bob@one.example.test>: Recipient address rejected: User unknown");
        Delivered(Assert.Single(second.Recipients), "alice@one.example.test", "250 2.0.0 Ok: queued as mx2.test-1-1");
        Assert.Equal(2, h2.Connections.Count);
    }

    [Fact]
    public async Task A_554_greeting_on_the_replacement_connection_moves_on_to_the_next_mx()
    {
        // The same host, the same greeting as A_refusing_greeting_moves_on_to_the_next_mx, only met on the reconnection.
        await using var h2 = new MxServer("127.0.0.2", Port, c => c.Index == 0
            ? c.ServeAsync(closeAfterMessages: 1)
            : RefuseGreetingAsync(c, "554 5.7.1 mx2.test No SMTP service here"));
        await using var h3 = MxServer.Accepting("127.0.0.3", Port);
        await using var deliverer = NewDeliverer(idleReuse: TimeSpan.FromSeconds(10));

        var first = await deliverer.DeliverAsync(Batch("two.example.test", "alice"));
        await h2.WhenScriptsEndAsync();
        await Task.Delay(50);
        var second = await deliverer.DeliverAsync(Batch("two.example.test", "bob"));

        Delivered(Assert.Single(first.Recipients), "alice@two.example.test", "250 2.0.0 Ok: queued as mx2.test-0-1");
        Delivered(Assert.Single(second.Recipients), "bob@two.example.test", "250 2.0.0 Ok: queued as mx3.test-0-1");
        Assert.Equal(2, h2.Connections.Count);
        Assert.Single(h3.Connections);
    }

    [Fact]
    public async Task A_554_greeting_is_answered_with_QUIT()
    {
        // RFC 5321 section 3.1: after a 554 greeting the server waits for QUIT; SmtpClientSession.OpenAsync says "then call QuitAsync".
        await using var h2 = new MxServer("127.0.0.2", Port, c => RefuseGreetingAsync(c, "554 5.7.1 mx2.test No SMTP service here"));
        await using var h3 = MxServer.Accepting("127.0.0.3", Port);
        await using var deliverer = NewDeliverer();

        var result = await deliverer.DeliverAsync(Batch("two.example.test", "alice"));

        Delivered(Assert.Single(result.Recipients), "alice@two.example.test", "250 2.0.0 Ok: queued as mx3.test-0-1");
        await h2.WhenScriptsEndAsync();
        Assert.Equal(["QUIT"], Assert.Single(h2.Connections).Verbs);
    }

    [Fact]
    public async Task A_later_mx_without_addresses_does_not_turn_an_earlier_temporary_failure_permanent()
    {
        // mixed.example.test: MX 10 h2 (nothing listens: connection refused), MX 20 noaddr (no A/AAAA records).
        // The primary is down for now; the mail must wait for it, not bounce.
        await using var deliverer = NewDeliverer();

        var result = await deliverer.DeliverAsync(Batch("mixed.example.test", "alice"));

        var r = Assert.Single(result.Recipients);
        Assert.Equal(SmtpOutcome.TemporaryFailure, r.Outcome);
        Assert.Equal((SmtpStage.Connect, SmtpFailureKind.ConnectionLost), (r.Stage, r.Kind));
        Assert.StartsWith("451 4.4.1 h2.example.test: ", r.Reply.ToString(), StringComparison.Ordinal);
    }

    // ---- 9. Routes -------------------------------------------------------------------------

    [Theory]
    [InlineData("refused.example.test", SmtpOutcome.PermanentFailure, "refuse", "550 5.7.1 refused by policy")]
    [InlineData("held.example.test", SmtpOutcome.TemporaryFailure, "later", "451 4.3.2 held by the operator")]
    public async Task A_fail_transport_gives_its_configured_reply_without_connecting(string domain, SmtpOutcome outcome, string transport, string reply)
    {
        await using var deliverer = NewDeliverer();

        var result = await deliverer.DeliverAsync(Batch(domain, "alice", "bob"));

        Assert.Equal(transport, result.Transport);
        foreach (var (r, address) in result.Recipients.Zip([$"alice@{domain}", $"bob@{domain}"]))
        {
            Failed(r, address, outcome, SmtpStage.Connect, SmtpFailureKind.Policy, reply);
            Assert.True(r.Reply.IsLocal);
        }

        Assert.Null(result.Host);
        Assert.Null(result.Remote);
        Assert.Null(result.Session);
    }

    [Fact]
    public async Task A_smarthost_transport_relays_to_its_server_without_an_mx_lookup()
    {
        // The recipient domain does not exist: an MX lookup would have failed the batch.
        await using var smarthost = MxServer.Accepting("127.0.0.8", Port);
        await using var deliverer = NewDeliverer();

        var result = await deliverer.DeliverAsync(Batch("nothere.example.test", ["alice", "bob"], sender: "carol@smart.test"));

        Delivered(result.Recipients[0], "alice@nothere.example.test", "250 2.0.0 Ok: queued as mx8.test-0-1");
        Delivered(result.Recipients[1], "bob@nothere.example.test", "250 2.0.0 Ok: queued as mx8.test-0-1");
        Assert.Equal("smarthost", result.Transport);
        Assert.Equal("127.0.0.8", result.Host);
        Assert.Equal(new IPEndPoint(smarthost.Address, Port), result.Remote);
        Assert.Equal(
            ["EHLO out.tern.test", "MAIL FROM:<carol@smart.test>", "RCPT TO:<alice@nothere.example.test>", "RCPT TO:<bob@nothere.example.test>", "DATA", "<data>", "QUIT"],
            await ReceivedWhenDoneAsync(smarthost));
    }

    [Fact]
    public async Task A_requiretls_message_routed_to_an_opportunistic_smarthost_fails_with_5_7_30()
    {
        await using var smarthost = MxServer.Accepting("127.0.0.8", Port);
        await using var deliverer = NewDeliverer();

        var result = await deliverer.DeliverAsync(Batch("two.example.test", ["alice"], sender: "carol@smart.test", requireTls: true));

        Assert.Equal("smarthost", result.Transport);
        Failed(Assert.Single(result.Recipients), "alice@two.example.test", SmtpOutcome.PermanentFailure, SmtpStage.Connect, SmtpFailureKind.Policy,
            "550 5.7.30 REQUIRETLS: transport \"smarthost\" does not verify TLS");
        Assert.Null(result.Remote);
        Assert.Empty(smarthost.Connections);
    }

    // ---- 10. Implicit MX -------------------------------------------------------------------

    [Fact]
    public async Task A_domain_without_mx_is_delivered_to_its_address_record()
    {
        await using var host = MxServer.Accepting("127.0.0.7", Port);
        await using var deliverer = NewDeliverer();

        var result = await deliverer.DeliverAsync(Batch("implicit.example.test", "alice"));

        Delivered(Assert.Single(result.Recipients), "alice@implicit.example.test", "250 2.0.0 Ok: queued as mx7.test-0-1");
        Assert.Equal("implicit.example.test", result.Host);
        Assert.Equal(new IPEndPoint(host.Address, Port), result.Remote);
        Assert.Single(host.Connections);
    }

    // ---- Helpers ---------------------------------------------------------------------------

    /// <summary>Greets with a refusal, then answers QUIT (RFC 5321 section 3.1: a 554 server waits for it).</summary>
    private static async Task RefuseGreetingAsync(MxConnection c, string greeting)
    {
        await c.SendRawAsync(greeting + "\r\n");
        if (greeting.StartsWith("421", StringComparison.Ordinal))
        {
            return;
        }

        while (await c.ReadLineAsync() is { } line)
        {
            if (line.Equals("QUIT", StringComparison.OrdinalIgnoreCase))
            {
                await c.SendAsync("221 2.0.0 Bye");
                return;
            }

            await c.SendAsync("503 5.5.1 Error: no service");
        }
    }

    private static async Task<IReadOnlyList<string>> ReceivedWhenDoneAsync(MxServer server)
    {
        await server.WhenScriptsEndAsync();
        return Assert.Single(server.Connections).Received;
    }

    private Deliverer NewDeliverer(TimeSpan idleReuse = default, IDnsResolver? resolver = null) => new(
        Routes(Port),
        resolver ?? _resolver,
        new DelivererOptions
        {
            EhloName = "out.tern.test",
            ConnectTimeout = TimeSpan.FromSeconds(2),
            Timeouts = Short,
            IdleReuse = idleReuse,
            DirectPort = Port,
        },
        NullLoggerFactory.Instance);

    private static RouteTable Routes(int port) => RouteTable.Create(new RoutingOptions
    {
        Transports =
        [
            new FailTransport { Name = "refuse", Code = 550, EnhancedCode = "5.7.1", Text = "refused by policy" },
            new FailTransport { Name = "later", Code = 451, EnhancedCode = "4.3.2", Text = "held by the operator" },
            new SmtpTransport { Name = "smarthost", Host = "127.0.0.8", Port = port, RequireTls = false },
        ],
        DomainRoutes = new Dictionary<string, IReadOnlyList<Route>> { ["smart.test"] = [new Route { Transport = "smarthost" }] },
        GlobalRoutes =
        [
            new Route { RecipientDomains = ["refused.example.test"], Transport = "refuse" },
            new Route { RecipientDomains = ["held.example.test"], Transport = "later" },
        ],
    });

    private static DeliveryBatch Batch(string domain, params string[] locals) => Batch(domain, locals, attempts: 0);

    private static DeliveryBatch Batch(string domain, string[] locals, int attempts = 0, string sender = Sender, bool requireTls = false) => new()
    {
        MessageId = "m" + Interlocked.Increment(ref _messages),
        RecipientDomain = domain,
        Attempts = attempts,
        Message = new SmtpMessage
        {
            Sender = sender,
            Recipients = [.. locals.Select(l => new SmtpRecipient($"{l}@{domain}"))],
            Content = Encoding.ASCII.GetBytes("From: <" + sender + ">\r\nSubject: test\r\n\r\nHello.\r\n"),
            RequireTls = requireTls,
        },
    };

    private static void Delivered(SmtpRecipientResult r, string address, string reply)
    {
        Assert.Equal(address, r.Recipient.Address);
        Assert.Equal((SmtpOutcome.Delivered, SmtpStage.DataEnd, SmtpFailureKind.Reply), (r.Outcome, r.Stage, r.Kind));
        Assert.Equal(reply, r.Reply.ToString());
    }

    private static void Failed(SmtpRecipientResult r, string address, SmtpOutcome outcome, SmtpStage stage, SmtpFailureKind kind, string reply)
    {
        Assert.Equal(address, r.Recipient.Address);
        Assert.Equal((outcome, stage, kind), (r.Outcome, r.Stage, r.Kind));
        Assert.Equal(reply, r.Reply.ToString());
    }
}
