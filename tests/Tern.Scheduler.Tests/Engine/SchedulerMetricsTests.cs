using Tern.Delivery;
using Tern.Smtp.Client;
using Tern.Spool.Queue;

namespace Tern.Scheduler.Tests.Engine;

/// <summary>
/// What delivery scheduling records for /metrics, on the scheduler fixture (real spool, fake clock,
/// scripted deliverer): notices by kind, suppressed and expired recipients, the counts the queue
/// gauges are computed from, and the per-destination series of the busiest destinations only.
/// </summary>
public sealed class SchedulerMetricsTests
{
    private static Func<DeliveryBatch, Task<BatchResult>> Answer(string failing, SmtpOutcome outcome, int code, string enhanced) =>
        b => Task.FromResult(b.RecipientDomain == failing
            ? ScriptedDeliverer.All(b, outcome, code, enhanced, "scripted")
            : ScriptedDeliverer.All(b, SmtpOutcome.Delivered, 250, "2.0.0", "ok"));

    [Fact]
    public async Task Notices_suppressed_and_expired_recipients_are_counted()
    {
        await using var f = new SchedulerFixture(o => o with { Retry = o.Retry with { MaxRetries = 0 } });
        f.Deliverer.Answer = b => Task.FromResult(b.RecipientDomain switch
        {
            "bounce.example" => ScriptedDeliverer.All(b, SmtpOutcome.PermanentFailure, 550, "5.1.1", "no such user"),
            "later.example" => ScriptedDeliverer.All(b, SmtpOutcome.TemporaryFailure, 451, "4.3.2", "try again later"),
            _ => ScriptedDeliverer.All(b, SmtpOutcome.Delivered, 250, "2.0.0", "ok"),
        });
        f.Start();
        Assert.True(f.Suppression.Add("blocked@example.net", "550 5.1.1 added by the operator"));

        // A remote 550, a suppressed recipient, and a deferral on the last (only) attempt: three failure notices.
        var bounced = await f.SubmitAsync("alice@example.org", "gone@bounce.example");
        var suppressed = await f.SubmitAsync("alice@example.org", "blocked@example.net");
        var expired = await f.SubmitAsync("alice@example.org", "carol@later.example");
        await SchedulerFixture.Eventually(
            () => new[] { bounced, suppressed, expired }.All(id => f.Entry(id).State == MessageState.Retired),
            "all three fail");
        await SchedulerFixture.Eventually(() => f.Metrics.Value("tern_dsn_queued_total", "failure") == 3, "three failure notices");
        Assert.Equal(1, f.Metrics.Value("tern_delivery_suppressed_recipients_total"));
        Assert.Equal(1, f.Metrics.Value("tern_delivery_expired_recipients_total"));
        Assert.Equal(0, f.Metrics.Value("tern_dsn_queued_total", "delay"));

        // The notices are queued and delivered; the messages accepted from outside are the three submitted.
        await SchedulerFixture.Eventually(() => f.Deliverer.Calls.Count(c => c.Message.Sender.Length == 0) == 3, "the notices are delivered");
        Assert.Equal(3, f.Metrics.Value("tern_messages_accepted_total"));
        // The last retirement is indexed inside the attempt's recording; the message leaves the
        // in-flight set only after that returns.
        await SchedulerFixture.Eventually(() => f.Spool.Count == 0 && f.Scheduler!.InFlight == 0 && f.Scheduler.Due == 0, "the queue empties and nothing is in flight");
    }

    [Fact]
    public async Task Only_the_busiest_destinations_get_series_and_they_go_when_idle_or_overtaken()
    {
        await using var f = new SchedulerFixture(o => o with { MetricsDestinations = 2 });
        f.Deliverer.Answer = Answer("c.example", SmtpOutcome.TemporaryFailure, 451, "4.3.2");
        f.Start();
        await SubmitAll(f, "a.example", 3);
        await SubmitAll(f, "b.example", 2);
        await SubmitAll(f, "c.example", 1);
        await SchedulerFixture.Eventually(() => f.Deliverer.Calls.Count == 6, "six deliveries");
        await SchedulerFixture.Eventually(() => f.Scheduler!.InFlight == 0, "every attempt recorded");

        f.Metrics.Collect();
        Assert.Equal(3, f.Metrics.Value("tern_destination_recipients_total", "direct|mx.a.example", "delivered"));
        Assert.Equal(2, f.Metrics.Value("tern_destination_recipients_total", "direct|mx.b.example", "delivered"));
        Assert.True(f.Metrics.Has("tern_destination_queued_batches", "direct|mx.a.example"));
        Assert.Equal(0, f.Metrics.Value("tern_destination_suspended", "direct|mx.b.example"));
        Assert.Equal(20, f.Metrics.Value("tern_destination_connection_limit", "direct|mx.a.example"));
        Assert.False(f.Metrics.Has("tern_destination_queued_batches", "direct|mx.c.example"));
        Assert.Equal(2, f.Metrics.SeriesOf("tern_destination_queued_batches").Count);

        // c overtakes b: b's series go, c's appear with everything c has had.
        await SubmitAll(f, "c.example", 3);
        await SchedulerFixture.Eventually(() => f.Deliverer.CallsTo("c.example") == 4, "c's new deliveries");
        await SchedulerFixture.Eventually(() => f.Scheduler!.InFlight == 0, "every attempt recorded");
        f.Metrics.Collect();
        Assert.Equal(["direct|mx.a.example", "direct|mx.c.example"], f.Metrics.SeriesOf("tern_destination_queued_batches").Select(l => l[0]).Order());
        Assert.False(f.Metrics.Has("tern_destination_recipients_total", "direct|mx.b.example", "delivered"));
        Assert.Equal(4, f.Metrics.Value("tern_destination_recipients_total", "direct|mx.c.example", "deferred"));
        await SubmitAll(f, "c.example", 1);
        await SchedulerFixture.Eventually(() => f.Deliverer.CallsTo("c.example") == 5, "one more to c");
        await SchedulerFixture.Eventually(() => f.Scheduler!.InFlight == 0, "every attempt recorded");
        f.Metrics.Collect();
        Assert.Equal(5, f.Metrics.Value("tern_destination_recipients_total", "direct|mx.c.example", "deferred"));

        // Idle for 10 minutes, a destination is forgotten and its series with it (c keeps retrying: it stays).
        f.Deliverer.Answer = b => Task.FromResult(ScriptedDeliverer.All(b, SmtpOutcome.Delivered, 250, "2.0.0", "ok"));
        f.Advance(TimeSpan.FromMinutes(11));
        await SchedulerFixture.Eventually(() => f.Scheduler!.Destinations < 3, "idle destinations are forgotten");
        f.Metrics.Collect();
        Assert.False(f.Metrics.Has("tern_destination_queued_batches", "direct|mx.a.example"));
        Assert.True(f.Metrics.SeriesOf("tern_destination_queued_batches").Count <= 2);
    }

    private static async Task SubmitAll(SchedulerFixture f, string domain, int count)
    {
        for (var i = 0; i < count; i++)
        {
            await f.SubmitAsync("alice@example.org", $"u{i}@{domain}");
        }
    }
}
