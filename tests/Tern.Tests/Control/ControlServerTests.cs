using System.Net.Sockets;
using System.Text;
using Tern.Cli;
using Tern.Control;
using Tern.Spool;
using Tern.Spool.Queue;

namespace Tern.Tests.Control;

/// <summary>
/// The control server on a real spool and a real unix socket, driven through the command line
/// exactly as an operator types it (in-process, so the exit codes and output are checked directly).
/// </summary>
public sealed class ControlServerTests() : ControlFixture("tern-control-")
{
    private async Task<MessageId> Store(string sender, string[] recipients, string subject, string? account = null, bool indexed = true)
    {
        using var w = Spool.Begin();
        w.Envelope.SetSender(Encoding.UTF8.GetBytes(sender));
        foreach (var r in recipients)
        {
            w.Envelope.AddRecipient(Encoding.UTF8.GetBytes(r), StoredNotify.Failure | StoredNotify.Delay, Encoding.UTF8.GetBytes("rfc822;" + r));
        }

        w.Envelope.SetEnvelopeId(Encoding.ASCII.GetBytes("ENV-" + subject));
        w.Envelope.SetClient("127.0.0.1"u8);
        w.Envelope.SetListener("relay"u8);
        if (account is not null)
        {
            w.Envelope.SetAuthenticatedUser(Encoding.UTF8.GetBytes(account));
        }

        w.Envelope.Tls = true;
        w.Envelope.RequireTls = true;
        w.Envelope.SmtpUtf8 = true;
        w.Envelope.Ret = 2;
        w.Write(Encoding.UTF8.GetBytes($"From: {sender}\r\nSubject: {subject}\r\n\r\nbody of {subject}\r\n"));
        Assert.True(await w.CommitAsync(CancellationToken.None));

        // The queue index follows the committed log a moment later (the spool's applier).
        if (indexed)
        {
            await Spool.CaughtUpAsync();
        }

        return w.Id;
    }

    /// <summary>Three messages: one from example.org, one from example.com with two recipients, one bounce.</summary>
    private async Task<(string A, string B, string C)> ThreeMessages()
    {
        // Ids are ordered by their millisecond; messages of one millisecond have no defined order.
        var a = await Store("alice@example.org", ["bob@example.net"], "first");
        await Task.Delay(2);
        var b = await Store("carol@example.com", ["dave@example.org", "erin@example.net"], "second", account: "app");
        await Task.Delay(2);
        var c = await Store("", ["frank@example.net"], "third");
        return (a.ToString(), b.ToString(), c.ToString());
    }

    [Fact]
    public async Task List_shows_a_table_and_pages_with_a_printed_next_command()
    {
        var (a, b, c) = await ThreeMessages();

        var all = await Ok("queue", "list");
        var lines = all.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Matches(@"^ID\s+AGE\s+SIZE\s+ATT\s+NEXT\s+HELD\s+SENDER\s+RCPT\s+RECIPIENTS$", lines[0]);
        Assert.Matches($@"^{a}\s+\d+s\s+\d+B\s+0\s+now\s+-\s+alice@example.org\s+1\s+bob@example.net pending$", lines[1]);
        Assert.Matches($@"^{b}\s+.*carol@example.com\s+2\s+dave@example.org pending, \+1: 1 pending$", lines[2]);
        Assert.Matches($@"^{c}\s+.*\s<>\s+1\s+frank@example.net pending$", lines[3]);
        Assert.Equal("3 of 3 messages", lines[4]);
        Assert.Equal(5, lines.Length);

        var first = await Ok("queue", "list", "--limit", "2");
        Assert.Contains(a, first, StringComparison.Ordinal);
        Assert.Contains(b, first, StringComparison.Ordinal);
        Assert.DoesNotContain(c, first, StringComparison.Ordinal);
        Assert.Contains("2 of 3 messages", first, StringComparison.Ordinal);
        var next = first.Split('\n').Single(l => l.StartsWith("next page: ", StringComparison.Ordinal));
        Assert.Equal($"next page: tern queue list --config {ConfigPath} --limit 2 --after {b}", next);

        // The printed command, run as printed (its -c is already in it), gives the rest.
        var second = await OkAsPrinted(next["next page: ".Length..]);
        Assert.Contains(c, second, StringComparison.Ordinal);
        Assert.DoesNotContain(a, second, StringComparison.Ordinal);
        Assert.DoesNotContain("next page", second, StringComparison.Ordinal);
    }

    [Fact]
    public async Task List_filters_and_json()
    {
        var (a, b, c) = await ThreeMessages();

        Assert.Equal([b], Ids(await Ok("queue", "list", "--sender", "@example.com")));
        Assert.Equal([c], Ids(await Ok("queue", "list", "--sender", "<>")));
        Assert.Equal([a], Ids(await Ok("queue", "list", "--sender", "Alice@Example.org")));
        Assert.Equal([b], Ids(await Ok("queue", "list", "--recipient-domain", "example.org")));
        Assert.Equal([b], Ids(await Ok("queue", "list", "--account", "app")));
        Assert.Equal([a, b, c], Ids(await Ok("queue", "list", "--newer-than", "1h")));
        Assert.Empty(Ids(await Ok("queue", "list", "--older-than", "1h")));
        Assert.Equal([a, b, c], Ids(await Ok("queue", "list", "--due-before", "1m")));
        Assert.Empty(Ids(await Ok("queue", "list", "--due-after", "2099-01-01T00:00:00Z")));
        Assert.Equal([a, b, c], Ids(await Ok("queue", "list", "--transport", "")));
        Assert.Equal("0 of 0 messages\n", await Ok("queue", "list", "--held"));

        var json = await Ok("queue", "list", "--recipient-domain", "example.org", "--json");
        Assert.EndsWith("\n", json, StringComparison.Ordinal);
        var response = ControlJson.DecodeResponse(Encoding.UTF8.GetBytes(json.TrimEnd('\n')));
        Assert.True(response.Ok);
        Assert.Equal(1, response.Total);
        Assert.Null(response.Next);
        var entry = Assert.Single(response.Entries!);
        Assert.Equal(b, entry.Id);
        Assert.Equal("queued", entry.State);
        Assert.Equal("carol@example.com", entry.Envelope.Sender);
        Assert.Equal("app", entry.Envelope.Account);
        Assert.True(entry.Envelope.SmtpUtf8 && entry.Envelope.Tls && entry.Envelope.RequireTls);
        Assert.True(entry.RequiresTls);
        Assert.Equal("default", entry.RequireTlsPolicy);
        Assert.Equal("HDRS", entry.Envelope.Ret);
        Assert.Equal(["dave@example.org", "erin@example.net"], entry.Recipients.Select(r => r.Address));
        Assert.All(entry.Recipients, r => Assert.Equal("pending", r.Status));
        Assert.Equal("FAILURE,DELAY", entry.Recipients[0].Notify);
        Assert.Equal("rfc822;dave@example.org", entry.Recipients[0].OriginalRecipient);
        Assert.True(entry.Size > 0);
    }

    [Fact]
    public async Task Reads_wait_for_the_index_to_hold_every_message_answered_before_them()
    {
        // A message is answered 250 once durable; the applier indexes it a moment later. Here the applier
        // is held up (an observer that blocks, as a slow index would) while the second message becomes
        // durable: a listing, a status count and a show asked then must wait for it, not miss it.
        var first = await Store("alice@example.org", ["bob@example.net"], "first");
        using var release = new ManualResetEventSlim();
        var blocked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Spool.Observe(new BlockingObserver(release, blocked));
        try
        {
            var held = await Store("carol@example.com", ["dave@example.org"], "held up", indexed: false);
            await blocked.Task.WaitAsync(TimeSpan.FromSeconds(10));
            var second = await Store("erin@example.org", ["frank@example.net"], "second", indexed: false);

            var list = Raw("""{"op":"list","filter":{"limit":10}}""");
            var status = Raw("""{"op":"status"}""");
            var show = Raw($$"""{"op":"show","id":"{{second}}"}""");
            await Task.Delay(300);
            Assert.False(list.IsCompleted || status.IsCompleted || show.IsCompleted, "a read returned before the index held the message answered before it");

            release.Set();
            Assert.Equal(new[] { first, held, second }.Select(i => i.ToString()).Order(StringComparer.Ordinal), (await list).Entries!.Select(e => e.Id).Order(StringComparer.Ordinal));
            Assert.Equal(3, (await status).Counts!.Queued);
            Assert.Equal(second.ToString(), (await show).Message!.Id);
        }
        finally
        {
            Spool.StopObserving();
            release.Set();
        }
    }

    /// <summary>Blocks the applier in its first notification until released.</summary>
    private sealed class BlockingObserver(ManualResetEventSlim release, TaskCompletionSource blocked) : ISpoolObserver
    {
        public void EntryChanged(MessageId id, MessageState state, bool held, long nextAttemptUnixMs)
        {
            blocked.TrySetResult();
            release.Wait(TimeSpan.FromSeconds(30));
        }

        public void RulesChanged(bool paused)
        {
        }
    }

    [Fact]
    public async Task Show_prints_envelope_recipients_and_headers()
    {
        var (_, b, _) = await ThreeMessages();
        var output = await Ok("queue", "show", b);
        Assert.Matches($@"(?m)^id:\s+{b}$", output);
        Assert.Matches(@"(?m)^state:\s+queued$", output);
        Assert.Matches(@"(?m)^sender:\s+carol@example.com$", output);
        Assert.Matches(@"(?m)^envelope id:\s+ENV-second$", output);
        Assert.Matches(@"(?m)^account:\s+app$", output);
        Assert.Matches(@"(?m)^client:\s+127.0.0.1 on listener relay, TLS$", output);
        Assert.Matches(@"(?m)^flags:\s+SMTPUTF8 RET=HDRS REQUIRETLS$", output);
        Assert.Matches(@"(?m)^requiretls:\s+required \(policy default; REQUIRETLS on the envelope\)$", output);
        Assert.Matches(@"(?m)^held:\s+no$", output);
        Assert.Matches(@"(?m)^transport:\s+\(routes decide\)$", output);
        Assert.Contains("recipients (2):\n  dave@example.org  pending\n    notify FAILURE,DELAY, orcpt rfc822;dave@example.org\n  erin@example.net  pending\n", output, StringComparison.Ordinal);
        Assert.Contains("\nheaders:\nFrom: carol@example.com\nSubject: second\n", output, StringComparison.Ordinal);

        var json = await Ok("queue", "show", b.ToLowerInvariant(), "--json");
        var response = ControlJson.DecodeResponse(Encoding.UTF8.GetBytes(json.TrimEnd('\n')));
        Assert.Equal(b, response.Message!.Id);
        Assert.Contains("Subject: second", response.Headers, StringComparison.Ordinal);

        var unknown = MessageId.New(TimeProvider.System).ToString();
        var (code, _, error) = await Tern("queue", "show", unknown);
        Assert.Equal(ExitCodes.Failure, code);
        Assert.Equal($"tern: no message {unknown} in the queue or its history\n", error);

        (code, _, error) = await Tern("queue", "show", "nonsense");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("not a message id: nonsense", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Hold_release_retry_set_fail_and_drop()
    {
        var (a, b, c) = await ThreeMessages();

        Assert.Equal("1 message held\n", await Ok("queue", "hold", a));
        Assert.Equal([a], Ids(await Ok("queue", "list", "--held")));
        Assert.Equal([b, c], Ids(await Ok("queue", "list", "--not-held")));
        Assert.Matches(@"(?m)^held:\s+yes \(operator\)$", await Ok("queue", "show", a));
        Assert.Equal("1 message held\n", await Ok("queue", "hold", "--sender", "@example.com"));
        Assert.Equal("0 messages held\n", await Ok("queue", "hold", a, b));
        Assert.Equal("2 messages released\n", await Ok("queue", "release", "--all"));
        Assert.Empty(Ids(await Ok("queue", "list", "--held")));

        var before = Entry(b).NextAttempt;
        Assert.Equal("1 message rescheduled by 2h\n", await Ok("queue", "retry", b, "--shift", "2h"));
        Assert.Equal(before + TimeSpan.FromHours(2), Entry(b).NextAttempt);
        Assert.Equal([a, c], Ids(await Ok("queue", "list", "--due-before", "1m")));
        Assert.Equal("1 message rescheduled by -30m\n", await Ok("queue", "retry", b, "--shift", "-30m"));
        Assert.Equal(before + TimeSpan.FromMinutes(90), Entry(b).NextAttempt);
        Assert.Equal("1 message scheduled for an attempt now\n", await Ok("queue", "retry", "--recipient-domain", "example.org"));
        Assert.True(Entry(b).NextAttempt <= DateTimeOffset.UtcNow);

        Assert.Equal("transport smarthost set on 1 message\n", await Ok("queue", "set", "transport", "smarthost", a));
        Assert.Matches(@"(?m)^transport:\s+smarthost$", await Ok("queue", "show", a));
        Assert.Equal([a], Ids(await Ok("queue", "list", "--transport", "smarthost")));
        Assert.Equal("transport cleared on 1 message\n", await Ok("queue", "set", "transport", "--clear", a));
        Assert.Equal("transport smarthost set on 2 messages\n", await Ok("queue", "set", "transport", "smarthost", a, c));
        Assert.Equal("transport cleared on 2 messages\n", await Ok("queue", "set", "transport", "", "--transport", "smarthost"));
        Assert.Equal(string.Empty, Entry(a).Transport);
        var (code, _, error) = await Tern("queue", "set", "transport", "two words", a);
        Assert.Equal(ExitCodes.Failure, code);
        Assert.Contains("is not valid", error, StringComparison.Ordinal);

        Assert.Equal("REQUIRETLS policy no set on 1 message\n", await Ok("queue", "set", "requiretls", "no", a));
        Assert.Matches(@"(?m)^requiretls:\s+not required \(policy no; REQUIRETLS on the envelope\)$", await Ok("queue", "show", a));
        Assert.Equal(RequireTlsPolicy.No, Entry(a).RequireTlsPolicy);
        (code, _, error) = await Tern("queue", "set", "requiretls", "maybe", a);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("maybe", error, StringComparison.Ordinal);

        Assert.Equal("1 message failed\n", await Ok("queue", "fail", b, "--reason", "failed by the test"));
        Assert.Equal("1 message dropped\n", await Ok("queue", "drop", c));

        // Failing b queued its failure notice (DSN) to carol, from the null sender.
        var listed = Ids(await Ok("queue", "list"));
        Assert.Equal(2, listed.Length);
        Assert.Equal(a, listed[0]);
        Assert.Matches(@"(?m)^sender:\s+<>$", await Ok("queue", "show", listed[1]));
        Assert.Equal(1, await Spool.Queue.DropAsync(new QueueFilter { Ids = [MessageId.TryParse(listed[1], out var dsn) ? dsn : default] }));

        var history = await Ok("queue", "history");
        Assert.Matches(@"^ID\s+AGE\s+FINISHED\s+SIZE\s+ATT\s+SENDER\s+RCPT\s+RECIPIENTS\n", history);
        Assert.Matches($@"(?m)^{b}\s+.*\s+2\s+dave@example.org failed, \+1: 1 failed$", history);
        Assert.Matches($@"(?m)^{c}\s+.*\s+1\s+frank@example.net dropped$", history);
        Assert.Contains("3 of 3 messages", history, StringComparison.Ordinal);
        var shown = await Ok("queue", "show", b);
        Assert.Matches(@"(?m)^state:\s+retired$", shown);
        Assert.Matches(@"(?m)^finished:\s+\S+ \(\d+s ago\)$", shown);
        Assert.Contains("  dave@example.org  failed  last attempt ", shown, StringComparison.Ordinal);
        Assert.Contains("    | failed by the test\n", shown, StringComparison.Ordinal);
        Assert.EndsWith("\nheaders: (not kept once a message is retired)\n", shown, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Set_max_retries_round_trips_through_the_socket_and_shows()
    {
        var (a, b, c) = await ThreeMessages();

        Assert.Equal("max retries 3 set on 1 message\n", await Ok("queue", "set", "max-retries", "3", a));
        Assert.Equal(3, Entry(a).MaxRetries);
        Assert.Equal(0, Entry(b).MaxRetries);
        Assert.Matches(@"(?m)^max retries:\s+3 \(set for this message, instead of delivery.max_retries\)$", await Ok("queue", "show", a));
        Assert.DoesNotContain("max retries", await Ok("queue", "show", b), StringComparison.Ordinal);

        // The JSON carries it only when the message has its own limit.
        var json = await Ok("queue", "show", a, "--json");
        Assert.Contains("\"max_retries\":3", json, StringComparison.Ordinal);
        Assert.Equal(3, ControlJson.DecodeResponse(Encoding.UTF8.GetBytes(json.TrimEnd('\n'))).Message!.MaxRetries);
        json = await Ok("queue", "show", b, "--json");
        Assert.DoesNotContain("max_retries", json, StringComparison.Ordinal);
        Assert.Null(ControlJson.DecodeResponse(Encoding.UTF8.GetBytes(json.TrimEnd('\n'))).Message!.MaxRetries);

        // Messages that already have the limit do not count as changed; filters select as elsewhere.
        Assert.Equal("max retries 3 set on 1 message\n", await Ok("queue", "set", "max-retries", "3", a, c));
        Assert.Equal("max retries 100 set on 1 message\n", await Ok("queue", "set", "max-retries", "100", "--sender", "@example.com"));
        Assert.Equal(100, Entry(b).MaxRetries);
        Assert.Equal("max retries cleared on 3 messages (delivery.max_retries applies)\n", await Ok("queue", "set", "max-retries", "0", "--all"));
        Assert.All(new[] { a, b, c }, id => Assert.Equal(0, Entry(id).MaxRetries));
        Assert.DoesNotContain("max retries", await Ok("queue", "show", a), StringComparison.Ordinal);

        // Out of range or without a selection: refused before the server, and by the server.
        await Usage("max-retries: expected a whole number from 0 to 100 (0: the configured delivery.max_retries), got \"101\"", "queue", "set", "max-retries", "101", a);
        await Usage("give message ids, a filter (see --help) or --all", "queue", "set", "max-retries", "5");
        await Usage($"\"{a}\" is a message id, but the number of retries comes first", "queue", "set", "max-retries", a, "5");
        var r = await Raw($$"""{"op":"set-max-retries","filter":{"ids":["{{a}}"]},"max_retries":101}""");
        Assert.False(r.Ok);
        Assert.Equal("max_retries: expected 0 to 100 (0 restores the configured limit), got 101", r.Error);
        r = await Raw("""{"op":"set-max-retries","filter":{"all":true},"max_retries":-1}""");
        Assert.Equal("max_retries: expected 0 to 100 (0 restores the configured limit), got -1", r.Error);
        r = await Raw("""{"op":"set-max-retries","filter":{"all":true}}""");
        Assert.Equal("set-max-retries: max_retries is missing (0 to 100; 0 restores the configured limit)", r.Error);
        r = await Raw("""{"op":"set-max-retries","max_retries":4}""");
        Assert.Equal("set-max-retries: no ids and no filter; set \"all\" to select every message", r.Error);
        r = await Raw("""{"op":"set-max-retries","filter":{"all":true},"max_retries":"4"}""");
        Assert.StartsWith("malformed request: ", r.Error, StringComparison.Ordinal);
        Assert.All(new[] { a, b, c }, id => Assert.Equal(0, Entry(id).MaxRetries));

        r = await Raw($$"""{"op":"set-max-retries","filter":{"ids":["{{c}}"]},"max_retries":7}""");
        Assert.True(r.Ok);
        Assert.Equal(1, r.Count);
        Assert.Equal(7, Entry(c).MaxRetries);
        Assert.Equal(7, Assert.Single((await Raw($$$"""{"op":"list","filter":{"ids":["{{{c}}}"]}}""")).Entries!).MaxRetries);
    }

    [Fact]
    public async Task Hold_rules_pause_and_status()
    {
        var (_, b, _) = await ThreeMessages();

        Assert.Equal("no hold rules\n", await Ok("queue", "holdrule", "list"));
        var added = await Ok("queue", "holdrule", "add", "--sender-domain", "Example.COM");
        Assert.Matches(@"^hold rule \d+ added; 1 message held\n$", added);
        var rule = added.Split(' ')[2];
        Assert.Equal([b], Ids(await Ok("queue", "list", "--held")));
        Assert.Matches(@$"(?m)^held:\s+yes \(hold rule {rule}\)$", await Ok("queue", "show", b));
        var rules = await Ok("queue", "holdrule", "list");
        Assert.Matches(@"^ID\s+SENDER-DOMAIN\s+RECIPIENT-DOMAIN\s+ACCOUNT\n", rules);
        Assert.Matches(@$"(?m)^{rule}\s+example.com\s+\*\s+\*$", rules);

        Assert.Equal($"hold rule {rule} removed\n", await Ok("queue", "holdrule", "remove", rule));
        Assert.Equal("no hold rules\n", await Ok("queue", "holdrule", "list"));
        var (code, _, error) = await Tern("queue", "holdrule", "remove", rule);
        Assert.Equal(ExitCodes.Failure, code);
        Assert.Equal($"tern: no hold rule {rule}\n", error);

        (code, _, error) = await Tern("queue", "holdrule", "add");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("--all for a rule that holds everything", error, StringComparison.Ordinal);
        (code, _, error) = await Tern("queue", "holdrule", "add", "--recipient-domain", "a@b");
        Assert.Equal(ExitCodes.Failure, code);
        Assert.Contains("is not a domain", error, StringComparison.Ordinal);

        Assert.Equal("delivery paused\n", await Ok("queue", "pause"));
        Assert.True(Spool.Queue.Paused);
        var status = await Ok("queue", "status");
        Assert.Equal("delivery: paused\nqueued:   3 (1 held, 2 due now)\nhistory:  0 retired\n", status);
        Assert.Equal("delivery running\n", await Ok("queue", "resume"));
        Assert.False(Spool.Queue.Paused);
        Assert.StartsWith("delivery: running\n", await Ok("queue", "status"), StringComparison.Ordinal);
        var json = ControlJson.DecodeResponse(Encoding.UTF8.GetBytes((await Ok("queue", "status", "--json")).TrimEnd()));
        Assert.False(json.Paused);
        Assert.Equal(3, json.Counts!.Queued);
    }

    [Theory]
    [InlineData("hold")]
    [InlineData("release")]
    [InlineData("drop")]
    [InlineData("retry")]
    [InlineData("retry", "--shift", "1h")]
    [InlineData("fail", "--reason", "x")]
    [InlineData("set", "transport", "smarthost")]
    [InlineData("set", "transport", "--clear")]
    [InlineData("set", "requiretls", "yes")]
    public async Task An_operation_without_a_selection_is_refused(params string[] args)
    {
        await ThreeMessages();
        var (code, output, error) = await Tern(["queue", .. args]);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Empty(output);
        Assert.Contains("give message ids, a filter (see --help) or --all", error, StringComparison.Ordinal);

        // Nothing changed: every message is still queued, none held.
        var page = Spool.Queue.List(new QueueFilter());
        Assert.Equal(3, page.Total);
        Assert.All(page.Entries, e => Assert.False(e.Held));
    }

    [Fact]
    public async Task The_server_refuses_an_empty_selection_too()
    {
        await ThreeMessages();
        foreach (var op in new[] { "hold", "release", "retry", "fail", "drop", "set-transport", "set-requiretls" })
        {
            var response = await Raw(Encoding.UTF8.GetBytes($"{{\"op\":\"{op}\",\"filter\":{{\"limit\":5}},\"transport\":\"x\",\"require_tls\":\"yes\"}}\n"));
            Assert.False(response.Ok);
            Assert.Equal($"{op}: no ids and no filter; set \"all\" to select every message", response.Error);
        }

        Assert.Equal(3, Spool.Queue.List(new QueueFilter()).Total);
        var all = await Raw(Encoding.UTF8.GetBytes("{\"op\":\"hold\",\"filter\":{\"all\":true}}"));
        Assert.True(all.Ok);
        Assert.Equal(3, all.Count);
    }

    [Fact]
    public async Task Garbage_gets_an_error_response_and_the_server_keeps_serving()
    {
        var (a, _, _) = await ThreeMessages();

        Assert.StartsWith("malformed request: ", (await Raw("not json\n"u8.ToArray())).Error, StringComparison.Ordinal);
        Assert.StartsWith("malformed request: ", (await Raw("{\"op\":\"list\",\"filter\":{\"sendr\":\"x\"}}\n"u8.ToArray())).Error, StringComparison.Ordinal);
        Assert.Equal("empty request", (await Raw("\n"u8.ToArray())).Error);
        Assert.StartsWith("unknown op frobnicate; expected one of list, history, show,", (await Raw("{\"op\":\"frobnicate\"}\n"u8.ToArray())).Error, StringComparison.Ordinal);
        Assert.Equal("show: not a message id: x", (await Raw("{\"op\":\"show\",\"id\":\"x\"}\n"u8.ToArray())).Error);
        Assert.Equal("limit: expected 1 to 100000, got -1", (await Raw("{\"op\":\"list\",\"filter\":{\"limit\":-1}}\n"u8.ToArray())).Error);
        Assert.Equal("set-requiretls: expected yes, no or default, got always", (await Raw(Encoding.UTF8.GetBytes($"{{\"op\":\"set-requiretls\",\"require_tls\":\"always\",\"filter\":{{\"ids\":[\"{a}\"]}}}}\n"))).Error);
        Assert.Equal("holdrule-remove: rule_id is missing", (await Raw("{\"op\":\"holdrule-remove\"}\n"u8.ToArray())).Error);

        var huge = new byte[3 * 1024 * 1024];
        huge.AsSpan().Fill((byte)'x');
        Assert.StartsWith("request larger than 1048576 bytes", (await Raw(huge)).Error, StringComparison.Ordinal);

        // Binary junk, a connection closed without a request, and one that never finishes its request.
        Assert.False((await Raw([0xff, 0xfe, 0x00, 0x01, (byte)'\n'])).Ok);
        using (var idle = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            await idle.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath));
        }

        using (var slow = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            await slow.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath));
            await slow.SendAsync("{\"op\":"u8.ToArray());
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var closed = await slow.ReceiveAsync(new byte[100], wait.Token);
            Assert.Equal(0, closed);
        }

        // A request over several writes, ended by the client's half-close instead of a newline.
        using (var split = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            await split.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath));
            await split.SendAsync("{\"op\":"u8.ToArray());
            await Task.Delay(50);
            await split.SendAsync("\"status\"}"u8.ToArray());
            split.Shutdown(SocketShutdown.Send);
            var received = new MemoryStream();
            var buffer = new byte[4096];
            int n;
            while ((n = await split.ReceiveAsync(buffer)) > 0)
            {
                received.Write(buffer, 0, n);
            }

            var text = Encoding.UTF8.GetString(received.ToArray());
            Assert.EndsWith("\n", text, StringComparison.Ordinal);
            var response = ControlJson.DecodeResponse(Encoding.UTF8.GetBytes(text.TrimEnd('\n')));
            Assert.True(response.Ok);
            Assert.Equal(3, response.Counts!.Queued);
        }

        // Concurrent clients are all served.
        var many = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => Raw("{\"op\":\"list\",\"filter\":{\"limit\":1}}\n"u8.ToArray())));
        Assert.All(many, r => Assert.Equal(3, r.Total));

        Assert.Contains("3 of 3 messages", await Ok("queue", "list"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_command_lines_are_usage_errors()
    {
        await ThreeMessages();
        await Usage("--older-than: bad duration \"5x\": unknown unit 'x' (s, m, h or d)", "queue", "list", "--older-than", "5x");
        await Usage("--shift: bad duration \"1.5h\"", "queue", "retry", "--all", "--shift", "1.5h");
        await Usage("--due-before: expected an ISO 8601 time", "queue", "list", "--due-before", "tomorrow");
        await Usage("not a message id: 123", "queue", "hold", "123");
        await Usage("--after: not a message id: zzz", "queue", "list", "--after", "zzz");
        await Usage("--held and --not-held exclude each other", "queue", "list", "--held", "--not-held");
        await Usage("--held and --not-held exclude each other", "queue", "hold", "--held", "--not-held");
        await Usage("--clear takes no transport name, and \"smarthost\" is not a message id", "queue", "set", "transport", "--clear", "smarthost");
        await Usage("give a transport name, \"\" or --clear", "queue", "set", "transport");
        var id = MessageId.New(TimeProvider.System).ToString();
        await Usage($"\"{id}\" is a message id, but the transport name comes first", "queue", "set", "transport", id);
        Assert.Empty(Spool.Queue.List(new QueueFilter { Held = true }).Entries);
    }

    [Fact]
    public async Task Without_a_server_the_commands_exit_69()
    {
        await Server.DisposeAsync();
        Assert.False(File.Exists(SocketPath));
        var (code, output, error) = await Tern("queue", "list");
        Assert.Equal(ExitCodes.Unavailable, code);
        Assert.Empty(output);
        Assert.Equal($"tern is not running (no control socket at {SocketPath})\n", error);

        // A socket file nobody listens on (left by a crash) says the same, more precisely.
        StaleSocket();

        (code, _, error) = await Tern("queue", "hold", "--all");
        Assert.Equal(ExitCodes.Unavailable, code);
        Assert.Equal($"tern is not running (nothing listens on the control socket at {SocketPath})\n", error);

        var deep = Path.Combine(Dir, new string('d', 120), "control.sock");
        var e = await Assert.ThrowsAsync<ControlUnavailableException>(() => new ControlClient(deep).SendAsync(new ControlRequest { Op = ControlOps.Status }));
        Assert.Contains("is too long for a unix socket", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Socket_is_private_replaces_a_stale_one_and_is_removed_on_stop()
    {
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(SocketPath));
        await Server.DisposeAsync();
        Assert.False(File.Exists(SocketPath));

        StaleSocket();
        Assert.True(File.Exists(SocketPath));
        Server = NewServer(SocketPath);
        Server.Start();
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(SocketPath));
        Assert.StartsWith("delivery: running", await Ok("queue", "status"), StringComparison.Ordinal);

        var deep = Path.Combine(Dir, new string('d', 120), "control.sock");
        await using var tooLong = NewServer(deep);
        var e = Assert.Throws<ControlServerException>(tooLong.Start);
        Assert.Contains("the limit for a unix socket is 107; use a shorter data_dir", e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A socket file without a listener, as a crashed server leaves it. Bound under another name
    /// and renamed, because .NET unlinks the name a socket bound when the socket is disposed.
    /// </summary>
    private void StaleSocket()
    {
        var temporary = SocketPath + ".tmp";
        using var stale = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        stale.Bind(new UnixDomainSocketEndPoint(temporary));
        File.Move(temporary, SocketPath);
    }

    private QueueEntry Entry(string id)
    {
        Assert.True(ControlMapping.TryParseId(id, out var messageId));
        return Assert.Single(Spool.Queue.List(new QueueFilter { Ids = [messageId] }).Entries);
    }

    /// <summary>The ids in the first column of a table (in order).</summary>
    private static string[] Ids(string table) =>
        [.. table.Split('\n').Select(l => l.Split(' ')[0]).Where(w => w.Length == MessageId.TextLength && ControlMapping.TryParseId(w, out _))];
}
