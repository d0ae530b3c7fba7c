using System.Text;
using Tern.Spool.Queue;
using Tern.Tests.Support;

namespace Tern.Spool.Tests;

/// <summary>
/// The queue index and its operations on a real spool: every change is a log record, the index is
/// the fold of the log, and it comes back the same from a checkpoint, from a replay, or rebuilt.
/// </summary>
public sealed class QueueTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tern-queue-").FullName;
    private readonly TestClock _clock = new();

    public void Dispose() => Directory.Delete(_dir, true);

    private Spool Open(Func<SpoolOptions, SpoolOptions>? tune = null) => (tune ?? (o => o))(TestSpoolOptions.Small(_dir)).Open(_clock);

    private static async Task<MessageId> Store(Spool spool, string sender, string[] recipients, string body, string? account = null)
    {
        using var w = spool.Begin();
        w.Envelope.SetSender(Encoding.UTF8.GetBytes(sender));
        foreach (var r in recipients)
        {
            w.Envelope.AddRecipient(Encoding.UTF8.GetBytes(r), StoredNotify.Failure, []);
        }

        if (account is not null)
        {
            w.Envelope.SetAuthenticatedUser(Encoding.UTF8.GetBytes(account));
        }

        w.Write(Encoding.ASCII.GetBytes(body));
        Assert.True(await w.CommitAsync(CancellationToken.None));
        await spool.CaughtUpAsync();
        return w.Id;
    }

    private static QueueFilter Only(MessageId id) => new() { Ids = [id] };

    [Fact]
    public void Entry_encoding_round_trips_every_field()
    {
        var entry = new QueueEntry
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
                Sender = "ålice@exämple.org",
                Recipients = [new SpoolRecipient("bob@example.net", StoredNotify.Success | StoredNotify.Failure, "rfc822;bob@example.net"), new SpoolRecipient("carol@example.net", StoredNotify.Never, "")],
                EnvelopeId = "ENV+2B1",
                AuthenticatedUser = "app",
                Client = "192.0.2.1",
                Listener = "submission",
                SmtpUtf8 = true,
                RequireTls = true,
                EightBit = true,
                Tls = true,
                BodyType = 2,
                Ret = 1,
            },
            Recipients =
            [
                new RecipientState { Address = "bob@example.net", Notify = StoredNotify.Success | StoredNotify.Failure, OriginalRecipient = "rfc822;bob@example.net", Status = RecipientStatus.Deferred, LastAttempt = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_500_000), LastReply = "451-4.7.1 Greylisted\r\n451 4.7.1 try again later" },
                new RecipientState { Address = "carol@example.net", Notify = StoredNotify.Never, Status = RecipientStatus.Delivered, LastAttempt = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_500_001), LastReply = "250 2.0.0 ok" },
            ],
        };

        var bytes = QueueEntryFormat.Encode(entry, out var buffer).ToArray();
        System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        var back = QueueEntryFormat.Read(entry.Id, bytes);
        Assert.Equal(entry with { Envelope = back.Envelope, Recipients = back.Recipients }, back);
        Assert.Equal(entry.Envelope with { Recipients = back.Envelope.Recipients }, back.Envelope);
        Assert.Equal(entry.Envelope.Recipients, back.Envelope.Recipients);
        Assert.Equal(entry.Recipients, back.Recipients);
        Assert.True(back.Held);
        Assert.False(back.RequiresTls);
        Assert.Equal("exämple.org", back.SenderDomain);

        bytes[0] = 99;
        Assert.Throws<FormatException>(() => QueueEntryFormat.Read(entry.Id, bytes));
    }

    [Fact]
    public async Task Changes_survive_a_restart_from_the_checkpoint_and_from_a_replay()
    {
        MessageId a, b, c;
        await using (var spool = Open())
        {
            a = await Store(spool, "alice@example.org", ["bob@example.net"], "Subject: a\r\n\r\na\r\n");
            b = await Store(spool, "carol@example.com", ["dave@example.org", "erin@example.net"], "Subject: b\r\n\r\nb\r\n", account: "app");
            c = await Store(spool, "", ["frank@example.net"], "Subject: c\r\n\r\nc\r\n");
            Assert.Equal(1, await spool.Queue.HoldAsync(Only(a)));
            Assert.Equal(1, await spool.Queue.SetTransportAsync(Only(b), "smarthost"));
            Assert.Equal(1, await spool.Queue.SetRequireTlsAsync(Only(b), RequireTlsPolicy.Yes));
            Assert.Equal(1, await spool.Queue.RetryAsync(Only(b), TimeSpan.FromHours(2)));
            Assert.Equal(1, await spool.Queue.FailAsync(Only(c), "no such user here"));
        }

        void Check(Spool spool)
        {
            Assert.Equal(2, spool.Count);
            var list = spool.Queue.List(new QueueFilter());
            Assert.Equal(new[] { a, b }.Order(new IdOrder()), list.Entries.Select(e => e.Id).Order(new IdOrder()));
            var ea = list.Entries.Single(e => e.Id == a);
            Assert.True(ea.Held);
            Assert.Equal("operator", ea.HoldReason);
            var eb = list.Entries.Single(e => e.Id == b);
            Assert.Equal("smarthost", eb.Transport);
            Assert.True(eb.RequiresTls);
            Assert.Equal(eb.Received + TimeSpan.FromHours(2), eb.NextAttempt);
            var ec = Assert.Single(spool.Queue.History(new QueueFilter()).Entries);
            Assert.Equal(c, ec.Id);
            Assert.Equal(RecipientStatus.Failed, ec.Recipients[0].Status);
            Assert.Equal("no such user here", ec.Recipients[0].LastReply);
            Assert.Equal(_clock.GetUtcNow(), ec.Finished);
        }

        // A clean stop checkpointed: nothing is replayed.
        await using (var spool = Open())
        {
            Assert.True(spool.ReplayedFrom > 0);
            Check(spool);
        }

        // Without a final checkpoint (as after kill -9) the log after the last one is replayed.
        await using (var spool = Open(o => o with { CheckpointOnClose = false }))
        {
            await spool.Queue.ReleaseAsync(Only(a));
            await spool.Queue.HoldAsync(Only(a));
        }

        await using (var spool = Open())
        {
            Check(spool);
        }
    }

    [Fact]
    public async Task Checkpoint_then_tail_replay_rebuilds_the_same_index()
    {
        var ids = new List<MessageId>();
        long checkpointed;
        await using (var spool = Open(o => o with { CheckpointOnClose = false }))
        {
            for (var i = 0; i < 20; i++)
            {
                ids.Add(await Store(spool, $"s{i}@example.org", [$"r{i}@example.net"], $"Subject: {i}\r\n\r\nbody {i}\r\n"));
            }

            await spool.CheckpointNowAsync();
            checkpointed = spool.ReplayedFrom;

            // A second checkpoint writes only the index's log (the hash table goes with every eighth):
            // recovery applies it on top of the first.
            await spool.Queue.HoldAsync(new QueueFilter { Ids = [ids[7]] });
            await spool.CheckpointNowAsync();
            await spool.Queue.ReleaseAsync(new QueueFilter { Ids = [ids[7]] });
            for (var i = 20; i < 30; i++)
            {
                ids.Add(await Store(spool, $"s{i}@example.org", [$"r{i}@example.net"], $"Subject: {i}\r\n\r\nbody {i}\r\n"));
            }

            await spool.Queue.DropAsync(new QueueFilter { Ids = ids.Take(5).ToList() });
            await spool.Queue.HoldAsync(new QueueFilter { Ids = ids.Skip(25).ToList() });
        }

        await using (var spool = Open())
        {
            // Replay started at the checkpoint, not at the beginning of the log.
            Assert.True(spool.ReplayedFrom > checkpointed);
            Assert.Equal(25, spool.Count);
            Assert.Equal(5, spool.Queue.History(new QueueFilter()).Total);
            Assert.Equal(ids.Skip(25).Order(new IdOrder()), spool.Queue.List(new QueueFilter { Held = true }).Entries.Select(e => e.Id).Order(new IdOrder()));
            for (var i = 5; i < 30; i++)
            {
                var m = (await spool.ReadAsync(ids[i]))!;
                Assert.Equal($"Subject: {i}\r\n\r\nbody {i}\r\n", Encoding.ASCII.GetString(m.Body));
            }
        }
    }

    [Fact]
    public async Task A_lost_index_is_rebuilt_from_the_log()
    {
        MessageId a, b;
        await using (var spool = Open())
        {
            a = await Store(spool, "alice@example.org", ["bob@example.net"], "Subject: a\r\n\r\na\r\n");
            b = await Store(spool, "alice@example.org", ["carol@example.net"], "Subject: b\r\n\r\nb\r\n");
            await spool.Queue.HoldAsync(Only(b));
        }

        // A damaged checkpoint (and then no index at all) is not fatal: the log has everything.
        foreach (var file in Directory.EnumerateFiles(Path.Combine(_dir, "index", "checkpoints"), "*", SearchOption.AllDirectories))
        {
            File.WriteAllBytes(file, new byte[17]);
        }

        await using (var spool = Open())
        {
            Assert.Equal(2, spool.Count);
            Assert.True(spool.Queue.List(new QueueFilter { Ids = [b] }).Entries.Single().Held);
        }

        Directory.Delete(Path.Combine(_dir, "index"), recursive: true);
        await using (var spool = Open())
        {
            Assert.Equal(2, spool.Count);
            Assert.False(spool.Queue.List(new QueueFilter { Ids = [a] }).Entries.Single().Held);
            Assert.True(spool.Queue.List(new QueueFilter { Ids = [b] }).Entries.Single().Held);
        }
    }

    [Fact]
    public async Task Hold_rules_survive_an_index_rebuilt_from_a_log_truncated_past_their_record()
    {
        await using (var spool = Open(o => o with { CheckpointBytes = long.MaxValue }))
        {
            await spool.Queue.AddHoldRuleAsync(new HoldRule { SenderDomain = "spam.example" });
            await spool.Queue.SetPausedAsync(true);

            // Enough finished mail to move the log's begin past the Rules record.
            var filler = new string('y', 30_000);
            var done = new List<MessageId>();
            for (var i = 0; i < 60; i++)
            {
                done.Add(await Store(spool, "a@example.org", ["c@example.net"], filler));
            }

            await spool.Queue.DropAsync(new QueueFilter { Ids = done });
            await spool.CheckpointNowAsync();
            await spool.CheckpointNowAsync();
            Assert.True(spool.LogBeginAddress > 0, "the log was not truncated");
        }

        // The index is lost: everything it knew must come back from what is left of the log.
        Directory.Delete(Path.Combine(_dir, "index"), recursive: true);
        await using (var spool = Open())
        {
            Assert.True(spool.Queue.Paused);
            Assert.Equal("spam.example", Assert.Single(spool.Queue.HoldRules).SenderDomain);
        }
    }

    [Fact]
    public async Task Listing_while_the_applier_rewrites_entries_never_fails()
    {
        await using var spool = Open();
        var ids = new List<MessageId>();
        for (var i = 0; i < 50; i++)
        {
            ids.Add(await Store(spool, "a@example.org", ["b@example.net"], "x\r\n"));
        }

        // Entries rewritten in place by the applier while listings and due-scans read the index.
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        var writer = Task.Run(async () =>
        {
            var n = 0;
            while (!stop.IsCancellationRequested)
            {
                await spool.Queue.RetryAsync(new QueueFilter { Ids = [ids[n++ % ids.Count]] }, TimeSpan.FromMinutes(n % 7));
            }
        });
        var listings = 0;
        while (!stop.IsCancellationRequested)
        {
            Assert.Equal(50, spool.Queue.List(new QueueFilter { Limit = 1000 }).Total);
            Assert.True(spool.Due(_clock.GetUtcNow() + TimeSpan.FromDays(1), 1000).Count == 50);
            listings++;
        }

        await writer;
        Assert.True(listings > 10, $"only {listings} listings");
    }

    [Fact]
    public async Task A_rule_racing_an_acceptance_still_holds_the_message()
    {
        await using var spool = Open();

        // The rule's record goes into the log just before each message; the writer may check the
        // rules before the applier has taken the record in. The message must be held either way.
        var ids = new List<MessageId>();
        for (var i = 0; i < 20; i++)
        {
            spool.PostRules(new HoldRuleSet(false, i + 2, [new HoldRule { Id = i + 1, SenderDomain = $"r{i}.example" }]));
            ids.Add(await Store(spool, $"a@r{i}.example", ["b@example.net"], "x\r\n"));
        }

        await spool.CaughtUpAsync();
        Assert.All(spool.Queue.List(new QueueFilter { Ids = ids }).Entries, e => Assert.True(e.Held, $"{e.Id} not held"));
    }

    [Fact]
    public async Task A_torn_tail_is_cut_off_not_replayed()
    {
        var ids = new List<MessageId>();
        long tail;
        await using (var spool = Open(o => o with { CheckpointOnClose = false }))
        {
            for (var i = 0; i < 10; i++)
            {
                ids.Add(await Store(spool, "a@example.org", ["b@example.net"], new string((char)('a' + i), 3000)));
            }

            tail = spool.TailAddress;
        }

        // The last record's bytes are damaged on disk, as by a write torn by a power cut.
        var segment = Path.Combine(_dir, "tern.log.0");
        using (var f = new FileStream(segment, FileMode.Open, FileAccess.Write))
        {
            f.Position = tail - 1500;
            f.Write(Enumerable.Repeat((byte)0xEE, 1000).ToArray());
        }

        await using (var spool = Open())
        {
            Assert.InRange(spool.Count, 8, 9);
            foreach (var m in spool.Messages)
            {
                var i = ids.IndexOf(m.Id);
                Assert.Equal(new string((char)('a' + i), 3000), Encoding.ASCII.GetString((await spool.ReadAsync(m.Id))!.Body));
            }

            Assert.Equal(ids.Take(spool.Count).Order(new IdOrder()), spool.Messages.Select(m => m.Id));

            // And it keeps accepting after the cut.
            await Store(spool, "a@example.org", ["b@example.net"], "after");
        }
    }

    [Fact]
    public async Task Compaction_moves_a_long_deferred_message_so_old_segments_are_dropped()
    {
        MessageId old;
        var body = "Subject: old\r\n\r\n" + new string('x', 5000) + "\r\n";
        await using (var spool = Open(o => o with { CompactAbove = 2 << 20, CheckpointBytes = long.MaxValue }))
        {
            old = await Store(spool, "a@example.org", ["b@example.net"], body);
            var first = spool.Queue.List(new QueueFilter()).Entries.Single().FirstAddress;

            // 3 MB of mail that is delivered (here: dropped) while the old message stays queued.
            var filler = new string('y', 30_000);
            var done = new List<MessageId>();
            for (var i = 0; i < 100; i++)
            {
                done.Add(await Store(spool, "a@example.org", ["c@example.net"], filler));
            }

            await spool.Queue.DropAsync(new QueueFilter { Ids = done });
            await spool.CheckpointNowAsync();

            // The compactor copies the old message forward; the next checkpoint truncates below it.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while (spool.Queue.List(new QueueFilter { Ids = [old] }).Entries.Single().FirstAddress == first && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }

            await spool.CheckpointNowAsync();
            Assert.True(spool.LogBeginAddress > first, $"log begin {spool.LogBeginAddress} still at or below the old message at {first}");
            Assert.Equal(body, Encoding.ASCII.GetString((await spool.ReadAsync(old))!.Body));
            Assert.Equal(1, spool.Count);
            deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (File.Exists(Path.Combine(_dir, "tern.log.0")) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }

            Assert.False(File.Exists(Path.Combine(_dir, "tern.log.0")), "the first segment was not deleted");
        }

        await using (var spool = Open())
        {
            Assert.Equal(old, spool.Messages.Single().Id);
            Assert.Equal(body, Encoding.ASCII.GetString((await spool.ReadAsync(old))!.Body));
        }
    }

    [Fact]
    public async Task The_log_is_not_truncated_below_a_message_still_being_received()
    {
        await using var spool = Open(o => o with { ChunkSize = 16 * 1024, CompressAbove = 1 << 30 });
        var body = Encoding.ASCII.GetBytes(new string('b', 100_000));

        // A large message whose first chunks are in the log, its DATA still arriving...
        using var slow = spool.Begin();
        slow.Envelope.SetSender("slow@example.org"u8);
        slow.Envelope.AddRecipient("r@example.net"u8, StoredNotify.Unspecified, []);
        slow.Write(body.AsSpan(0, 60_000));

        // ...while other mail passes through and a survey truncates what it can.
        var done = new List<MessageId>();
        for (var i = 0; i < 40; i++)
        {
            done.Add(await Store(spool, "a@example.org", ["b@example.net"], new string('y', 20_000)));
        }

        await spool.Queue.DropAsync(new QueueFilter { Ids = done });
        await spool.CheckpointNowAsync();

        slow.Write(body.AsSpan(60_000));
        Assert.True(await slow.CommitAsync(CancellationToken.None));
        await spool.CaughtUpAsync();
        Assert.Equal(body, (await spool.ReadAsync(slow.Id))!.Body);
    }

    [Fact]
    public async Task Retired_messages_leave_the_history_after_the_retention_period()
    {
        await using var spool = Open(o => o with { Retention = TimeSpan.FromDays(2) });
        var a = await Store(spool, "a@example.org", ["b@example.net"], "a");
        var b = await Store(spool, "a@example.org", ["b@example.net"], "b");
        await spool.Queue.DropAsync(Only(a));
        _clock.Advance(TimeSpan.FromDays(1));
        await spool.Queue.DropAsync(Only(b));
        _clock.Advance(TimeSpan.FromDays(1.5));
        await spool.CheckpointNowAsync();
        Assert.Equal([b], spool.Queue.History(new QueueFilter()).Entries.Select(e => e.Id));
        _clock.Advance(TimeSpan.FromDays(1));
        await spool.CheckpointNowAsync();
        Assert.Empty(spool.Queue.History(new QueueFilter()).Entries);
    }

    [Fact]
    public async Task Hold_rules_hold_new_and_queued_messages_and_survive_restarts_with_the_pause()
    {
        MessageId early, later, other;
        await using (var spool = Open())
        {
            early = await Store(spool, "a@example.org", ["x@sub.example.net"], "early");
            other = await Store(spool, "a@example.org", ["y@example.com"], "other");
            var (rule, held) = await spool.Queue.AddHoldRuleAsync(new HoldRule { RecipientDomain = ".Example.NET" });
            Assert.Equal(1, held);
            Assert.Equal(".example.net", rule.RecipientDomain);
            later = await Store(spool, "a@example.org", ["z@example.net"], "later");
            await spool.Queue.SetPausedAsync(true);
            await Assert.ThrowsAsync<QueueOperationException>(() => spool.Queue.AddHoldRuleAsync(new HoldRule { SenderDomain = "a@b" }));
        }

        await using (var spool = Open(o => o with { CheckpointOnClose = false }))
        {
            Assert.True(spool.Queue.Paused);
            var rule = Assert.Single(spool.Queue.HoldRules);
            var entries = spool.Queue.List(new QueueFilter()).Entries.ToDictionary(e => e.Id);
            Assert.True(entries[early].Held);
            Assert.Equal($"hold rule {rule.Id}", entries[early].HoldReason);
            Assert.True(entries[later].Held);
            Assert.False(entries[other].Held);
            Assert.True(await spool.Queue.RemoveHoldRuleAsync(rule.Id));
            Assert.False(await spool.Queue.RemoveHoldRuleAsync(rule.Id));
            await spool.Queue.SetPausedAsync(false);
        }

        await using (var spool = Open())
        {
            Assert.False(spool.Queue.Paused);
            Assert.Empty(spool.Queue.HoldRules);
            var fresh = await Store(spool, "a@example.org", ["z@example.net"], "fresh");
            Assert.False(spool.Queue.List(new QueueFilter { Ids = [fresh] }).Entries.Single().Held);
        }
    }

    [Fact]
    public async Task Failing_a_message_queues_a_failure_notice_to_its_sender_when_notify_asks()
    {
        await using var spool = Open(o => o with { ReportingMta = "mx.example.org" });
        var asked = await Store(spool, "alice@example.org", ["bob@example.net", "carol@example.net"], "Subject: report me\r\n\r\nbody\r\n");
        var fromNull = await Store(spool, "", ["dave@example.net"], "Subject: a bounce\r\n\r\nbody\r\n");
        Assert.Equal(2, await spool.Queue.FailAsync(new QueueFilter { Ids = [asked, fromNull] }, "mailbox retired"));
        await spool.CaughtUpAsync();

        // One notice: to alice, from the null sender; none about the message from <>.
        var notice = Assert.Single(spool.Queue.List(new QueueFilter()).Entries);
        Assert.Equal(string.Empty, notice.Envelope.Sender);
        Assert.Equal("alice@example.org", Assert.Single(notice.Recipients).Address);
        Assert.Equal(StoredNotify.Never, notice.Recipients[0].Notify);
        var text = Encoding.UTF8.GetString((await spool.ReadAsync(notice.Id))!.Body);
        Assert.Contains("report-type=delivery-status", text, StringComparison.Ordinal);
        Assert.Contains("Reporting-MTA: dns; mx.example.org", text, StringComparison.Ordinal);
        Assert.Contains("Final-Recipient: rfc822; bob@example.net", text, StringComparison.Ordinal);
        Assert.Contains("Final-Recipient: rfc822; carol@example.net", text, StringComparison.Ordinal);
        Assert.Contains("mailbox retired", text, StringComparison.Ordinal);
        Assert.Contains("Subject: report me", text, StringComparison.Ordinal);

        // Failing the notice itself (from <>) queues nothing more.
        Assert.Equal(1, await spool.Queue.FailAsync(new QueueFilter { Ids = [notice.Id] }, "x"));
        await spool.CaughtUpAsync();
        Assert.Equal(0, spool.Count);
    }

    [Fact]
    public async Task Attempts_are_recorded_per_recipient_and_the_message_retires_when_none_is_open()
    {
        await using var spool = Open(o => o with { ReportingMta = "mx.example.org" });
        var id = await Store(spool, "alice@example.org", ["bob@example.net", "carol@example.net", "dave@example.com"], "Subject: hi\r\n\r\nbody\r\n");
        var now = _clock.GetUtcNow();
        Assert.Equal(id, Assert.Single(spool.Due(now, 10)).Id);

        // First attempt: bob delivered, carol deferred (greylisted), dave not tried.
        var next = now + TimeSpan.FromMinutes(7.5);
        var after = await spool.RecordAttemptAsync(id, [new AttemptOutcome(0, RecipientStatus.Delivered, "250 2.0.0 ok queued as 1"), new AttemptOutcome(1, RecipientStatus.Deferred, "450-4.2.0 greylisted\r\n450 4.2.0 come back later")], next);
        Assert.NotNull(after);
        Assert.Equal(MessageState.Queued, after.State);
        Assert.Equal(1, after.Attempts);
        Assert.Equal(next, after.NextAttempt);
        Assert.Equal([RecipientStatus.Delivered, RecipientStatus.Deferred, RecipientStatus.Pending], after.Recipients.Select(r => r.Status));
        Assert.Equal("450-4.2.0 greylisted\r\n450 4.2.0 come back later", after.Recipients[1].LastReply);
        Assert.Empty(spool.Due(now, 10));
        _clock.Advance(TimeSpan.FromMinutes(8));
        Assert.Single(spool.Due(_clock.GetUtcNow(), 10));

        // A delivered recipient stays delivered whatever a later outcome says.
        after = await spool.RecordAttemptAsync(id, [new AttemptOutcome(0, RecipientStatus.Failed, "550 no"), new AttemptOutcome(1, RecipientStatus.Delivered, "250 ok"), new AttemptOutcome(2, RecipientStatus.Failed, "550-5.1.1 dave? no such user\r\n550 5.1.1 try again never")], _clock.GetUtcNow());
        Assert.NotNull(after);
        Assert.Equal(MessageState.Retired, after.State);
        Assert.NotNull(after.Finished);
        Assert.Equal([RecipientStatus.Delivered, RecipientStatus.Delivered, RecipientStatus.Failed], after.Recipients.Select(r => r.Status));
        await spool.CaughtUpAsync();

        // The failure notice for dave carries the remote server's status and its whole reply.
        var notice = Assert.Single(spool.Queue.List(new QueueFilter()).Entries);
        Assert.Equal("alice@example.org", Assert.Single(notice.Recipients).Address);
        var text = Encoding.UTF8.GetString((await spool.ReadAsync(notice.Id))!.Body);
        Assert.Contains("Final-Recipient: rfc822; dave@example.com", text, StringComparison.Ordinal);
        Assert.Contains("Status: 5.1.1", text, StringComparison.Ordinal);
        Assert.Contains("Diagnostic-Code: smtp;", text, StringComparison.Ordinal);
        Assert.Contains("try again never", text, StringComparison.Ordinal);
        Assert.DoesNotContain("bob@example.net", text.Split("\r\n\r\n")[0], StringComparison.Ordinal);

        // A retired message takes no more attempts.
        Assert.Null(await spool.RecordAttemptAsync(id, [new AttemptOutcome(0, RecipientStatus.Delivered, "250")], _clock.GetUtcNow()));
    }

    [Fact]
    public async Task Held_messages_and_a_paused_queue_are_never_due()
    {
        await using var spool = Open();
        var held = await Store(spool, "alice@example.org", ["bob@example.net"], "x\r\n");
        var free = await Store(spool, "alice@example.org", ["carol@example.net"], "y\r\n");
        Assert.Equal(1, await spool.Queue.HoldAsync(Only(held)));
        await spool.CaughtUpAsync();
        Assert.Equal(free, Assert.Single(spool.Due(_clock.GetUtcNow(), 10)).Id);
        await spool.Queue.SetPausedAsync(true);
        Assert.Empty(spool.Due(_clock.GetUtcNow(), 10));
    }

    [Theory]
    [InlineData("550 5.1.1 no such user", "5.1.1")]
    [InlineData("550-5.7.1 blocked\r\n550 5.7.1 see url", "5.7.1")]
    [InlineData("554 5.7.100 policy", "5.7.100")]
    [InlineData("550 no enhanced code", "5.0.0")]
    [InlineData("550 4.1.1 wrong class", "5.0.0")]
    [InlineData("550 5.1234.1 too long", "5.0.0")]
    [InlineData("550 55.1.1 class", "5.0.0")]
    [InlineData("failed by the operator", "5.0.0")]
    [InlineData("450 4.2.0 temporary", "4.2.0")]
    [InlineData("450 temporary, retries ran out", "4.4.7")]
    [InlineData("450 5.2.0 wrong class", "4.4.7")]
    public void The_notice_status_is_the_remote_enhanced_code_of_the_reply_class(string reply, string status) =>
        Assert.Equal(status, FailureNotices.StatusOf(reply));

    [Fact]
    public async Task Operations_need_a_selection_and_concurrent_changes_are_not_lost()
    {
        await using var spool = Open();
        var a = await Store(spool, "a@example.org", ["b@example.net"], "a");
        await Assert.ThrowsAsync<QueueOperationException>(() => spool.Queue.HoldAsync(new QueueFilter()));
        await Assert.ThrowsAsync<QueueOperationException>(() => spool.Queue.SetTransportAsync(Only(a), "two words"));

        // Forty shifts of one minute from many tasks at once: each one reads the result of the last.
        var before = spool.Queue.List(Only(a)).Entries.Single().NextAttempt;
        await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => Task.Run(() => spool.Queue.RetryAsync(Only(a), TimeSpan.FromMinutes(1)))));
        Assert.Equal(before + TimeSpan.FromMinutes(40), spool.Queue.List(Only(a)).Entries.Single().NextAttempt);
        Assert.Equal(1, await spool.Queue.HoldAsync(new QueueFilter { All = true }));
    }

    private sealed class IdOrder : IComparer<MessageId>
    {
        public int Compare(MessageId x, MessageId y) => x.High != y.High ? x.High.CompareTo(y.High) : x.Low.CompareTo(y.Low);
    }

    /// <summary>A clock the test moves by hand (retention is days long).</summary>
    private sealed class TestClock : TimeProvider
    {
        private DateTimeOffset _now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}

/// <summary>The index's own log: updates leave old versions behind; compaction bounds it by live entries.</summary>
public sealed class QueueIndexTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tern-index-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public async Task Compaction_keeps_the_latest_version_of_every_entry_and_drops_the_rest()
    {
        var options = new SpoolOptions { Directory = _dir, IndexBuckets = 1 << 10, IndexPageSizeBits = 14, IndexMemorySizeBits = 16, IndexSegmentSizeBits = 18 };
        var ids = Enumerable.Range(1, 200).Select(i => new MessageId((ulong)i << 16, (ulong)i)).ToArray();
        using (var index = Tern.Spool.Queue.QueueIndex.Open(Path.Combine(_dir, "index"), options))
        {
            for (var round = 0; round < 20; round++)
            {
                foreach (var id in ids)
                {
                    index.Upsert(id, Value(id, round));
                }
            }

            foreach (var id in ids.Take(50))
            {
                index.Delete(id);
            }

            var before = index.LogBytes;
            index.Compact();
            index.Compact();
            await index.CheckpointAsync();
            Assert.True(index.LogBytes < before / 2, $"index log {index.LogBytes} bytes after compaction, {before} before");
            Check(index);
        }

        using (var again = Tern.Spool.Queue.QueueIndex.Open(Path.Combine(_dir, "index"), options))
        {
            Check(again);
        }

        void Check(Tern.Spool.Queue.QueueIndex index)
        {
            var seen = new Dictionary<MessageId, byte[]>();
            index.ForEach((id, value) => seen.Add(id, value.ToArray()));
            Assert.Equal(150, seen.Count);
            foreach (var id in ids.Skip(50))
            {
                Assert.Equal(Value(id, 19), seen[id]);
                var read = index.Read(id, out var n)!;
                Assert.Equal(Value(id, 19), read.AsSpan(0, n).ToArray());
                System.Buffers.ArrayPool<byte>.Shared.Return(read);
            }

            Assert.Null(index.Read(ids[0], out _));
        }
    }

    [Fact]
    public async Task Entries_only_on_disk_are_read_whole_by_several_threads_at_once_and_copied_back_to_memory()
    {
        // 64 KiB in memory for ~300 KiB of entries: most reads go to the device and complete
        // asynchronously (the index waits for them without FASTER's spinning wait).
        var options = new SpoolOptions { Directory = _dir, IndexBuckets = 1 << 12, IndexPageSizeBits = 14, IndexMemorySizeBits = 16, IndexSegmentSizeBits = 20 };
        var ids = Enumerable.Range(1, 2000).Select(i => new MessageId((ulong)i << 20, (ulong)i * 7)).ToArray();
        using var index = Tern.Spool.Queue.QueueIndex.Open(Path.Combine(_dir, "index"), options);
        foreach (var id in ids)
        {
            index.Upsert(id, Value(id, 3));
        }

        Assert.True(index.InMemoryFrom > index.LogBytes / 2, $"in memory from {index.InMemoryFrom} of {index.LogBytes} bytes: the test needs entries on disk");

        // ReadAsync (the delivery's read) copies an entry read from disk to the log's tail, so the next
        // read finds it in memory; the other reads (bulk scans, queue commands) copy nothing.
        var before = index.LogBytes;
        Assert.NotNull(index.ReadState(ids[1]));
        Assert.Equal(before, index.LogBytes);
        System.Buffers.ArrayPool<byte>.Shared.Return((await index.ReadAsync(ids[0])).Value!);
        Assert.True(index.LogBytes - before >= Value(ids[0], 3).Length, $"the log grew by {index.LogBytes - before} bytes on reading an entry from disk");
        before = index.LogBytes;
        System.Buffers.ArrayPool<byte>.Shared.Return((await index.ReadAsync(ids[0])).Value!);
        Assert.Equal(before, index.LogBytes);
        var readers = Enumerable.Range(0, 6).Select(r => Task.Run(async () =>
        {
            // Each reader in its own order, through the four ways of reading.
            var scratch = new byte[512];
            foreach (var id in ids.Skip(r * 300).Concat(ids.Take(r * 300)))
            {
                var expected = Value(id, 3);
                var read = index.Read(id, out var n)!;
                Assert.Equal(expected, read.AsSpan(0, n).ToArray());
                System.Buffers.ArrayPool<byte>.Shared.Return(read);

                Assert.True(index.TryRead(id, scratch, out var length, out var rented));
                Assert.Null(rented);
                Assert.Equal(expected, scratch.AsSpan(0, length).ToArray());
                Assert.NotNull(index.ReadState(id));

                var (value, valueLength) = await index.ReadAsync(id);
                Assert.Equal(expected, value!.AsSpan(0, valueLength).ToArray());
                System.Buffers.ArrayPool<byte>.Shared.Return(value!);
            }
        })).ToArray();
        await Task.WhenAll(readers).WaitAsync(TimeSpan.FromMinutes(2));
        Assert.Null(index.Read(new MessageId(1, 1), out _));
        Assert.Null((await index.ReadAsync(new MessageId(1, 1))).Value);

        // ReadAsync of entries still on disk (not yet copied back by the readers above: a new index).
        using var fresh = Tern.Spool.Queue.QueueIndex.Open(Path.Combine(_dir, "index2"), options);
        foreach (var id in ids)
        {
            fresh.Upsert(id, Value(id, 5));
        }

        var reads = await Task.WhenAll(ids.Take(200).Select(async id => (id, await fresh.ReadAsync(id))));
        foreach (var (id, (value, length)) in reads)
        {
            Assert.Equal(Value(id, 5), value!.AsSpan(0, length).ToArray());
            System.Buffers.ArrayPool<byte>.Shared.Return(value!);
        }
    }

    private static byte[] Value(MessageId id, int round) => Encoding.ASCII.GetBytes($"{id}:{round}:" + new string('v', 100 + (round * 7 % 50)));
}
