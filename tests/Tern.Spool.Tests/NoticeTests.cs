using System.Net;
using System.Text;
using MimeKit;
using MimeKit.Utils;
using Tern.Spool.Queue;

namespace Tern.Spool.Tests;

/// <summary>
/// The notices (DSNs, RFC 3464) an attempt queues to the sender: failure, delay and relayed, at
/// most one of each per attempt, each parsed back with MimeKit.
/// </summary>
public sealed class NoticeTests : SpoolFixture
{
    private const string Rejected =
        "550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n" +
        "550-5.1.1 double-checking the recipient's email address for typos or\r\n" +
        "550 5.1.1  unnecessary spaces. Learn more at https://support.example.net/?p=NoSuchUser";

    private const string Greylisted =
        "451-4.7.1 Greylisting in action, please come\r\n" +
        "451-4.7.1 back later (see https://greylisting.example/)\r\n" +
        "451 4.7.1 Try again in 5 minutes";

    private const string Accepted = "250-2.6.0 <lunch.42@example.org> queued as 4XYZ\r\n250 2.6.0 relayed onward without DSN";

    private const string Body = "From: Alice <alice@example.org>\r\nSubject: Lunch\r\nMessage-ID: <lunch.42@example.org>\r\n\r\nSecret body text.\r\n";

    private static readonly IPAddress MxAddress = IPAddress.Parse("198.51.100.25");

    /// <summary>The notices in the queue (queued by the spool from the null sender), each parsed.</summary>
    private static async Task<List<(QueueEntry Entry, MimeMessage Message)>> NoticesIn(Spool spool)
    {
        await spool.CaughtUpAsync();
        var found = new List<(QueueEntry, MimeMessage)>();
        foreach (var e in spool.Queue.List(new QueueFilter { Sender = "<>", Limit = 1000 }).Entries.Where(e => e.Envelope.Listener == "dsn"))
        {
            var body = (await spool.ReadAsync(e.Id))!.Body;
            using var stream = new MemoryStream(body);
            found.Add((e, await MimeMessage.LoadAsync(stream)));
        }

        return found;
    }

    private static MultipartReport Report(MimeMessage m) => Assert.IsType<MultipartReport>(m.Body);

    /// <summary>The per-recipient groups (the first group of the report is per-message).</summary>
    private static List<HeaderList> Recipients(MimeMessage m) => [.. Assert.IsType<MessageDeliveryStatus>(Report(m)[1]).StatusGroups.Skip(1)];

    private static string Text(MimeMessage m) => Assert.IsType<TextPart>(Report(m)[0]).Text.ReplaceLineEndings("\r\n");

    private static HeaderList For(MimeMessage m, string address) =>
        Assert.Single(Recipients(m), g => g["Final-Recipient"] == "rfc822; " + address);

    private static void AllLinesIn(MimeMessage m, HeaderList group, string reply)
    {
        var lines = reply.Split("\r\n");

        // Diagnostic-Code: each line folded onto its own line; unfolded, joined by one space.
        Assert.Equal("smtp; " + string.Join(" ", lines), group["Diagnostic-Code"]);

        // The human-readable part: every line verbatim.
        Assert.Contains(string.Concat(lines.Select(l => "    " + l + "\r\n")), Text(m), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_permanent_failure_reports_the_remote_MTA_status_and_every_reply_line()
    {
        await using var spool = Open();
        var id = await Store(spool, "alice@example.org", [("bob@example.net", StoredNotify.Failure), ("carol@example.net", StoredNotify.Unspecified), ("dave@example.net", StoredNotify.Success)], Body, ret: 1, envId: "ENV1");
        var attempted = Clock.GetUtcNow();
        await spool.RecordAttemptAsync(
            id,
            [
                new AttemptOutcome(0, RecipientStatus.Failed, Rejected) { RemoteMta = "mx1.example.net", RemoteAddress = MxAddress },
                new AttemptOutcome(1, RecipientStatus.Failed, "550 mailbox unavailable") { RemoteMta = "mx1.example.net", RemoteAddress = MxAddress },
                new AttemptOutcome(2, RecipientStatus.Failed, "550 5.1.1 no"),
            ],
            attempted + TimeSpan.FromMinutes(5));

        var (notice, dsn) = Assert.Single(await NoticesIn(spool));
        Assert.Equal("alice@example.org", Assert.Single(notice.Recipients).Address);
        Assert.Equal(StoredNotify.Never, notice.Recipients[0].Notify);
        Assert.Equal("Undelivered Mail Returned to Sender", dsn.Subject);
        Assert.Equal("MAILER-DAEMON@mta.example.org", Assert.IsType<MailboxAddress>(dsn.From.Single()).Address);
        Assert.Equal("alice@example.org", Assert.IsType<MailboxAddress>(dsn.To.Single()).Address);

        // bob (NOTIFY=FAILURE) and carol (no NOTIFY: failures by default); not dave (SUCCESS only).
        Assert.Equal(2, Recipients(dsn).Count);
        var bob = For(dsn, "bob@example.net");
        Assert.Equal("failed", bob["Action"]);
        Assert.Equal("5.1.1", bob["Status"]);
        Assert.Equal("dns; mx1.example.net (198.51.100.25)", bob["Remote-MTA"]);
        Assert.Equal("rfc822;bob@example.net", bob["Original-Recipient"]);
        Assert.True(DateUtils.TryParse(bob["Last-Attempt-Date"], out DateTimeOffset last));
        Assert.Equal(attempted.ToUnixTimeSeconds(), last.ToUnixTimeSeconds());
        Assert.Null(bob["Will-Retry-Until"]);
        AllLinesIn(dsn, bob, Rejected);
        Assert.Contains("mx1.example.net [198.51.100.25]", Text(dsn), StringComparison.Ordinal);
        Assert.Equal("5.0.0", For(dsn, "carol@example.net")["Status"]);

        // RET=FULL: a failure returns the whole message.
        Assert.True(Report(dsn)[2].ContentType.IsMimeType("message", "rfc822"));
        Assert.Contains("Secret body text.", Encoding.UTF8.GetString((await spool.ReadAsync(notice.Id))!.Body), StringComparison.Ordinal);
        Assert.Equal("ENV1", Assert.IsType<MessageDeliveryStatus>(Report(dsn)[1]).StatusGroups[0]["Original-Envelope-Id"]);
    }

    [Fact]
    public async Task A_failure_notice_about_a_requiretls_message_returns_only_its_headers_and_requires_tls_itself()
    {
        await using var spool = Open();
        var id = await Store(spool, "alice@example.org", [("bob@example.net", StoredNotify.Failure)], Body, ret: 1, requireTls: true);
        const string reply = "550 5.7.30 REQUIRETLS support required, mx.example.net has neither DANE nor an enforced MTA-STS policy";
        await spool.RecordAttemptAsync(id, [new AttemptOutcome(0, RecipientStatus.Failed, reply)], Clock.GetUtcNow());

        // RFC 8689 section 4.4: the notice travels with REQUIRETLS ...
        var (notice, dsn) = Assert.Single(await NoticesIn(spool));
        Assert.True(notice.Envelope.RequireTls);
        Assert.True(notice.RequiresTls);
        Assert.Equal("alice@example.org", Assert.Single(notice.Recipients).Address);

        // ... and returns the header section only, RET=FULL notwithstanding.
        var report = Report(dsn);
        Assert.Equal(3, report.Count);
        var returned = report[2];
        Assert.True(returned.ContentType.IsMimeType("text", "rfc822-headers"));
        var original = Assert.IsType<TextRfc822Headers>(returned).Message!;
        Assert.Equal("Lunch", original.Subject);
        Assert.Equal("lunch.42@example.org", original.MessageId);
        Assert.Empty((original.TextBody ?? string.Empty).Trim());
        var stored = Encoding.UTF8.GetString((await spool.ReadAsync(notice.Id))!.Body);
        Assert.DoesNotContain("Secret body text.", stored, StringComparison.Ordinal);

        var bob = For(dsn, "bob@example.net");
        Assert.Equal("failed", bob["Action"]);
        Assert.Equal("5.7.30", bob["Status"]);
        AllLinesIn(dsn, bob, reply);
    }

    [Fact]
    public async Task A_failure_notice_about_a_message_without_requiretls_keeps_ret_full_and_no_requiretls()
    {
        await using var spool = Open();
        var id = await Store(spool, "alice@example.org", [("bob@example.net", StoredNotify.Failure)], Body, ret: 1);
        await spool.RecordAttemptAsync(id, [new AttemptOutcome(0, RecipientStatus.Failed, "550 5.1.1 no such user")], Clock.GetUtcNow());

        var (notice, dsn) = Assert.Single(await NoticesIn(spool));
        Assert.False(notice.Envelope.RequireTls);
        Assert.True(Report(dsn)[2].ContentType.IsMimeType("message", "rfc822"));
        Assert.Contains("Secret body text.", Encoding.UTF8.GetString((await spool.ReadAsync(notice.Id))!.Body), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Greylisted, "4.7.1")]
    [InlineData("421 Service not available, try later", "4.4.7")]
    [InlineData("450 4.2.0 Mailbox busy", "4.2.0")]
    public async Task A_recipient_whose_retries_ran_out_fails_with_its_temporary_status_or_4_4_7(string reply, string status)
    {
        await using var spool = Open();
        var id = await Store(spool, "alice@example.org", [("bob@example.net", StoredNotify.Failure)], Body);
        await spool.RecordAttemptAsync(id, [new AttemptOutcome(0, RecipientStatus.Failed, reply) { RemoteMta = "mx1.example.net" }], Clock.GetUtcNow());

        var (_, dsn) = Assert.Single(await NoticesIn(spool));
        var bob = For(dsn, "bob@example.net");
        Assert.Equal("failed", bob["Action"]);
        Assert.Equal(status, bob["Status"]);
        Assert.Equal("dns; mx1.example.net", bob["Remote-MTA"]);
        AllLinesIn(dsn, bob, reply);
    }

    [Fact]
    public async Task A_delay_notice_goes_to_deferred_recipients_that_ask_for_it_when_the_caller_says_so()
    {
        await using var spool = Open();
        var id = await Store(
            spool,
            "alice@example.org",
            [("bob@example.net", StoredNotify.Delay | StoredNotify.Failure), ("carol@example.net", StoredNotify.Unspecified), ("dave@example.net", StoredNotify.Failure), ("erin@example.net", StoredNotify.Delay), ("frank@example.net", StoredNotify.Delay)],
            Body,
            ret: 1);
        var outcomes = new List<AttemptOutcome>
        {
            new(0, RecipientStatus.Deferred, Greylisted) { RemoteMta = "mx1.example.net", RemoteAddress = MxAddress },
            new(1, RecipientStatus.Deferred, "451 try later") { RemoteMta = "mx1.example.net", RemoteAddress = MxAddress },
            new(2, RecipientStatus.Deferred, Greylisted),
            new(3, RecipientStatus.Delivered, "250 2.0.0 ok"),
        };

        // Without notices.Delay: no delay notice.
        await spool.RecordAttemptAsync(id, outcomes, Clock.GetUtcNow() + TimeSpan.FromMinutes(5));
        Assert.Empty(await NoticesIn(spool));

        // With it (frank was not tried this time: still pending, not reported).
        var until = Clock.GetUtcNow() + TimeSpan.FromDays(5);
        var entry = await spool.RecordAttemptAsync(id, outcomes, Clock.GetUtcNow() + TimeSpan.FromMinutes(10), new AttemptNotices(true, until));
        Assert.Equal(MessageState.Queued, entry!.State);
        var (_, dsn) = Assert.Single(await NoticesIn(spool));
        Assert.Equal("Delayed Mail (still being retried)", dsn.Subject);
        Assert.Equal(["rfc822; bob@example.net", "rfc822; carol@example.net"], Recipients(dsn).Select(g => g["Final-Recipient"]));
        var bob = For(dsn, "bob@example.net");
        Assert.Equal("delayed", bob["Action"]);
        Assert.Equal("4.7.1", bob["Status"]);
        Assert.Equal("dns; mx1.example.net (198.51.100.25)", bob["Remote-MTA"]);
        Assert.True(DateUtils.TryParse(bob["Will-Retry-Until"], out DateTimeOffset retryUntil));
        Assert.Equal(until.ToUnixTimeSeconds(), retryUntil.ToUnixTimeSeconds());
        Assert.NotNull(bob["Last-Attempt-Date"]);
        AllLinesIn(dsn, bob, Greylisted);
        var carol = For(dsn, "carol@example.net");
        Assert.Equal("4.0.0", carol["Status"]);
        Assert.Equal("smtp; 451 try later", carol["Diagnostic-Code"]);
        Assert.Contains("Will retry until: ", Text(dsn), StringComparison.Ordinal);

        // Headers only, even with RET=FULL.
        Assert.True(Report(dsn)[2].ContentType.IsMimeType("text", "rfc822-headers"));
        Assert.DoesNotContain("Secret body text.", dsn.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_relayed_notice_goes_to_recipients_with_NOTIFY_SUCCESS_delivered_to_a_hop_without_DSN()
    {
        await using var spool = Open();
        var id = await Store(
            spool,
            "alice@example.org",
            [("bob@example.net", StoredNotify.Success | StoredNotify.Failure), ("carol@example.net", StoredNotify.Failure), ("dave@example.net", StoredNotify.Success), ("erin@example.net", StoredNotify.Unspecified)],
            Body,
            ret: 1);
        await spool.RecordAttemptAsync(
            id,
            [
                new AttemptOutcome(0, RecipientStatus.Delivered, Accepted) { RemoteMta = "mx1.example.net", RemoteAddress = MxAddress, Relayed = true },
                new AttemptOutcome(1, RecipientStatus.Delivered, "250 ok") { Relayed = true },
                new AttemptOutcome(2, RecipientStatus.Delivered, "250 ok") { Relayed = false },
                new AttemptOutcome(3, RecipientStatus.Delivered, "250 ok") { Relayed = true },
            ],
            Clock.GetUtcNow());

        // bob only: carol and erin did not ask for SUCCESS; dave's next hop supports DSN (it reports itself).
        var (_, dsn) = Assert.Single(await NoticesIn(spool));
        Assert.Equal("Successful Mail Delivery Report", dsn.Subject);
        var bob = Assert.Single(Recipients(dsn));
        Assert.Equal("rfc822; bob@example.net", bob["Final-Recipient"]);
        Assert.Equal("relayed", bob["Action"]);
        Assert.Equal("2.6.0", bob["Status"]);
        Assert.Equal("dns; mx1.example.net (198.51.100.25)", bob["Remote-MTA"]);
        Assert.Null(bob["Will-Retry-Until"]);
        AllLinesIn(dsn, bob, Accepted);
        Assert.Contains("<bob@example.net>: relayed", Text(dsn), StringComparison.Ordinal);
        Assert.True(Report(dsn)[2].ContentType.IsMimeType("text", "rfc822-headers"));
    }

    [Fact]
    public async Task One_attempt_queues_at_most_one_notice_of_each_kind()
    {
        await using var spool = Open();
        var id = await Store(
            spool,
            "alice@example.org",
            [("a@example.net", StoredNotify.Failure | StoredNotify.Delay | StoredNotify.Success), ("b@example.net", StoredNotify.Failure | StoredNotify.Delay | StoredNotify.Success), ("c@example.net", StoredNotify.Failure | StoredNotify.Delay | StoredNotify.Success), ("d@example.net", StoredNotify.Failure | StoredNotify.Delay | StoredNotify.Success), ("e@example.net", StoredNotify.Failure | StoredNotify.Delay | StoredNotify.Success), ("f@example.net", StoredNotify.Failure | StoredNotify.Delay | StoredNotify.Success)],
            Body);
        await spool.RecordAttemptAsync(
            id,
            [
                new AttemptOutcome(0, RecipientStatus.Failed, Rejected),
                new AttemptOutcome(1, RecipientStatus.Failed, "550 5.7.1 no"),
                new AttemptOutcome(2, RecipientStatus.Deferred, Greylisted),
                new AttemptOutcome(3, RecipientStatus.Deferred, Greylisted),
                new AttemptOutcome(4, RecipientStatus.Delivered, Accepted) { Relayed = true },
                new AttemptOutcome(5, RecipientStatus.Delivered, Accepted) { Relayed = true },
            ],
            Clock.GetUtcNow() + TimeSpan.FromMinutes(5),
            new AttemptNotices(true, Clock.GetUtcNow() + TimeSpan.FromDays(5)));

        var notices = (await NoticesIn(spool)).ToDictionary(n => n.Message.Subject ?? string.Empty, n => Recipients(n.Message).Select(g => (g["Final-Recipient"], g["Action"])).ToList());
        Assert.Equal(3, notices.Count);
        Assert.Equal([("rfc822; a@example.net", "failed"), ("rfc822; b@example.net", "failed")], notices["Undelivered Mail Returned to Sender"]);
        Assert.Equal([("rfc822; c@example.net", "delayed"), ("rfc822; d@example.net", "delayed")], notices["Delayed Mail (still being retried)"]);
        Assert.Equal([("rfc822; e@example.net", "relayed"), ("rfc822; f@example.net", "relayed")], notices["Successful Mail Delivery Report"]);
    }

    [Fact]
    public async Task No_notice_for_a_message_from_the_null_sender_nor_for_NOTIFY_NEVER()
    {
        await using var spool = Open();
        var all = StoredNotify.Failure | StoredNotify.Delay | StoredNotify.Success;
        var bounce = await Store(spool, "", [("a@example.net", all), ("b@example.net", all), ("c@example.net", all)], Body);
        var never = await Store(spool, "alice@example.org", [("a@example.net", StoredNotify.Never), ("b@example.net", StoredNotify.Never), ("c@example.net", StoredNotify.Never)], Body);
        foreach (var id in new[] { bounce, never })
        {
            var after = await spool.RecordAttemptAsync(
                id,
                [
                    new AttemptOutcome(0, RecipientStatus.Failed, Rejected),
                    new AttemptOutcome(1, RecipientStatus.Deferred, Greylisted),
                    new AttemptOutcome(2, RecipientStatus.Delivered, Accepted) { Relayed = true },
                ],
                Clock.GetUtcNow() + TimeSpan.FromMinutes(5),
                new AttemptNotices(true, Clock.GetUtcNow() + TimeSpan.FromDays(5)));
            Assert.Equal([RecipientStatus.Failed, RecipientStatus.Deferred, RecipientStatus.Delivered], after!.Recipients.Select(r => r.Status));
        }

        Assert.Empty(await NoticesIn(spool));
    }

    [Fact]
    public async Task Notices_carry_the_original_headers_while_checkpoints_truncate_the_log()
    {
        // The notice is built after the message retired: a checkpoint in between may truncate the log
        // past bodies no queued message needs, but not past one a notice is about to read.
        await using var spool = Open(o => o with { CheckpointBytes = long.MaxValue });
        var filler = new string('y', 30_000);
        for (var round = 0; round < 5; round++)
        {
            var id = await Store(spool, "alice@example.org", [("bob@example.net", StoredNotify.Failure)], Body + filler);
            var checkpoint = spool.CheckpointNowAsync();
            await spool.RecordAttemptAsync(id, [new AttemptOutcome(0, RecipientStatus.Failed, Rejected)], Clock.GetUtcNow());
            await checkpoint;
        }

        var notices = await NoticesIn(spool);
        Assert.Equal(5, notices.Count);
        Assert.All(notices, n => Assert.True(Report(n.Message)[2].ContentType.IsMimeType("text", "rfc822-headers")));
    }
}
