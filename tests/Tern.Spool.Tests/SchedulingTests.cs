using System.Collections.Concurrent;
using Microsoft.Extensions.Logging.Abstractions;
using Tern.Spool.Queue;
using Tern.Tests.Support;

namespace Tern.Spool.Tests;

/// <summary>
/// What the delivery scheduler needs from the spool: change notifications, a scan of the queued
/// messages, the durable next attempt (NextAttempt records) and the per-message retry limit.
/// </summary>
public sealed class SchedulingTests : SpoolFixture
{
    private sealed class Recorder : ISpoolObserver
    {
        public ConcurrentQueue<(MessageId Id, MessageState State, bool Held, long Next)> Entries { get; } = new();

        public ConcurrentQueue<bool> Rules { get; } = new();

        public void EntryChanged(MessageId id, MessageState state, bool held, long nextAttemptUnixMs) => Entries.Enqueue((id, state, held, nextAttemptUnixMs));

        public void RulesChanged(bool paused) => Rules.Enqueue(paused);

        public List<(MessageId Id, MessageState State, bool Held, long Next)> Take()
        {
            var list = new List<(MessageId, MessageState, bool, long)>();
            while (Entries.TryDequeue(out var e))
            {
                list.Add(e);
            }

            return list;
        }
    }

    private sealed class Throwing : ISpoolObserver
    {
        public int Calls;

        public void EntryChanged(MessageId id, MessageState state, bool held, long nextAttemptUnixMs)
        {
            Interlocked.Increment(ref Calls);
            throw new InvalidOperationException("observer bug");
        }

        public void RulesChanged(bool paused) => throw new InvalidOperationException("observer bug");
    }

    private static long Ms(DateTimeOffset t) => t.ToUnixTimeMilliseconds();

    [Fact]
    public async Task The_observer_is_told_every_change_in_log_order()
    {
        await using var spool = Open(o => o with { Retention = TimeSpan.FromDays(1) });
        var seen = new Recorder();
        spool.Observe(seen);

        var a = await Store(spool, "alice@example.org", "bob@example.net");
        var received = Ms(EntryOf(spool, a).Received);
        Assert.Equal([(a, MessageState.Queued, false, received)], seen.Take());

        var next = Clock.GetUtcNow() + TimeSpan.FromMinutes(10);
        Assert.Equal(1, await spool.ScheduleAsync([a], next));
        Assert.Equal([(a, MessageState.Queued, false, Ms(next))], seen.Take());

        Assert.Equal(1, await spool.Queue.HoldAsync(Only(a)));
        Assert.Equal(1, await spool.Queue.ReleaseAsync(Only(a)));
        Assert.Equal(1, await spool.Queue.RetryAsync(Only(a)));
        Assert.Equal(
            [(a, MessageState.Queued, true, Ms(next)), (a, MessageState.Queued, false, Ms(next)), (a, MessageState.Queued, false, Ms(Clock.GetUtcNow()))],
            seen.Take());

        // An attempt recorded: still queued with the new next attempt, then retired.
        var retry = Clock.GetUtcNow() + TimeSpan.FromMinutes(7);
        await spool.RecordAttemptAsync(a, [new AttemptOutcome(0, RecipientStatus.Deferred, "451 4.3.0 later")], retry);
        await spool.RecordAttemptAsync(a, [new AttemptOutcome(0, RecipientStatus.Delivered, "250 ok")], retry + TimeSpan.FromMinutes(1));
        Assert.Equal([(a, MessageState.Queued, false, Ms(retry)), (a, MessageState.Retired, false, Ms(retry + TimeSpan.FromMinutes(1)))], seen.Take());

        // A NextAttempt for a retired message changes nothing and tells nothing.
        Assert.Equal(0, await spool.ScheduleAsync([a], next));
        Assert.Empty(seen.Take());

        // Dropped and failed messages retire; an abandoned one leaves the index.
        var b = await Store(spool, "alice@example.org", "carol@example.net");
        var c = await Store(spool, "alice@example.org", "dave@example.net");
        var d = await Store(spool, "alice@example.org", "erin@example.net");
        seen.Take();
        await spool.Queue.DropAsync(Only(b));
        await spool.Queue.FailAsync(Only(c), "no");

        // FailAsync returns once its notice is indexed too (not only durable): no wait here.
        var afterFail = seen.Take();
        Assert.Equal((b, MessageState.Retired), (afterFail[0].Id, afterFail[0].State));
        Assert.Equal((c, MessageState.Retired), (afterFail[1].Id, afterFail[1].State));

        // (the failure notice to alice was accepted in between: a new queued message)
        var notice = Assert.Single(afterFail, e => e.Id != b && e.Id != c);
        Assert.Equal(MessageState.Queued, notice.State);
        spool.Abandon(d);
        await spool.CommitNowAsync();
        Assert.Equal([(d, MessageState.Retired, false, 0L)], seen.Take());
        Assert.Null(spool.Entry(d));

        // The pause and the hold rules.
        await spool.Queue.SetPausedAsync(true);
        Assert.True(spool.Paused);
        await spool.Queue.AddHoldRuleAsync(new HoldRule { SenderDomain = "spam.example" });
        await spool.Queue.SetPausedAsync(false);
        Assert.False(spool.Paused);
        Assert.Equal([true, true, false], seen.Rules.ToArray());

        // Retired summaries expiring from the history.
        seen.Take();
        Clock.Advance(TimeSpan.FromDays(2));
        await spool.CheckpointNowAsync();
        var expired = seen.Take();
        Assert.Equal(new[] { a, b, c }.Order(new IdOrder()), expired.Select(e => e.Id).Order(new IdOrder()));
        Assert.All(expired, e => Assert.Equal((MessageState.Retired, false, 0L), (e.State, e.Held, e.Next)));

        // Stopped: nothing more.
        spool.StopObserving();
        await Store(spool, "alice@example.org", "frank@example.net");
        Assert.Empty(seen.Take());
    }

    [Fact]
    public async Task A_throwing_observer_does_not_stop_the_applier()
    {
        await using var spool = Open();
        var bad = new Throwing();
        spool.Observe(bad);
        var a = await Store(spool, "alice@example.org", "bob@example.net");
        Assert.Equal(1, await spool.ScheduleAsync([a], Clock.GetUtcNow() + TimeSpan.FromHours(1)));
        await spool.Queue.SetPausedAsync(true);
        Assert.Equal(2, bad.Calls);
        Assert.Equal(Clock.GetUtcNow() + TimeSpan.FromHours(1), EntryOf(spool, a).NextAttempt);
        Assert.True(spool.Paused);
    }

    [Fact]
    public async Task ForEachQueued_reports_every_queued_message_with_hold_and_next_attempt()
    {
        await using var spool = Open();
        var a = await Store(spool, "alice@example.org", "bob@example.net");
        var b = await Store(spool, "alice@example.org", "carol@example.net");
        var c = await Store(spool, "alice@example.org", "dave@example.net");
        var d = await Store(spool, "alice@example.org", "erin@example.net");
        await spool.Queue.HoldAsync(Only(b));
        var later = Clock.GetUtcNow() + TimeSpan.FromHours(3);
        await spool.ScheduleAsync([c], later);
        await spool.Queue.DropAsync(Only(d));

        var seen = new Dictionary<MessageId, (bool Held, long Next)>();
        spool.ForEachQueued((id, held, next) => seen.Add(id, (held, next)));
        Assert.Equal(3, seen.Count);
        Assert.Equal((false, Ms(EntryOf(spool, a).Received)), seen[a]);
        Assert.Equal((true, Ms(EntryOf(spool, b).Received)), seen[b]);
        Assert.Equal((false, Ms(later)), seen[c]);

        // An exception from the visitor ends the scan and comes out as it is.
        var visits = 0;
        Assert.Throws<FormatException>(() => spool.ForEachQueued((_, _, _) =>
        {
            visits++;
            throw new FormatException("visitor");
        }));
        Assert.Equal(1, visits);
    }

    [Fact]
    public async Task Observe_then_scan_gives_a_complete_picture_while_the_queue_changes()
    {
        await using var spool = Open();
        var ids = new ConcurrentBag<MessageId>();
        await Parallel.ForAsync(0, 400, async (i, _) => ids.Add(await Store(spool, "alice@example.org", $"r{i}@example.net")));

        // Three scheduler starts (a lost race shows in some runs only).
        for (var round = 0; round < 3; round++)
        {
            await StartWhileTheQueueChanges(spool, ids, round);
        }
    }

    private async Task StartWhileTheQueueChanges(Spool spool, ConcurrentBag<MessageId> ids, int round)
    {
        // Acceptances, holds, releases, drops and schedules go on while the scheduler starts, from a
        // few tasks, each change touching several messages (entries rewritten at new index addresses).
        using var stop = new CancellationTokenSource();
        var churn = Enumerable.Range(0, 3).Select(k => Task.Run(async () =>
        {
            var random = new Random((round * 10) + k);
            var n = 0;
            while (!stop.IsCancellationRequested)
            {
                var all = ids.ToArray();
                var some = Enumerable.Range(0, 8).Select(_ => all[random.Next(all.Length)]).ToList();
                switch (n++ % 5)
                {
                    case 0:
                        ids.Add(await Store(spool, "alice@example.org", $"new{round}.{k}.{n}@example.net"));
                        break;
                    case 1:
                        await spool.Queue.HoldAsync(new QueueFilter { Ids = some });
                        break;
                    case 2:
                        await spool.Queue.ReleaseAsync(new QueueFilter { Ids = some });
                        break;
                    case 3:
                        await spool.ScheduleAsync(some, Clock.GetUtcNow() + TimeSpan.FromSeconds(n));
                        break;
                    default:
                        await spool.Queue.DropAsync(new QueueFilter { Ids = some.Take(1).ToList() });
                        break;
                }
            }
        })).ToList();

        // As the scheduler does: the scan's visits and the notifications go into one queue, from two
        // threads, and are applied in the order they arrive.
        await Task.Delay(100);
        var events = new Recorder();
        spool.Observe(events);
        spool.ForEachQueued((id, held, next) =>
        {
            // A slow consumer: the scan overlaps many changes.
            Thread.SpinWait(50_000);
            events.Entries.Enqueue((id, MessageState.Queued, held, next));
        });
        await Task.Delay(200);
        await stop.CancelAsync();
        await Task.WhenAll(churn);
        await spool.CaughtUpAsync();
        spool.StopObserving();

        var schedule = new Dictionary<MessageId, (bool Held, long Next)>();
        foreach (var e in events.Take())
        {
            if (e.State == MessageState.Queued)
            {
                schedule[e.Id] = (e.Held, e.Next);
            }
            else
            {
                schedule.Remove(e.Id);
            }
        }

        var truth = spool.Queue.List(new QueueFilter { Limit = 100_000 }).Entries.ToDictionary(e => e.Id, e => (e.Held, Ms(e.NextAttempt)));
        Assert.Equal(truth.OrderBy(kv => kv.Key.ToString()), schedule.OrderBy(kv => kv.Key.ToString()));
    }

    [Fact]
    public async Task A_scheduled_next_attempt_survives_restarts_with_and_without_a_checkpoint_and_a_rebuilt_index()
    {
        MessageId a, b, gone;
        var t1 = Clock.GetUtcNow() + TimeSpan.FromMinutes(30);
        var t2 = Clock.GetUtcNow() + TimeSpan.FromMinutes(45);
        await using (var spool = Open())
        {
            a = await Store(spool, "alice@example.org", "bob@example.net");
            b = await Store(spool, "alice@example.org", "carol@example.net");
            gone = await Store(spool, "alice@example.org", "dave@example.net");
            await spool.Queue.DropAsync(Only(gone));

            // Only still-queued messages count (an unknown id and a retired one do not).
            Assert.Equal(2, await spool.ScheduleAsync([a, b, gone, new MessageId(0x0123_4567_0000_0000, 9)], t1));
            Assert.Equal(t1, EntryOf(spool, a).NextAttempt);
            Assert.Equal(t1, EntryOf(spool, b).NextAttempt);
            Assert.Empty(spool.Due(Clock.GetUtcNow(), 10));
            Assert.Equal(2, spool.Due(t1, 10).Count);

            // A held message takes a next attempt too (it stays held).
            await spool.Queue.HoldAsync(Only(b));
            Assert.Equal(1, await spool.ScheduleAsync([b], t2));
            Assert.True(EntryOf(spool, b).Held);
        }

        void Check(Spool spool)
        {
            Assert.Equal(t1, EntryOf(spool, a).NextAttempt);
            Assert.Equal(t2, EntryOf(spool, b).NextAttempt);
            Assert.True(EntryOf(spool, b).Held);
            Assert.Equal(2, spool.Count);
        }

        // A clean stop checkpointed the index.
        await using (var spool = Open(o => o with { CheckpointOnClose = false }))
        {
            Assert.True(spool.ReplayedFrom > 0);
            Check(spool);

            // The last change of each is a NextAttempt record, after the checkpoint (as at kill -9).
            Assert.Equal(2, await spool.ScheduleAsync([a, b], t2));
            t1 = t2;
        }

        await using (var spool = Open())
        {
            Check(spool);
        }

        Directory.Delete(Path.Combine(Dir, "index"), recursive: true);
        await using (var spool = Open())
        {
            Assert.Equal(spool.LogBeginAddress, spool.ReplayedFrom);
            Check(spool);
        }
    }

    [Fact]
    public async Task A_scheduled_next_attempt_survives_compaction_truncation_and_an_index_rebuilt_from_the_truncated_log()
    {
        MessageId old;
        var body = "Subject: old\r\n\r\n" + new string('x', 5000) + "\r\n";
        var retry = Clock.GetUtcNow() + TimeSpan.FromMinutes(20);
        var last = Clock.GetUtcNow() + TimeSpan.FromMinutes(90);
        await using (var spool = Open(o => o with { CompactAbove = 2 << 20, CheckpointBytes = long.MaxValue, CheckpointOnClose = false }))
        {
            old = await Store(spool, "a@example.org", [("b@example.net", StoredNotify.Failure), ("c@example.net", StoredNotify.Failure)], body);
            var first = EntryOf(spool, old).FirstAddress;
            await spool.RecordAttemptAsync(old, [new AttemptOutcome(0, RecipientStatus.Delivered, "250 ok"), new AttemptOutcome(1, RecipientStatus.Deferred, "451 4.7.1 later")], retry);
            await spool.Queue.HoldAsync(Only(old));
            await spool.ScheduleAsync([old], retry + TimeSpan.FromMinutes(1));

            var filler = new string('y', 30_000);
            var done = new List<MessageId>();
            for (var i = 0; i < 100; i++)
            {
                done.Add(await Store(spool, "a@example.org", [("c@example.net", StoredNotify.Failure)], filler));
            }

            await spool.Queue.DropAsync(new QueueFilter { Ids = done });
            await spool.CheckpointNowAsync();
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while (EntryOf(spool, old).FirstAddress == first && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }

            Assert.NotEqual(first, EntryOf(spool, old).FirstAddress);
            await spool.CheckpointNowAsync();
            Assert.True(spool.LogBeginAddress > first, $"log begin {spool.LogBeginAddress} still at or below the old message at {first}");

            // Its last change: a NextAttempt record after the last checkpoint.
            Assert.Equal(1, await spool.ScheduleAsync([old], last));
        }

        void Check(Spool spool)
        {
            var e = EntryOf(spool, old);
            Assert.Equal(MessageState.Queued, e.State);
            Assert.Equal(last, e.NextAttempt);
            Assert.Equal(1, e.Attempts);
            Assert.True(e.Held);
            Assert.Equal([RecipientStatus.Delivered, RecipientStatus.Deferred], e.Recipients.Select(r => r.Status));
            Assert.Equal("451 4.7.1 later", e.Recipients[1].LastReply);
        }

        // Replayed from the last checkpoint (no checkpoint at close).
        await using (var spool = Open())
        {
            Check(spool);
            Assert.Equal(body, System.Text.Encoding.ASCII.GetString((await spool.ReadAsync(old))!.Body));
        }

        // Rebuilt from what is left of the log: the copy carries the entry's state forward.
        Directory.Delete(Path.Combine(Dir, "index"), recursive: true);
        await using (var spool = Open())
        {
            Assert.Equal(1, spool.Count);
            Check(spool);
        }
    }

    [Fact]
    public async Task Scheduling_racing_other_changes_loses_no_update()
    {
        var spool = Open();
        var a = await Store(spool, "alice@example.org", "bob@example.net");
        var b = await Store(spool, "alice@example.org", "carol@example.net");
        var seen = new Recorder();
        spool.Observe(seen);

        // One task moves the next attempts forward, many others rewrite the entries (State snapshots
        // read from the index): none of them may put an older next attempt back.
        var start = Clock.GetUtcNow();
        const int Rounds = 150;
        var scheduler = Task.Run(async () =>
        {
            for (var i = 1; i <= Rounds; i++)
            {
                await spool.ScheduleAsync(i % 3 == 0 ? [a] : [a, b], start + TimeSpan.FromSeconds(i));
            }
        });
        var changers = Enumerable.Range(0, 8).Select(k => Task.Run(async () =>
        {
            for (var i = 0; i < 40; i++)
            {
                await spool.Queue.SetTransportAsync(new QueueFilter { Ids = i % 2 == 0 ? [a] : [a, b] }, $"t{k}-{i}");
            }
        })).ToList();
        await scheduler;
        await Task.WhenAll(changers);
        await spool.CaughtUpAsync();

        Assert.Equal(start + TimeSpan.FromSeconds(Rounds), EntryOf(spool, a).NextAttempt);
        Assert.Equal(start + TimeSpan.FromSeconds(Rounds - 1), EntryOf(spool, b).NextAttempt);
        var events = seen.Take();
        foreach (var id in new[] { a, b })
        {
            var nexts = events.Where(e => e.Id == id).Select(e => e.Next).ToList();
            Assert.True(nexts.Count > Rounds / 2);
            for (var i = 1; i < nexts.Count; i++)
            {
                Assert.True(nexts[i] >= nexts[i - 1], $"{id}: next attempt went back from {nexts[i - 1]} to {nexts[i]}");
            }
        }

        // The same after a restart from the log.
        await spool.DisposeAsync();
        await using var again = Open();
        Assert.Equal(start + TimeSpan.FromSeconds(Rounds), EntryOf(again, a).NextAttempt);
    }

    [Fact]
    public async Task The_retry_limit_per_message_is_set_by_the_operator_and_survives_restarts()
    {
        MessageId a, b;
        await using (var spool = Open(o => o with { CheckpointOnClose = false }))
        {
            a = await Store(spool, "alice@example.org", "bob@example.net");
            b = await Store(spool, "alice@example.org", "carol@example.net");
            Assert.Equal(0, EntryOf(spool, a).MaxRetries);
            Assert.Equal(1, await spool.Queue.SetMaxRetriesAsync(Only(a), 5));
            Assert.Equal(0, await spool.Queue.SetMaxRetriesAsync(Only(a), 5));
            Assert.Equal(2, await spool.Queue.SetMaxRetriesAsync(new QueueFilter { All = true }, 100));
            Assert.Equal(1, await spool.Queue.SetMaxRetriesAsync(Only(b), 0));
            await Assert.ThrowsAsync<QueueOperationException>(() => spool.Queue.SetMaxRetriesAsync(Only(a), 101));
            await Assert.ThrowsAsync<QueueOperationException>(() => spool.Queue.SetMaxRetriesAsync(Only(a), -1));
            await Assert.ThrowsAsync<QueueOperationException>(() => spool.Queue.SetMaxRetriesAsync(new QueueFilter(), 3));

            // Kept through other changes.
            await spool.ScheduleAsync([a], Clock.GetUtcNow() + TimeSpan.FromMinutes(1));
            await spool.RecordAttemptAsync(a, [new AttemptOutcome(0, RecipientStatus.Deferred, "451 later")], Clock.GetUtcNow() + TimeSpan.FromMinutes(2));
            Assert.Equal(100, EntryOf(spool, a).MaxRetries);
        }

        await using (var spool = Open())
        {
            Assert.Equal(100, EntryOf(spool, a).MaxRetries);
            Assert.Equal(0, EntryOf(spool, b).MaxRetries);
        }

        await using (var spool = Open())
        {
            Assert.Equal(100, EntryOf(spool, a).MaxRetries);
        }
    }

    [Fact]
    public void Version_1_entries_still_decode_and_version_2_round_trips_the_retry_limit()
    {
        var entry = SampleEntry() with { MaxRetries = 42 };
        var v2 = QueueEntryFormat.Encode(entry, out var buffer).ToArray();
        System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        Assert.Equal(2, v2[0]);
        Assert.Equal(42, v2[QueueEntryFormat.MaxRetriesOffset]);
        var back = QueueEntryFormat.Read(entry.Id, v2);
        Assert.Equal(42, back.MaxRetries);
        Assert.Equal(entry with { Envelope = back.Envelope, Recipients = back.Recipients }, back);

        // Version 1 (as written before): the same bytes without the retry limit.
        var v1 = V1(v2);
        var old = QueueEntryFormat.Read(entry.Id, v1);
        Assert.Equal(entry with { MaxRetries = 0, Envelope = old.Envelope, Recipients = old.Recipients }, old);
        Assert.Equal(entry.Recipients, old.Recipients);
        Assert.Equal(entry.Envelope.Recipients, old.Envelope.Recipients);

        // The fixed-offset fields are where they were.
        Assert.Equal(QueueEntryFormat.NextAttemptMillis(v2), QueueEntryFormat.NextAttemptMillis(v1));
        Assert.Equal(QueueEntryFormat.FinishedMillis(v2), QueueEntryFormat.FinishedMillis(v1));
        Assert.True(QueueEntryFormat.Held(v1));
        Assert.Equal(MessageState.Queued, QueueEntryFormat.State(v1));

        // The summary a read of the message uses steps over the strings and the envelope in both versions.
        var expected = new SpooledMessage(entry.Id, entry.Address, entry.Received, entry.BodyLength, 1);
        Assert.Equal(expected, QueueEntryFormat.Summary(entry.Id, v2));
        Assert.Equal(expected, QueueEntryFormat.Summary(entry.Id, v1));

        v1[0] = 3;
        Assert.Throws<FormatException>(() => QueueEntryFormat.Read(entry.Id, v1));
        Assert.Throws<FormatException>(() => QueueEntryFormat.Summary(entry.Id, v1));
    }

    [Fact]
    public void An_entry_summary_counts_every_recipient_past_a_long_envelope()
    {
        var sample = SampleEntry();
        var addresses = Enumerable.Range(0, 5).Select(i => $"r{i}-\u00e9t\u00e9@example.net").ToArray();
        var entry = sample with
        {
            Transport = "relay:[192.0.2.1]:587",
            Envelope = sample.Envelope with { Recipients = [.. addresses.Select(a => new SpoolRecipient(a, StoredNotify.Unspecified, "rfc822;" + a))], AuthenticatedUser = "user" },
            Recipients = [.. addresses.Select(a => new RecipientState { Address = a, Status = RecipientStatus.Pending, LastReply = "451 \u00e0 plus tard" })],
        };
        var v2 = QueueEntryFormat.Encode(entry, out var buffer).ToArray();
        System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        Assert.Equal(new SpooledMessage(entry.Id, entry.Address, entry.Received, entry.BodyLength, 5), QueueEntryFormat.Summary(entry.Id, v2));
        Assert.Throws<FormatException>(() => QueueEntryFormat.Summary(entry.Id, v2.AsSpan(0, v2.Length / 2)));
    }

    [Fact]
    public async Task A_version_1_State_record_in_an_old_log_is_applied_and_rewritten_as_version_2_by_the_next_change()
    {
        MessageId a;
        await using (var spool = Open(o => o with { CheckpointOnClose = false }))
        {
            a = await Store(spool, "alice@example.org", "bob@example.net");

            // A State record as an older Tern wrote it: version 1 entry, held, deferred, 2 attempts.
            var e = EntryOf(spool, a) with { Held = true, HoldReason = "operator", Attempts = 2, MaxRetries = 0 };
            e = e with { Recipients = [e.Recipients[0] with { Status = RecipientStatus.Deferred, LastReply = "451 later" }] };
            var v1 = V1(QueueEntryFormat.Encode(e, out var buffer).ToArray());
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            var record = new byte[RecordFormat.HeaderSize + v1.Length];
            RecordFormat.WriteHeader(record, RecordKind.State, RecordFlags.None, a);
            v1.CopyTo(record, RecordFormat.HeaderSize);
            spool.Append(record);
            await spool.CommitNowAsync();
            Check(EntryOf(spool, a));

            // A NextAttempt record patches the version-1 value in place.
            var next = Clock.GetUtcNow() + TimeSpan.FromMinutes(3);
            Assert.Equal(1, await spool.ScheduleAsync([a], next));
            Assert.Equal(next, EntryOf(spool, a).NextAttempt);
            Check(EntryOf(spool, a));
        }

        // Replayed (no checkpoint at close), then rewritten by a change.
        await using (var spool = Open())
        {
            Check(EntryOf(spool, a));
            Assert.Equal(1, await spool.Queue.SetMaxRetriesAsync(Only(a), 7));
            Check(EntryOf(spool, a), maxRetries: 7);
        }

        await using (var spool = Open())
        {
            Check(EntryOf(spool, a), maxRetries: 7);
        }

        static void Check(QueueEntry e, int maxRetries = 0)
        {
            Assert.True(e.Held);
            Assert.Equal("operator", e.HoldReason);
            Assert.Equal(2, e.Attempts);
            Assert.Equal(maxRetries, e.MaxRetries);
            Assert.Equal(RecipientStatus.Deferred, e.Recipients[0].Status);
            Assert.Equal("451 later", e.Recipients[0].LastReply);
        }
    }

    [Fact]
    public void The_NextAttempt_record_is_a_header_and_one_i64()
    {
        Assert.Equal(28, RecordFormat.NextAttemptSize);
        Assert.Equal(6, (int)RecordKind.NextAttempt);
    }

    /// <summary>A version-2 entry turned into version 1: the retry limit byte removed.</summary>
    private static byte[] V1(byte[] v2)
    {
        var v1 = new byte[v2.Length - 1];
        v2.AsSpan(0, QueueEntryFormat.MaxRetriesOffset).CopyTo(v1);
        v2.AsSpan(QueueEntryFormat.MaxRetriesOffset + 1).CopyTo(v1.AsSpan(QueueEntryFormat.MaxRetriesOffset));
        v1[0] = 1;
        return v1;
    }

    private static QueueEntry SampleEntry() => new()
    {
        Id = new MessageId(0x0123_4567_89AB_0001, 42),
        State = MessageState.Queued,
        Held = true,
        HoldReason = "operator",
        Received = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123),
        BodyLength = 123_456,
        Address = 4096,
        FirstAddress = 64,
        Attempts = 3,
        NextAttempt = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_900_000),
        Transport = "smarthost",
        RequireTlsPolicy = RequireTlsPolicy.No,
        Envelope = new SpoolEnvelope
        {
            Sender = "alice@example.org",
            Recipients = [new SpoolRecipient("bob@example.net", StoredNotify.Success | StoredNotify.Failure, "rfc822;bob@example.net")],
            EnvelopeId = "ENV1",
            Ret = 1,
        },
        Recipients =
        [
            new RecipientState { Address = "bob@example.net", Notify = StoredNotify.Success | StoredNotify.Failure, OriginalRecipient = "rfc822;bob@example.net", Status = RecipientStatus.Deferred, LastAttempt = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_500_000), LastReply = "451-4.7.1 Greylisted\r\n451 4.7.1 try again later" },
        ],
    };

    [Fact]
    public async Task Attempts_recorded_together_share_a_commit_and_each_gets_its_own_result()
    {
        var metrics = new RecordingMetrics();
        await using var spool = Spool.Open(TestSpoolOptions.Small(Dir) with { ReportingMta = "mta.example.org" }, NullLoggerFactory.Instance, metrics, Clock);
        var delivered = new List<MessageId>();
        for (var i = 0; i < 8; i++)
        {
            delivered.Add(await Store(spool, "alice@example.org", $"u{i}@example.net"));
        }

        var deferred = await Store(spool, "alice@example.org", "carol@example.net");
        var failed = await Store(spool, "alice@example.org", "dave@example.net");
        var dropped = await Store(spool, "alice@example.org", "erin@example.net");
        Assert.Equal(1, await spool.Queue.DropAsync(Only(dropped)));
        await spool.CaughtUpAsync();
        var next = Clock.GetUtcNow() + TimeSpan.FromMinutes(15);
        var commits = metrics.Value("tern_spool_commits_total");

        var attempts = delivered.Select(id => new AttemptRecord(id, [new AttemptOutcome(0, RecipientStatus.Delivered, "250 2.0.0 ok")], next, default))
            .Append(new AttemptRecord(deferred, [new AttemptOutcome(0, RecipientStatus.Deferred, "451 4.3.0 later")], next, default))
            .Append(new AttemptRecord(failed, [new AttemptOutcome(0, RecipientStatus.Failed, "550 5.1.1 no such user")], next, default))
            .Append(new AttemptRecord(dropped, [new AttemptOutcome(0, RecipientStatus.Delivered, "250 2.0.0 ok")], next, default))
            .ToList();
        var recorded = await spool.RecordAttemptsAsync(attempts);

        // Eleven changes, one commit; the failure notice has its own (and a wake-up left from before
        // may add one more).
        Assert.InRange(metrics.Value("tern_spool_commits_total") - commits, 2, 3);
        Assert.All(recorded.Take(8), r => Assert.Equal(MessageState.Retired, r.After!.State));
        Assert.Equal((MessageState.Queued, next, 1), (recorded[8].After!.State, recorded[8].After!.NextAttempt, recorded[8].After!.Attempts));
        Assert.Equal(MessageState.Retired, recorded[9].After!.State);
        Assert.Null(recorded[10].After);
        Assert.All(recorded, r => Assert.Null(r.NoticeError));
        Assert.All(delivered, id => Assert.Equal(MessageState.Retired, EntryOf(spool, id).State));
        Assert.Equal("451 4.3.0 later", EntryOf(spool, deferred).Recipients[0].LastReply);

        // The failure notice of the bounced message was queued with the batch.
        await spool.CaughtUpAsync();
        Assert.Equal(1, metrics.Value("tern_dsn_queued_total", "failure"));

        // One message twice in a batch would lose a change (the second reads the entry before the first).
        await Assert.ThrowsAsync<ArgumentException>(() => spool.RecordAttemptsAsync([attempts[8], attempts[8]]));
    }

    private sealed class IdOrder : IComparer<MessageId>
    {
        public int Compare(MessageId x, MessageId y) => x.High != y.High ? x.High.CompareTo(y.High) : x.Low.CompareTo(y.Low);
    }
}
