using System.Text;
using Tern.Delivery;
using Tern.Smtp.Client;
using Tern.Spool.Queue;
using Tern.Suppression;

namespace Tern.Scheduler.Tests.Engine;

/// <summary>
/// The scheduler on a real spool with a fake clock: retry times, expiry, notices, limits, a stuck
/// destination, suppression, the pause, and a restart that rebuilds the same schedule.
/// </summary>
public sealed class SchedulerTests
{
    private static Task<BatchResult> Defer(DeliveryBatch b) => Task.FromResult(ScriptedDeliverer.All(b, SmtpOutcome.TemporaryFailure, 451, "4.3.2", "try again later"));

    private static string Content(DeliveryBatch b) => Encoding.UTF8.GetString(b.Message.Content.Span);

    /// <summary>Failing batches to example.net; everything else (the notices to the sender) is delivered.</summary>
    private static Func<DeliveryBatch, Task<BatchResult>> FailTo(string domain, Func<DeliveryBatch, Task<BatchResult>> fail) =>
        b => b.RecipientDomain == domain ? fail(b) : Task.FromResult(ScriptedDeliverer.All(b, SmtpOutcome.Delivered, 250, "2.0.0", "ok"));

    /// <summary>Deliveries wait until the returned gate is opened, then every recipient is delivered.</summary>
    private static TaskCompletionSource Gate(SchedulerFixture f)
    {
        var gate = new TaskCompletionSource();
        f.Deliverer.Answer = async b =>
        {
            await gate.Task;
            return ScriptedDeliverer.All(b, SmtpOutcome.Delivered, 250, "2.0.0", "ok");
        };
        return gate;
    }

    [Fact]
    public async Task A_new_message_is_delivered_at_once_and_retired()
    {
        await using var f = new SchedulerFixture();
        f.Start();
        var id = await f.SubmitAsync("alice@example.org", "bob@example.net");
        await SchedulerFixture.Eventually(() => f.Entry(id).State == MessageState.Retired, "the message retires");
        var entry = f.Entry(id);
        Assert.Equal(RecipientStatus.Delivered, entry.Recipients[0].Status);
        Assert.Equal(1, entry.Attempts);
        Assert.Single(f.Deliverer.Calls);
    }

    [Fact]
    public async Task Retries_come_at_seven_and_a_half_minutes_doubling_and_the_next_attempt_is_durable_before_the_attempt()
    {
        await using var f = new SchedulerFixture();
        var started = f.Clock.GetUtcNow();
        DateTimeOffset? nextSeenDuringAttempt = null;
        f.Deliverer.Answer = b =>
        {
            // While the attempt runs, the index already holds the next attempt (made durable first).
            Assert.True(Tern.Spool.MessageId.TryParse(b.MessageId, out var attempted));
            nextSeenDuringAttempt ??= f.Entry(attempted).NextAttempt;
            return Defer(b);
        };
        f.Start();
        var id = await f.SubmitAsync("alice@example.org", "bob@example.net");
        await SchedulerFixture.Eventually(() => f.Entry(id).Attempts == 1, "the first attempt is recorded");
        Assert.Equal(started + TimeSpan.FromMinutes(7.5), f.Entry(id).NextAttempt);
        Assert.Equal(started + TimeSpan.FromMinutes(7.5), nextSeenDuringAttempt);

        // Nothing before its time.
        f.Advance(TimeSpan.FromMinutes(7.4));
        await SchedulerFixture.Settle();
        Assert.Single(f.Deliverer.Calls);

        f.Advance(TimeSpan.FromMinutes(0.1));
        await SchedulerFixture.Eventually(() => f.Entry(id).Attempts == 2, "the second attempt");
        Assert.InRange((f.Entry(id).NextAttempt - f.Clock.GetUtcNow()).TotalMinutes, 14.99, 15.01);

        f.Advance(TimeSpan.FromMinutes(15));
        await SchedulerFixture.Eventually(() => f.Entry(id).Attempts == 3, "the third attempt");
        Assert.InRange((f.Entry(id).NextAttempt - f.Clock.GetUtcNow()).TotalMinutes, 29.99, 30.01);
    }

    [Theory]
    [InlineData(1, 7.5)]
    [InlineData(2, 15)]
    [InlineData(5, 120)]
    [InlineData(8, 960)]
    public void Jitter_stays_within_its_bound(int attempts, double minutes)
    {
        var policy = new RetryPolicy();
        Assert.Equal(TimeSpan.FromMinutes(minutes), policy.Delay(attempts, 0));
        Assert.InRange(policy.Delay(attempts, 0.999999).TotalMinutes, minutes, minutes * 1.05);
        var random = new Random(7);
        for (var i = 0; i < 1000; i++)
        {
            Assert.InRange(policy.Delay(attempts, random.NextDouble()).TotalMinutes, minutes, minutes * (1 + policy.Jitter));
        }
    }

    [Fact]
    public async Task A_delay_notice_follows_the_fifth_failed_attempt_and_only_that_one()
    {
        await using var f = new SchedulerFixture();
        f.Deliverer.Answer = FailTo("example.net", Defer);
        f.Start();
        var id = await f.SubmitAsync("alice@example.org", "bob@example.net");
        for (var n = 1; n <= 6; n++)
        {
            await SchedulerFixture.Eventually(() => f.Entry(id).Attempts == n, $"attempt {n} is recorded");
            if (n >= 5)
            {
                // The notice is committed after the attempt's record, then indexed and delivered.
                await SchedulerFixture.Eventually(() => f.Deliverer.Calls.Any(c => c.Message.Sender.Length == 0), "the delay notice is delivered");
            }

            await SchedulerFixture.Settle();
            var notices = f.Deliverer.Calls.Where(c => c.Message.Sender.Length == 0).ToList();
            Assert.Equal(n >= 5 ? 1 : 0, notices.Count);
            f.Advance(f.Entry(id).NextAttempt - f.Clock.GetUtcNow());
        }

        var notice = f.Deliverer.Calls.Single(c => c.Message.Sender.Length == 0);
        Assert.Equal("alice@example.org", notice.Message.Recipients.Single().Address);
        var text = Content(notice);
        Assert.Contains("Action: delayed", text, StringComparison.Ordinal);
        Assert.Contains("Will-Retry-Until:", text, StringComparison.Ordinal);
        Assert.Contains("try again later", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_recipient_still_deferred_after_the_last_retry_expires_with_a_failure_notice()
    {
        await using var f = new SchedulerFixture(o => o with { Retry = o.Retry with { MaxRetries = 2 } });
        f.Deliverer.Answer = FailTo("example.net", Defer);
        f.Start();
        var id = await f.SubmitAsync("alice@example.org", "bob@example.net");
        for (var n = 1; n <= 2; n++)
        {
            await SchedulerFixture.Eventually(() => f.Entry(id).Attempts == n, $"attempt {n}");
            f.Advance(f.Entry(id).NextAttempt - f.Clock.GetUtcNow());
        }

        await SchedulerFixture.Eventually(() => f.Entry(id).State == MessageState.Retired, "the message expires");
        Assert.Equal(3, f.Entry(id).Attempts);
        Assert.Equal(RecipientStatus.Failed, f.Entry(id).Recipients[0].Status);
        await SchedulerFixture.Eventually(() => f.Deliverer.Calls.Any(c => c.Message.Sender.Length == 0), "the failure notice is delivered");
        var text = Content(f.Deliverer.Calls.Single(c => c.Message.Sender.Length == 0));
        Assert.Contains("Action: failed", text, StringComparison.Ordinal);
        Assert.Contains("4.3.2", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_message_may_set_its_own_retry_limit()
    {
        await using var f = new SchedulerFixture();
        f.Deliverer.Answer = FailTo("example.net", Defer);
        var id = await f.SubmitAsync("alice@example.org", "bob@example.net");
        Assert.Equal(1, await f.Spool.Queue.SetMaxRetriesAsync(new QueueFilter { Ids = [id] }, 1));
        f.Start();
        await SchedulerFixture.Eventually(() => f.Entry(id).Attempts == 1, "attempt 1");
        f.Advance(f.Entry(id).NextAttempt - f.Clock.GetUtcNow());
        await SchedulerFixture.Eventually(() => f.Entry(id).State == MessageState.Retired, "expiry after its one retry");
        Assert.Equal(2, f.Entry(id).Attempts);
    }

    [Fact]
    public async Task A_destination_never_gets_more_connections_than_its_limit()
    {
        await using var f = new SchedulerFixture(o => o with { Destinations = new DestinationPolicy { Default = new DestinationLimits { MaxConnections = 3 } } });
        var gate = Gate(f);
        f.Start();
        var ids = new List<Tern.Spool.MessageId>();
        for (var i = 0; i < 12; i++)
        {
            ids.Add(await f.SubmitAsync("alice@example.org", $"u{i}@example.net"));
        }

        await SchedulerFixture.Eventually(() => f.Deliverer.Calls.Count == 3, "three deliveries start");
        await SchedulerFixture.Settle();
        Assert.Equal(3, f.Deliverer.Calls.Count);
        gate.SetResult();
        await SchedulerFixture.Eventually(() => ids.All(id => f.Entry(id).State == MessageState.Retired), "all are delivered");
        Assert.Equal(3, f.Deliverer.MaxInFlight("mx.example.net"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_runner_names_the_next_batch_of_its_destination_so_that_its_envelope_can_go_ahead(bool pipelineNext)
    {
        await using var f = new SchedulerFixture(o => o with { Destinations = new DestinationPolicy { Default = new DestinationLimits { MaxConnections = 1, PipelineNext = pipelineNext } } });
        var gate = Gate(f);
        f.Start();
        var ids = new List<Tern.Spool.MessageId> { await f.SubmitAsync("alice@example.org", "u0@example.net") };
        await SchedulerFixture.Eventually(() => f.Deliverer.Calls.Count == 1, "the first delivery starts alone");
        for (var i = 1; i < 4; i++)
        {
            ids.Add(await f.SubmitAsync("alice@example.org", $"u{i}@example.net"));
        }

        await SchedulerFixture.Eventually(() => f.Scheduler!.Queued("direct|mx.example.net") == 3, "three wait in the destination's queue");
        gate.SetResult();
        await SchedulerFixture.Eventually(() => ids.All(id => f.Entry(id).State == MessageState.Retired), "all are delivered");

        // Each call names the batch delivered next (its message is the instance the next call sends); the last names
        // none. With pipeline_next = false none does.
        var calls = f.Deliverer.Calls.ToList();
        Assert.Equal(4, calls.Count);
        Assert.Null(calls[0].Next);
        for (var i = 1; i < 3; i++)
        {
            Assert.Same(pipelineNext ? calls[i + 1].Message : null, calls[i].Next?.Message);
        }

        Assert.Null(calls[3].Next);
        Assert.Equal(["u0@example.net", "u1@example.net", "u2@example.net", "u3@example.net"], calls.Select(c => c.Message.Recipients[0].Address).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_destination_with_a_full_queue_turns_messages_away_and_takes_them_back_as_it_drains()
    {
        await using var f = new SchedulerFixture(o => o with
        {
            MaxQueuedPerDestination = 4,
            Destinations = new DestinationPolicy { Default = new DestinationLimits { MaxConnections = 1, PipelineNext = false } },
        });
        var gate = Gate(f);
        f.Start();
        var ids = new List<Tern.Spool.MessageId> { await f.SubmitAsync("alice@example.org", "u0@example.net") };
        await SchedulerFixture.Eventually(() => f.Deliverer.Calls.Count == 1, "the first delivery starts");

        // One at a time, so that each is prepared alone (a batch being prepared is checked against the queue as it was).
        double Parked() => f.Metrics.Value("tern_scheduler_parked_total");
        for (var i = 1; i < 20; i++)
        {
            ids.Add(await f.SubmitAsync("alice@example.org", $"u{i}@example.net"));
            await SchedulerFixture.Eventually(() => f.Scheduler!.Queued("direct|mx.example.net") + Parked() == i, $"message {i} waits or is turned away");
        }

        // One delivery under way, four waiting; the other fifteen stay in the spool, queued, their ids parked.
        Assert.Equal(15, Parked());
        Assert.Equal(4, f.Scheduler!.Queued("direct|mx.example.net"));
        Assert.Single(f.Deliverer.Calls);
        Assert.All(ids, id => Assert.Equal(MessageState.Queued, f.Entry(id).State));

        gate.SetResult();
        await SchedulerFixture.Eventually(() => ids.All(id => f.Entry(id).State == MessageState.Retired), "all are delivered");
        Assert.Equal(20, f.Deliverer.Calls.Count);
        Assert.Equal(20, f.Deliverer.Calls.Select(c => c.Message.Recipients[0].Address).Distinct().Count());

        // Each of the fifteen was taken back once and joined the queue then: none was turned away twice.
        Assert.Equal(15, Parked());
    }

    [Fact]
    public async Task A_message_taken_back_joins_the_queue_even_when_new_mail_filled_it_meanwhile()
    {
        await using var f = new SchedulerFixture(o => o with
        {
            MaxQueuedPerDestination = 4,
            Destinations = new DestinationPolicy { Default = new DestinationLimits { MaxConnections = 1, PipelineNext = false } },
        });
        f.Deliverer.SharedMx["a.example.net"] = "mx.shared.example";
        f.Deliverer.SharedMx["b.example.net"] = "mx.shared.example";
        const string Destination = "direct|mx.shared.example";
        var deliveries = new SemaphoreSlim(0);
        f.Deliverer.Answer = async b =>
        {
            await deliveries.WaitAsync();
            return ScriptedDeliverer.All(b, SmtpOutcome.Delivered, 250, "2.0.0", "ok");
        };
        double Parked() => f.Metrics.Value("tern_scheduler_parked_total");
        f.Start();

        // One delivery under way, four waiting, two turned away (parked).
        var ids = new List<Tern.Spool.MessageId> { await f.SubmitAsync("alice@example.org", "u0@a.example.net") };
        await SchedulerFixture.Eventually(() => f.Deliverer.Calls.Count == 1, "the first delivery starts");
        for (var i = 1; i < 7; i++)
        {
            ids.Add(await f.SubmitAsync("alice@example.org", $"u{i}@a.example.net"));
            await SchedulerFixture.Eventually(() => f.Scheduler!.Queued(Destination) + Parked() == i, $"message {i} waits or is turned away");
        }

        Assert.Equal(2, Parked());

        // Routing of a.example.net is held from here on: the two parked messages, once taken back, wait in their preparation.
        var routing = new TaskCompletionSource();
        var held = 0;
        f.Deliverer.BeforeRoute = domain =>
        {
            if (domain != "a.example.net")
            {
                return Task.CompletedTask;
            }

            Interlocked.Increment(ref held);
            return routing.Task;
        };

        // Two deliveries finish: two wait, half the limit, and a tick takes the parked two back.
        deliveries.Release(2);
        await SchedulerFixture.Eventually(() => f.Scheduler!.Queued(Destination) == 2 && f.Deliverer.Calls.Count == 3, "the queue drains to half");
        f.Clock.Advance(f.Options.Resolution);
        await SchedulerFixture.Eventually(() => Volatile.Read(ref held) >= 1, "a message taken back is being prepared");

        // Meanwhile new mail to the same servers fills the queue again.
        ids.Add(await f.SubmitAsync("alice@example.org", "u7@b.example.net"));
        ids.Add(await f.SubmitAsync("alice@example.org", "u8@b.example.net"));
        await SchedulerFixture.Eventually(() => f.Scheduler!.Queued(Destination) == 4, "the new mail fills the queue");

        // The two taken back join the full queue: turned away again, they would wait for the next drain (and be read once more).
        routing.SetResult();
        await SchedulerFixture.Eventually(() => f.Scheduler!.Queued(Destination) == 6 || Parked() > 2, "the two taken back join the queue or are turned away");
        Assert.Equal(2, Parked());
        Assert.Equal(6, f.Scheduler!.Queued(Destination));

        deliveries.Release(100);
        await SchedulerFixture.Eventually(() => ids.All(id => f.Entry(id).State == MessageState.Retired), "all are delivered");
        Assert.Equal(9, f.Deliverer.Calls.Count);
        Assert.Equal(2, Parked());
    }

    [Fact]
    public async Task One_batch_at_a_time_starts_one_runner_each_whatever_the_connection_limit()
    {
        await using var f = new SchedulerFixture(o => o with { Destinations = new DestinationPolicy { Default = new DestinationLimits { MaxConnections = 20 } } });
        var scheduler = f.Start();
        for (var i = 0; i < 5; i++)
        {
            var id = await f.SubmitAsync("alice@example.org", $"u{i}@example.net");
            await SchedulerFixture.Eventually(() => f.Entry(id).State == MessageState.Retired, $"message {i} is delivered");
            await SchedulerFixture.Eventually(() => scheduler.InFlight == 0, "its attempt is recorded");
        }

        // Before, each queued batch started runners up to the limit while the first was on its way to the pool.
        Assert.Equal(5, scheduler.RunnersStarted);
    }

    [Fact]
    public async Task Attempts_finished_but_not_yet_recorded_when_the_scheduler_stops_are_recorded_and_not_sent_again()
    {
        // No recording batch ever starts while it runs: every finished attempt waits to be recorded.
        await using var f = new SchedulerFixture(o => o with { RecordConcurrency = 0 });
        var scheduler = f.Start();
        var ids = new List<Tern.Spool.MessageId>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await f.SubmitAsync("alice@example.org", $"u{i}@example.net"));
        }

        await SchedulerFixture.Eventually(() => f.Deliverer.Calls.Count == 5, "five deliveries");
        await SchedulerFixture.Settle();
        Assert.Equal(5, scheduler.InFlight);
        Assert.All(ids, id => Assert.Equal(MessageState.Queued, f.Entry(id).State));

        // The stop records them; the next start has nothing to send.
        await f.RestartAsync();
        Assert.All(ids, id => Assert.Equal(MessageState.Retired, f.Entry(id).State));
        f.Start();
        await SchedulerFixture.Settle();
        Assert.Equal(5, f.Deliverer.Calls.Count);
    }

    [Fact]
    public async Task A_stuck_destination_does_not_hold_up_the_others()
    {
        await using var f = new SchedulerFixture(o => o with { Concurrency = 8, Destinations = new DestinationPolicy { Default = new DestinationLimits { MaxConnections = 4 } } });
        var stuck = new TaskCompletionSource<BatchResult>();
        f.Deliverer.Answer = b => b.RecipientDomain == "stuck.example" ? stuck.Task : Task.FromResult(ScriptedDeliverer.All(b, SmtpOutcome.Delivered, 250, "2.0.0", "ok"));
        f.Start();
        for (var i = 0; i < 50; i++)
        {
            await f.SubmitAsync("alice@example.org", $"u{i}@stuck.example");
        }

        var fast = new List<Tern.Spool.MessageId>();
        for (var i = 0; i < 50; i++)
        {
            fast.Add(await f.SubmitAsync("alice@example.org", $"u{i}@fast.example"));
        }

        await SchedulerFixture.Eventually(() => fast.All(id => f.Entry(id).State == MessageState.Retired), "every message to the fast destination is delivered");
        Assert.Equal(4, f.Deliverer.CallsTo("stuck.example"));
        stuck.SetResult(null!);
    }

    [Fact]
    public async Task Domains_sharing_mx_hosts_share_one_destination_and_one_transaction()
    {
        await using var f = new SchedulerFixture(o => o with { Destinations = new DestinationPolicy { Default = new DestinationLimits { MaxConnections = 1 } } });
        f.Deliverer.SharedMx["a.example"] = "mx.shared.example";
        f.Deliverer.SharedMx["b.example"] = "mx.shared.example";
        var gate = Gate(f);
        f.Start();
        var one = await f.SubmitAsync("alice@example.org", "x@a.example", "y@b.example");
        var two = await f.SubmitAsync("alice@example.org", "z@b.example");
        await SchedulerFixture.Eventually(() => f.Deliverer.Calls.Count == 1, "the first batch starts");
        await SchedulerFixture.Settle();

        // One connection for the shared MX set: the other message waits although its domain differs.
        // (Which of the two goes first is not fixed: messages are prepared in concurrent batches.)
        Assert.Single(f.Deliverer.Calls);
        gate.SetResult();
        await SchedulerFixture.Eventually(() => f.Entry(one).State == MessageState.Retired && f.Entry(two).State == MessageState.Retired, "both are delivered");

        // The first message's two domains went in one transaction.
        var transactions = f.Deliverer.Calls.Select(c => string.Join(" ", c.Message.Recipients.Select(r => r.Address))).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(["x@a.example y@b.example", "z@b.example"], transactions);
        Assert.Equal(1, f.Scheduler!.Destinations);
    }

    [Fact]
    public async Task The_rate_limit_spaces_deliveries()
    {
        await using var f = new SchedulerFixture(o => o with { Destinations = new DestinationPolicy { Default = new DestinationLimits { MessagesPerSecond = 1, Burst = 1 } } });
        f.Start();
        for (var i = 0; i < 3; i++)
        {
            await f.SubmitAsync("alice@example.org", $"u{i}@example.net");
        }

        await SchedulerFixture.Eventually(() => f.Deliverer.Calls.Count == 1, "the first delivery");
        await SchedulerFixture.Settle();
        Assert.Single(f.Deliverer.Calls);
        f.Advance(TimeSpan.FromSeconds(1));
        await SchedulerFixture.Eventually(() => f.Deliverer.Calls.Count == 2, "the second after a second");
        await SchedulerFixture.Settle();
        Assert.Equal(2, f.Deliverer.Calls.Count);
        f.Advance(TimeSpan.FromSeconds(1));
        await SchedulerFixture.Eventually(() => f.Deliverer.Calls.Count == 3, "the third after another");

        // Under a rate limit nothing goes ahead of its turn.
        Assert.All(f.Deliverer.Calls, c => Assert.Null(c.Next));
    }

    [Fact]
    public async Task A_destination_that_keeps_failing_at_the_session_level_is_suspended_and_others_go_on()
    {
        await using var f = new SchedulerFixture(o => o with
        {
            Destinations = new DestinationPolicy { Default = new DestinationLimits { MaxConnections = 4, SuspendAfter = 3, SuspendFor = TimeSpan.FromMinutes(5) } },
        });
        f.Deliverer.Answer = b => b.RecipientDomain == "down.example"
            ? Task.FromResult(ScriptedDeliverer.All(b, SmtpOutcome.TemporaryFailure, 451, "4.4.1", "connection refused", SmtpFailureKind.ConnectionLost))
            : Task.FromResult(ScriptedDeliverer.All(b, SmtpOutcome.Delivered, 250, "2.0.0", "ok"));
        f.Start();
        var down = new List<Tern.Spool.MessageId>();
        for (var i = 0; i < 20; i++)
        {
            down.Add(await f.SubmitAsync("alice@example.org", $"u{i}@down.example"));
        }

        var up = await f.SubmitAsync("alice@example.org", "v@up.example");
        await SchedulerFixture.Eventually(() => down.All(id => f.Entry(id).Attempts == 1), "every message to the failing destination has had its attempt");
        await SchedulerFixture.Eventually(() => f.Entry(up).State == MessageState.Retired, "the other destination is delivered");

        // The connection limit halved with each failure and the destination was suspended after three:
        // most batches were deferred without a connection, with the reason.
        Assert.InRange(f.Deliverer.CallsTo("down.example"), 3, 8);
        Assert.Contains(down, id => f.Entry(id).Recipients[0].LastReply.Contains("temporarily suspended", StringComparison.Ordinal));
        Assert.All(down, id => Assert.Equal(RecipientStatus.Deferred, f.Entry(id).Recipients[0].Status));
    }

    [Fact]
    public async Task A_hard_bounce_suppresses_the_address_and_later_mail_to_it_fails_at_once_with_a_notice()
    {
        await using var f = new SchedulerFixture();
        f.Deliverer.Answer = FailTo("example.net", b => Task.FromResult(ScriptedDeliverer.All(b, SmtpOutcome.PermanentFailure, 550, "5.1.1", "no such user")));
        f.Start();
        var first = await f.SubmitAsync("alice@example.org", "gone@example.net");
        await SchedulerFixture.Eventually(() => f.Entry(first).State == MessageState.Retired, "the bounce");
        Assert.True(f.Suppression.TryGet("gone@example.net", out var entry));
        Assert.Equal(SuppressionSource.Bounce, entry.Source);

        var callsBefore = f.Deliverer.CallsTo("example.net");
        var second = await f.SubmitAsync("alice@example.org", "Gone@example.net");
        await SchedulerFixture.Eventually(() => f.Entry(second).State == MessageState.Retired, "the second fails at once");
        Assert.Equal(callsBefore, f.Deliverer.CallsTo("example.net"));
        var reply = f.Entry(second).Recipients[0].LastReply;
        Assert.StartsWith("550 5.1.1 ", reply, StringComparison.Ordinal);
        Assert.Contains("suppression list", reply, StringComparison.Ordinal);
        await SchedulerFixture.Eventually(() => f.Deliverer.Calls.Count(c => c.Message.Sender.Length == 0) == 2, "two failure notices");
        Assert.Contains(f.Deliverer.Calls.Where(c => c.Message.Sender.Length == 0), c => Content(c).Contains("suppression list", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Held_messages_and_a_paused_queue_wait_and_go_when_released()
    {
        await using var f = new SchedulerFixture();
        f.Start();
        await f.Spool.Queue.SetPausedAsync(true);
        var id = await f.SubmitAsync("alice@example.org", "bob@example.net");
        await SchedulerFixture.Settle();
        Assert.Empty(f.Deliverer.Calls);
        await f.Spool.Queue.HoldAsync(new QueueFilter { Ids = [id] });
        await f.Spool.Queue.SetPausedAsync(false);
        await SchedulerFixture.Settle();
        Assert.Empty(f.Deliverer.Calls);
        await f.Spool.Queue.ReleaseAsync(new QueueFilter { Ids = [id] });
        await SchedulerFixture.Eventually(() => f.Entry(id).State == MessageState.Retired, "delivered once released");
    }

    [Fact]
    public async Task A_restart_rebuilds_the_same_schedule()
    {
        await using var f = new SchedulerFixture();
        f.Deliverer.Answer = FailTo("example.net", Defer);
        f.Start();
        var ids = new List<Tern.Spool.MessageId>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await f.SubmitAsync("alice@example.org", $"u{i}@example.net"));
            await SchedulerFixture.Eventually(() => f.Entry(ids[^1]).Attempts == 1, "its first attempt");
            f.Advance(TimeSpan.FromMinutes(1));
        }

        var before = await f.Scheduler!.ScheduleSnapshotAsync();
        await f.RestartAsync();
        var calls = f.Deliverer.Calls.Count;
        f.Start();
        var after = await f.Scheduler!.ScheduleSnapshotAsync();
        Assert.Equal(before.OrderBy(p => p.Key.ToString()), after.OrderBy(p => p.Key.ToString()));
        Assert.Equal(5, after.Count);

        // And it runs on it: nothing is due yet; the first retry comes at its time.
        await SchedulerFixture.Settle();
        Assert.Equal(calls, f.Deliverer.Calls.Count);
        f.Advance(f.Entry(ids[0]).NextAttempt - f.Clock.GetUtcNow());
        await SchedulerFixture.Eventually(() => f.Entry(ids[0]).Attempts == 2, "the first retry after the restart");
        Assert.Equal(1, f.Entry(ids[1]).Attempts);
    }

    [Fact]
    public async Task Idle_destinations_are_forgotten_and_suspended_ones_kept()
    {
        await using var f = new SchedulerFixture(o => o with { Destinations = new DestinationPolicy { Default = new DestinationLimits { SuspendAfter = 1, SuspendFor = TimeSpan.FromHours(1) } } });
        f.Deliverer.Answer = b => b.RecipientDomain == "down.example"
            ? Task.FromResult(ScriptedDeliverer.All(b, SmtpOutcome.TemporaryFailure, 421, "4.4.2", "closing", SmtpFailureKind.ConnectionLost))
            : Task.FromResult(ScriptedDeliverer.All(b, SmtpOutcome.Delivered, 250, "2.0.0", "ok"));
        f.Start();
        var up = await f.SubmitAsync("alice@example.org", "bob@up.example");
        var down = await f.SubmitAsync("alice@example.org", "bob@down.example");
        await SchedulerFixture.Eventually(() => f.Entry(up).State == MessageState.Retired && f.Entry(down).Attempts == 1, "both attempts");
        Assert.Equal(2, f.Scheduler!.Destinations);
        f.Advance(TimeSpan.FromMinutes(11));
        await SchedulerFixture.Eventually(() => f.Scheduler!.Destinations == 1, "the idle destination is forgotten");

        // The suspended one is kept until its suspension ends (and it is idle for 10 minutes).
        await SchedulerFixture.Settle();
        Assert.Equal(1, f.Scheduler!.Destinations);
    }

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, false)]
    public async Task Notify_success_gets_a_relayed_notice_only_when_the_next_hop_lacks_dsn(bool dsnOffered, bool noticeExpected)
    {
        await using var f = new SchedulerFixture();
        f.Deliverer.Answer = b => Task.FromResult(ScriptedDeliverer.All(b, SmtpOutcome.Delivered, 250, "2.0.0", "queued as 12345", dsnOffered: dsnOffered));
        f.Start();
        var id = await f.SubmitAsync("alice@example.org", Tern.Spool.StoredNotify.Success | Tern.Spool.StoredNotify.Failure, "bob@example.net");
        await SchedulerFixture.Eventually(() => f.Entry(id).State == MessageState.Retired, "delivered");
        if (noticeExpected)
        {
            await SchedulerFixture.Eventually(() => f.Deliverer.Calls.Any(c => c.Message.Sender.Length == 0), "the success notice is delivered");
            var text = Content(f.Deliverer.Calls.Single(c => c.Message.Sender.Length == 0));
            Assert.Contains("Action: relayed", text, StringComparison.Ordinal);
            Assert.Contains("Remote-MTA: dns; mx.example.net", text, StringComparison.Ordinal);
        }
        else
        {
            // The next hop took NOTIFY along: its own notice will come from there.
            await SchedulerFixture.Settle();
            Assert.DoesNotContain(f.Deliverer.Calls, c => c.Message.Sender.Length == 0);
        }
    }

    [Fact]
    public async Task An_attempt_that_outlasts_its_retry_delay_is_retried_after_it_and_never_lost()
    {
        await using var f = new SchedulerFixture();
        var slow = new TaskCompletionSource();
        var calls = 0;
        f.Deliverer.Answer = async b =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                await slow.Task;
            }

            return ScriptedDeliverer.All(b, SmtpOutcome.TemporaryFailure, 451, "4.4.2", "timed out");
        };
        f.Start();
        var id = await f.SubmitAsync("alice@example.org", "bob@example.net");
        await SchedulerFixture.Eventually(() => calls == 1, "the first attempt starts");

        // The attempt takes 10 minutes (a tarpit), longer than the 7.5 minutes to the next one.
        f.Advance(TimeSpan.FromMinutes(10));
        slow.SetResult();
        await SchedulerFixture.Eventually(() => f.Entry(id).Attempts == 1, "the first attempt is recorded");
        Assert.Equal(f.Clock.GetUtcNow() + TimeSpan.FromMinutes(7.5), f.Entry(id).NextAttempt);
        await SchedulerFixture.Settle();
        Assert.Equal(1, calls);

        f.Advance(TimeSpan.FromMinutes(7.5));
        await SchedulerFixture.Eventually(() => f.Entry(id).Attempts == 2, "the second attempt, 7.5 minutes after the first ended");
    }

    [Fact]
    public async Task A_message_held_while_it_waits_in_a_ready_queue_does_not_go()
    {
        await using var f = new SchedulerFixture(o => o with { Destinations = new DestinationPolicy { Default = new DestinationLimits { MaxConnections = 1 } } });
        var gate = Gate(f);
        f.Start();
        var first = await f.SubmitAsync("alice@example.org", "a@example.net");
        await SchedulerFixture.Eventually(() => f.Deliverer.Calls.Count == 1, "the first message is under way");
        var second = await f.SubmitAsync("alice@example.org", "b@example.net");
        await SchedulerFixture.Eventually(() => f.Scheduler!.InFlight == 2, "the second waits in the destination's queue");
        await f.Spool.Queue.HoldAsync(new QueueFilter { Ids = [second] });
        gate.SetResult();
        await SchedulerFixture.Eventually(() => f.Entry(first).State == MessageState.Retired && f.Scheduler!.InFlight == 0, "the first is delivered and the second withdrawn");
        Assert.Single(f.Deliverer.Calls);
        Assert.Equal(0, f.Entry(second).Attempts);

        await f.Spool.Queue.ReleaseAsync(new QueueFilter { Ids = [second] });
        await SchedulerFixture.Eventually(() => f.Entry(second).State == MessageState.Retired, "delivered at once once released");
        Assert.Equal(1, f.Entry(second).Attempts);
    }

    [Fact]
    public async Task A_message_held_while_its_envelope_waits_to_go_ahead_does_not_go_and_its_connection_is_dropped()
    {
        await using var f = new SchedulerFixture(o => o with { Destinations = new DestinationPolicy { Default = new DestinationLimits { MaxConnections = 1 } } });
        var gates = new[] { new TaskCompletionSource(), new TaskCompletionSource(), new TaskCompletionSource() };
        f.Deliverer.Answer = async b =>
        {
            await gates[f.Deliverer.Calls.Count - 1].Task;
            return ScriptedDeliverer.All(b, SmtpOutcome.Delivered, 250, "2.0.0", "ok");
        };
        gates[2].SetResult();
        f.Start();
        var first = await f.SubmitAsync("alice@example.org", "a@example.net");
        await SchedulerFixture.Eventually(() => f.Deliverer.Calls.Count == 1, "the first is under way");
        var ids = new[] { await f.SubmitAsync("alice@example.org", "b@example.net"), await f.SubmitAsync("alice@example.org", "c@example.net") };
        await SchedulerFixture.Eventually(() => f.Scheduler!.Queued("direct|mx.example.net") == 2, "two wait");
        gates[0].SetResult();

        // The second is under way and names the third as next; the third is held meanwhile.
        await SchedulerFixture.Eventually(() => f.Deliverer.Calls.Count == 2, "the second is under way");
        var second = f.Deliverer.Calls.Last();
        var named = Assert.IsType<Tern.Delivery.DeliveryBatch>(second.Next);
        var held = ids.Single(id => id.ToString() == named.MessageId);
        await f.Spool.Queue.HoldAsync(new QueueFilter { Ids = [held] });
        gates[1].SetResult();

        await SchedulerFixture.Eventually(() => f.Scheduler!.InFlight == 0, "the second is delivered and the third withdrawn");
        Assert.Equal(2, f.Deliverer.Calls.Count);
        Assert.Same(named.Message, Assert.Single(f.Deliverer.Discarded).Message);
        Assert.Equal(0, f.Entry(held).Attempts);
        Assert.Equal(MessageState.Retired, f.Entry(first).State);

        await f.Spool.Queue.ReleaseAsync(new QueueFilter { Ids = [held] });
        await SchedulerFixture.Eventually(() => f.Entry(held).State == MessageState.Retired, "delivered once released");
    }

    [Fact]
    public async Task An_expired_recipient_is_not_suppressed_even_when_its_last_reply_was_a_5xx_that_deferred()
    {
        await using var f = new SchedulerFixture(o => o with { Retry = o.Retry with { MaxRetries = 0 } });

        // A 554 greeting (a blocklisted sending IP) defers rather than bounces, keeping the server's reply.
        f.Deliverer.Answer = FailTo("example.net", b => Task.FromResult(ScriptedDeliverer.All(b, SmtpOutcome.TemporaryFailure, 554, "5.7.1", "your IP is blocked")));
        f.Start();
        var id = await f.SubmitAsync("alice@example.org", "bob@example.net");
        await SchedulerFixture.Eventually(() => f.Entry(id).State == MessageState.Retired, "the only attempt expires");
        Assert.Equal(RecipientStatus.Failed, f.Entry(id).Recipients[0].Status);
        Assert.False(f.Suppression.TryGet("bob@example.net", out _));
    }
}
