using System.Text;
using System.Text.Json;
using Tern.Control;
using Tern.Spool;
using Tern.Spool.Queue;

namespace Tern.Tests.Control;

public sealed class ControlProtocolTests
{
    [Fact]
    public void Request_round_trips_every_field_as_one_snake_case_line()
    {
        var request = new ControlRequest
        {
            Op = ControlOps.Retry,
            Filter = new ControlFilter
            {
                Ids = ["01KB0000000000000000000000"],
                Sender = "<>",
                RecipientDomain = ".example.net",
                Account = "app",
                Held = false,
                OlderThanSeconds = 90,
                NewerThanSeconds = 86400,
                DueBefore = new DateTimeOffset(2026, 11, 28, 19, 0, 0, TimeSpan.Zero),
                DueAfter = new DateTimeOffset(2026, 11, 28, 18, 0, 0, TimeSpan.Zero),
                Transport = "",
                All = true,
                Limit = 50,
                After = "01KB0000000000000000000001",
            },
            Id = "01KB0000000000000000000002",
            ShiftSeconds = -1800,
            Transport = "relay:[smarthost]",
            RequireTls = "no",
            MaxRetries = 5,
            Reason = "line one\nline two",
            Rule = new ControlRuleSpec { SenderDomain = "example.com", RecipientDomain = ".example.net", Account = "app" },
            RuleId = 7,
        };

        var line = ControlJson.Encode(request);
        Assert.Equal((byte)'\n', line[^1]);
        Assert.DoesNotContain((byte)'\n', line[..^1]);
        var text = Encoding.UTF8.GetString(line);
        Assert.Contains("\"shift_seconds\":-1800", text, StringComparison.Ordinal);
        Assert.Contains("\"recipient_domain\":\".example.net\"", text, StringComparison.Ordinal);
        Assert.Contains("\"due_before\":\"2026-11-28T19:00:00+00:00\"", text, StringComparison.Ordinal);
        Assert.Contains("\"max_retries\":5", text, StringComparison.Ordinal);

        var back = ControlJson.DecodeRequest(line.AsSpan(0, line.Length - 1));
        Assert.Equal(text, Encoding.UTF8.GetString(ControlJson.Encode(back)));
        Assert.Equal("line one\nline two", back.Reason);
        Assert.Equal(-1800, back.ShiftSeconds);
        Assert.Equal(5, back.MaxRetries);
        Assert.False(back.Filter!.Held);
        Assert.Equal("", back.Filter.Transport);
        Assert.Equal(["01KB0000000000000000000000"], back.Filter.Ids);
    }

    [Fact]
    public void Response_round_trips_an_entry_with_a_multi_line_reply()
    {
        var entry = ControlMapping.ToEntry(new QueueEntry
        {
            Id = MessageId.New(TimeProvider.System),
            Received = new DateTimeOffset(2026, 11, 28, 19, 8, 48, TimeSpan.FromHours(1)),
            Held = true,
            HoldReason = "hold rule 3",
            BodyLength = 1234,
            Attempts = 2,
            MaxRetries = 12,
            NextAttempt = new DateTimeOffset(2026, 11, 28, 20, 0, 0, TimeSpan.Zero),
            Transport = "smarthost",
            RequireTlsPolicy = RequireTlsPolicy.No,
            Envelope = new SpoolEnvelope
            {
                Sender = "",
                Recipients = [new SpoolRecipient("bob@example.net", StoredNotify.Failure | StoredNotify.Delay, "rfc822;bob@example.net")],
                EnvelopeId = "ENV1",
                AuthenticatedUser = "app",
                SmtpUtf8 = true,
                RequireTls = true,
                EightBit = true,
                BodyType = 2,
                Ret = 2,
            },
            Recipients =
            [
                new RecipientState
                {
                    Address = "bob@example.net",
                    Notify = StoredNotify.Failure | StoredNotify.Delay,
                    OriginalRecipient = "rfc822;bob@example.net",
                    Status = RecipientStatus.Deferred,
                    LastAttempt = new DateTimeOffset(2026, 11, 28, 19, 30, 0, TimeSpan.Zero),
                    LastReply = "451-4.7.1 greylisted\r\n451 4.7.1 try again later",
                },
            ],
        });
        Assert.Equal("retired", ControlMapping.Name(MessageState.Retired));
        Assert.Equal("queued", entry.State);
        Assert.Equal("no", entry.RequireTlsPolicy);
        Assert.False(entry.RequiresTls);
        Assert.Equal("8BITMIME", entry.Envelope.Body);
        Assert.Equal("HDRS", entry.Envelope.Ret);
        Assert.Equal("FAILURE,DELAY", entry.Recipients[0].Notify);
        Assert.Equal("deferred", entry.Recipients[0].Status);
        Assert.Equal(TimeSpan.Zero, entry.Received.Offset);
        Assert.Equal(12, entry.MaxRetries);

        var response = new ControlResponse
        {
            Ok = true,
            Entries = [entry],
            Total = 1,
            Next = entry.Id,
            Message = entry,
            Headers = "Subject: hi\r\nFrom: a@example.org\r\n",
            Count = 1,
            HoldRules = [new ControlHoldRule { Id = 3, SenderDomain = "example.com" }],
            Paused = true,
            Counts = new ControlCounts { Queued = 4, Held = 1, Due = 2, Retired = 9 },
        };
        var line = ControlJson.Encode(response);
        Assert.DoesNotContain((byte)'\n', line[..^1]);
        var back = ControlJson.DecodeResponse(line.AsSpan(0, line.Length - 1));
        Assert.Equal(Encoding.UTF8.GetString(line), Encoding.UTF8.GetString(ControlJson.Encode(back)));
        Assert.Equal("451-4.7.1 greylisted\r\n451 4.7.1 try again later", back.Entries![0].Recipients[0].LastReply);
        Assert.Equal("app", back.Message!.Envelope.Account);
        Assert.Equal(9, back.Counts!.Retired);
        Assert.Equal(12, back.Message.MaxRetries);
    }

    [Fact]
    public void An_entry_without_its_own_retry_limit_leaves_it_out()
    {
        var entry = ControlMapping.ToEntry(new QueueEntry { Id = MessageId.New(TimeProvider.System), Received = DateTimeOffset.UnixEpoch, Envelope = new SpoolEnvelope { Sender = "", Recipients = [] }, Recipients = [] });
        Assert.Null(entry.MaxRetries);
        Assert.DoesNotContain("max_retries", Encoding.UTF8.GetString(ControlJson.Encode(new ControlResponse { Ok = true, Message = entry })), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(100)]
    public void Max_retries_from_0_to_100_are_accepted(int value)
    {
        Assert.Equal(value, ControlMapping.MaxRetries(value));
    }

    [Theory]
    [InlineData(-1, "max_retries: expected 0 to 100 (0 restores the configured limit), got -1")]
    [InlineData(101, "max_retries: expected 0 to 100 (0 restores the configured limit), got 101")]
    [InlineData(int.MaxValue, "max_retries: expected 0 to 100 (0 restores the configured limit), got 2147483647")]
    [InlineData(null, "set-max-retries: max_retries is missing (0 to 100; 0 restores the configured limit)")]
    public void Max_retries_out_of_range_or_missing_are_refused(int? value, string message)
    {
        Assert.Equal(message, Assert.Throws<ControlRequestException>(() => ControlMapping.MaxRetries(value)).Message);
    }

    [Fact]
    public void Set_max_retries_is_an_operation()
    {
        Assert.Contains(ControlOps.SetMaxRetries, ControlOps.All);
        Assert.Equal("set-max-retries", ControlOps.SetMaxRetries);
    }

    [Fact]
    public void Error_response_leaves_out_what_is_not_set()
    {
        var text = Encoding.UTF8.GetString(ControlJson.Encode(new ControlResponse { Ok = false, Error = "no message X" }));
        Assert.Equal("{\"ok\":false,\"error\":\"no message X\"}\n", text);
    }

    [Theory]
    [InlineData("{\"op\":\"hold\",\"filter\":{\"sendr\":\"a@example.org\"}}", "sendr")]
    [InlineData("{\"op\":\"hold\",\"bogus\":1}", "bogus")]
    [InlineData("{\"op\":\"holdrule-add\",\"rule\":{\"sender_domian\":\"example.com\"}}", "sender_domian")]
    [InlineData("{\"op\":\"list\",\"filter\":{\"limit\":\"10\"}}", "limit")]
    [InlineData("{\"op\":\"list\",}", "")]
    [InlineData("{\"op\":\"list\" /* c */}", "")]
    [InlineData("[1,2]", "")]
    [InlineData("null", "null")]
    public void Malformed_or_misspelt_requests_are_refused(string json, string mention)
    {
        var e = Assert.ThrowsAny<JsonException>(() => ControlJson.DecodeRequest(Encoding.UTF8.GetBytes(json)));
        Assert.Contains(mention, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Filter_conversion_checks_every_field()
    {
        var id = MessageId.New(TimeProvider.System);
        var filter = ControlMapping.ToQueueFilter(new ControlFilter
        {
            Ids = [id.ToString().ToLowerInvariant()],
            OlderThanSeconds = 90,
            Held = true,
            Limit = 5,
            After = id.ToString(),
        });
        Assert.Equal([id], filter.Ids);
        Assert.Equal(TimeSpan.FromSeconds(90), filter.OlderThan);
        Assert.Equal(5, filter.Limit);
        Assert.Equal(id, filter.After);
        Assert.False(filter.IsEmpty);
        Assert.Equal(100, ControlMapping.ToQueueFilter(null).Limit);
        Assert.True(ControlMapping.ToQueueFilter(null).IsEmpty);

        Assert.Contains("not a message id: nope", Refused(new ControlFilter { Ids = ["nope"] }), StringComparison.Ordinal);

        // The first digit carries 3 bits: "8..." would overflow into another message's id.
        Assert.Contains("not a message id", Refused(new ControlFilter { Ids = ["8" + id.ToString()[1..]] }), StringComparison.Ordinal);
        Assert.Contains("after: not a message id", Refused(new ControlFilter { After = "x" }), StringComparison.Ordinal);
        Assert.Contains("limit: expected 1 to 100000, got 0", Refused(new ControlFilter { Limit = 0 }), StringComparison.Ordinal);
        Assert.Contains("must not be negative", Refused(new ControlFilter { OlderThanSeconds = -1 }), StringComparison.Ordinal);
        Assert.Contains("expected a number of seconds", Refused(new ControlFilter { NewerThanSeconds = double.NaN }), StringComparison.Ordinal);
        Assert.Contains("use <> for the null sender", Refused(new ControlFilter { Sender = "" }), StringComparison.Ordinal);
        var longGarbage = new string('x', 100_000);
        Assert.True(Refused(new ControlFilter { Ids = [longGarbage] }).Length < 200);
    }

    private static string Refused(ControlFilter filter) =>
        Assert.Throws<ControlRequestException>(() => ControlMapping.ToQueueFilter(filter)).Message;
}
