using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MimeKit;
using Tern.Spool;

namespace Tern.Tests.Http;

public sealed partial class InjectionApiTests : InjectionFixture
{
    [Fact]
    public async Task Raw_message_is_stored_byte_for_byte_after_a_Received_header_and_the_Date_and_Message_ID_it_lacked()
    {
        const string Raw = "From: Alice <alice@example.org>\nTo: bob@example.net\nSubject: hello\n\nfirst line\n.leading dot\nlast line";
        var (status, json, _) = await PostAsync(new JsonObject { ["from"] = "alice@example.org", ["to"] = Array("bob@example.net"), ["raw"] = Raw }, AliceToken);

        Assert.True(status == HttpStatusCode.Accepted, json.ToJsonString());
        var id = json["id"]!.GetValue<string>();
        Assert.Equal("""[{"address":"bob@example.net","status":"accepted"}]""", json["recipients"]!.ToJsonString());

        var stored = await StoredAsync(json);
        Assert.Equal("alice@example.org", stored.Envelope.Sender);
        Assert.Equal(["bob@example.net"], stored.Envelope.Recipients.Select(r => r.Address));
        Assert.Equal("alice@example.org", stored.Envelope.AuthenticatedUser);
        Assert.Equal("http", stored.Envelope.Listener);
        Assert.Equal("127.0.0.1", stored.Envelope.Client);
        Assert.False(stored.Envelope.EightBit);
        Assert.False(stored.Envelope.SmtpUtf8);

        // The trace header as SMTP writes it (protocol HTTP, the client's address for want of a HELO),
        // then what RFC 6409 8 lets a submission server add, then the message with CRLF line ends.
        var text = Encoding.UTF8.GetString(stored.Body);
        var match = StoredRaw().Match(text);
        Assert.True(match.Success, text);
        Assert.Equal(id, match.Groups["id"].Value);
        Assert.Equal($"<{id}@mx.tern.test>", match.Groups["mid"].Value);
        Assert.Equal(Raw.Replace("\n", "\r\n", StringComparison.Ordinal) + "\r\n", match.Groups["message"].Value);

        var parsed = MimeMessage.Load(new MemoryStream(stored.Body));
        Assert.Equal("hello", parsed.Subject);
        Assert.Equal($"{id}@mx.tern.test", parsed.MessageId);
        Assert.Equal("first line\n.leading dot\nlast line\n", parsed.TextBody?.ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task Raw_message_with_its_own_Date_and_Message_ID_and_base64_content_is_kept_as_sent()
    {
        // Latin-1 bytes, not UTF-8: only raw_base64 can carry them.
        var raw = Encoding.Latin1.GetBytes("Date: Mon, 1 Dec 2026 10:00:00 +0100\r\nMessage-ID: <own@example.org>\r\nFrom: alice@example.org\r\nSubject: caf\u00e9\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nd\u00e9j\u00e0 vu\r\n");
        var (status, json, _) = await PostAsync(new JsonObject { ["from"] = "alice@example.org", ["to"] = Array("bob@example.net"), ["raw_base64"] = Convert.ToBase64String(raw) }, AliceToken);
        Assert.True(status == HttpStatusCode.Accepted, json.ToJsonString());

        var stored = await StoredAsync(json);
        var received = Encoding.ASCII.GetString(stored.Body).IndexOf("\r\nDate: ", StringComparison.Ordinal) + 2;
        Assert.Equal(raw, stored.Body[received..]);
        Assert.StartsWith("Received: ", Encoding.ASCII.GetString(stored.Body), StringComparison.Ordinal);
        Assert.True(stored.Envelope.EightBit);
        Assert.Equal((byte)Tern.Smtp.Protocol.BodyType.EightBitMime, stored.Envelope.BodyType);

        // 8-bit header text is RFC 6532 UTF-8 headers as far as delivery can tell: SMTPUTF8.
        Assert.True(stored.Envelope.SmtpUtf8);
    }

    [Fact]
    public async Task Structured_message_is_assembled_with_MIME_and_the_envelope_comes_from_its_headers()
    {
        var pdf = new byte[3000];
        new Random(7).NextBytes(pdf);
        var body = new JsonObject
        {
            ["notify"] = Array("failure", "delay"),
            ["ret"] = "headers",
            ["envid"] = "campaign 42+x",
            ["requiretls"] = true,
            ["message"] = new JsonObject
            {
                ["from"] = "Alice Émile <alice@example.org>",
                ["to"] = Array("Bob <bob@example.net>"),
                ["cc"] = Array("carol@example.com, bob@example.net"),
                ["bcc"] = Array("dave@example.com"),
                ["reply_to"] = Array("replies@example.org"),
                ["subject"] = "Grüße, ünïcödé",
                ["text"] = "Hällo\nwörld",
                ["html"] = "<p>Hällo <img src=\"cid:logo\"></p>",
                ["headers"] = new JsonObject { ["X-Campaign"] = "42", ["List-Unsubscribe"] = "<mailto:unsub@example.org>" },
                ["attachments"] = new JsonArray(
                    new JsonObject { ["filename"] = "report.pdf", ["content_type"] = "application/pdf", ["content_base64"] = Convert.ToBase64String(pdf) },
                    new JsonObject { ["filename"] = "logo.png", ["content_type"] = "image/png", ["content_base64"] = Convert.ToBase64String([1, 2, 3]), ["content_id"] = "logo" }),
            },
        };

        var (status, json, _) = await PostAsync(body, AliceToken);
        Assert.True(status == HttpStatusCode.Accepted, json.ToJsonString());
        var id = json["id"]!.GetValue<string>();
        Assert.Equal(
            ["bob@example.net", "carol@example.com", "dave@example.com"],
            json["recipients"]!.AsArray().Select(r => r!["address"]!.GetValue<string>()));

        var stored = await StoredAsync(json);
        var e = stored.Envelope;
        Assert.Equal("alice@example.org", e.Sender);
        Assert.Equal(["bob@example.net", "carol@example.com", "dave@example.com"], e.Recipients.Select(r => r.Address));
        Assert.All(e.Recipients, r => Assert.Equal(StoredNotify.Failure | StoredNotify.Delay, r.Notify));
        Assert.Equal((byte)Tern.Smtp.Protocol.DsnReturn.Headers, e.Ret);
        Assert.Equal("campaign+2042+2Bx", e.EnvelopeId);
        Assert.True(e.RequireTls);

        // Bodies are 7-bit encoded: no 8BITMIME or SMTPUTF8 needed.
        Assert.False(e.EightBit);
        Assert.False(e.SmtpUtf8);
        Assert.DoesNotContain(stored.Body, b => b >= 0x80);
        Assert.Equal(-1, Encoding.ASCII.GetString(stored.Body).Replace("\r\n", string.Empty, StringComparison.Ordinal).IndexOfAny(['\r', '\n']));

        var text = Encoding.ASCII.GetString(stored.Body);
        Assert.StartsWith($"Received: from [127.0.0.1]\r\n\tby mx.tern.test (Tern) with HTTP (requiretls) id {id}; ", text, StringComparison.Ordinal);

        var m = MimeMessage.Load(new MemoryStream(stored.Body));
        Assert.Equal("Alice Émile", m.From.Mailboxes.Single().Name);
        Assert.Equal(["bob@example.net"], m.To.Mailboxes.Select(a => a.Address));
        Assert.Equal(["carol@example.com", "bob@example.net"], m.Cc.Mailboxes.Select(a => a.Address));
        Assert.Empty(m.Bcc);
        Assert.False(m.Headers.Contains(HeaderId.Bcc));
        Assert.DoesNotContain("dave@example.com", text, StringComparison.Ordinal);
        Assert.Equal(["replies@example.org"], m.ReplyTo.Mailboxes.Select(a => a.Address));
        Assert.Equal("Grüße, ünïcödé", m.Subject);
        Assert.Equal("42", m.Headers["X-Campaign"]);
        Assert.Equal("<mailto:unsub@example.org>", m.Headers["List-Unsubscribe"]);
        Assert.Equal($"{id}@mx.tern.test", m.MessageId);
        Assert.True(DateTimeOffset.UtcNow - m.Date < TimeSpan.FromMinutes(1));
        Assert.Equal("Hällo\r\nwörld", m.TextBody?.TrimEnd().ReplaceLineEndings("\r\n"));
        Assert.Contains("cid:logo", m.HtmlBody, StringComparison.Ordinal);

        var report = m.Attachments.OfType<MimePart>().Single(a => a.FileName == "report.pdf");
        Assert.Equal("application/pdf", report.ContentType.MimeType);
        using var content = new MemoryStream();
        await report.Content!.DecodeToAsync(content);
        Assert.Equal(pdf, content.ToArray());

        var logo = m.BodyParts.OfType<MimePart>().Single(p => p.ContentId == "logo");
        Assert.Equal("image/png", logo.ContentType.MimeType);
    }

    [Fact]
    public async Task Explicit_envelope_overrides_the_message_headers()
    {
        var (status, json, _) = await PostAsync(
            new JsonObject
            {
                ["from"] = "alice@example.org",
                ["to"] = Array("list@example.net"),
                ["message"] = new JsonObject { ["from"] = "Alice <alice@example.org>", ["to"] = Array("Team <team@example.net>"), ["subject"] = "s", ["text"] = "t" },
            },
            AliceToken);
        Assert.True(status == HttpStatusCode.Accepted, json.ToJsonString());
        var stored = await StoredAsync(json);
        Assert.Equal(["list@example.net"], stored.Envelope.Recipients.Select(r => r.Address));
        Assert.Contains("for <list@example.net>", Encoding.ASCII.GetString(stored.Body), StringComparison.Ordinal);
        Assert.Equal("team@example.net", MimeMessage.Load(new MemoryStream(stored.Body)).To.Mailboxes.Single().Address);
    }

    [Fact]
    public async Task Requests_without_a_good_token_are_refused_and_revoked_or_replaced_tokens_stop_working()
    {
        var message = new JsonObject { ["from"] = "alice@example.org", ["to"] = Array("bob@example.net"), ["raw"] = "Subject: x\n\nx\n" };

        var missing = await PostAsync(message.DeepClone(), token: null);
        AssertError(HttpStatusCode.Unauthorized, "unauthorized", missing);
        Assert.Equal("Bearer realm=\"tern\"", missing.Response.Headers.WwwAuthenticate.ToString());

        var wrong = await PostAsync(message.DeepClone(), AliceToken[..^1] + (AliceToken[^1] == 'A' ? 'B' : 'A'));
        AssertError(HttpStatusCode.Unauthorized, "unauthorized", wrong);
        Assert.Equal("Bearer realm=\"tern\", error=\"invalid_token\"", wrong.Response.Headers.WwwAuthenticate.ToString());

        using (var basic = new HttpRequestMessage(HttpMethod.Post, "/api/v1/messages") { Content = new StringContent(message.ToJsonString(), Encoding.UTF8, "application/json") })
        {
            basic.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic", Convert.ToBase64String("alice@example.org:x"u8.ToArray()));
            Assert.Equal(HttpStatusCode.Unauthorized, (await Client.SendAsync(basic)).StatusCode);
        }

        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(message.DeepClone(), AliceToken)).Status);

        // A new token replaces the old one; the running server sees it at the next request.
        var second = await NewTokenAsync("alice@example.org");
        AssertError(HttpStatusCode.Unauthorized, "unauthorized", await PostAsync(message.DeepClone(), AliceToken));
        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(message.DeepClone(), second)).Status);

        Assert.Contains("token of alice@example.org revoked", await Ok("account", "token", "alice@example.org", "--revoke"), StringComparison.Ordinal);
        AssertError(HttpStatusCode.Unauthorized, "unauthorized", await PostAsync(message.DeepClone(), second));

        // Removing an account removes its token too.
        var third = await NewTokenAsync("alice@example.org");
        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(message.DeepClone(), third)).Status);
        Assert.Contains("token of alice@example.org revoked", await Ok("account", "remove", "alice@example.org"), StringComparison.Ordinal);
        AssertError(HttpStatusCode.Unauthorized, "unauthorized", await PostAsync(message.DeepClone(), third));
        Assert.Equal(3, await QueuedAsync());
    }

    [Fact]
    public async Task Malformed_requests_get_a_JSON_error_with_a_stable_code()
    {
        AssertError(HttpStatusCode.UnsupportedMediaType, "unsupported_media_type", await PostRawAsync("{}", AliceToken, "text/plain"));
        AssertError(HttpStatusCode.UnsupportedMediaType, "unsupported_media_type", await PostRawAsync("{}", AliceToken, "application/json; charset=iso-8859-1"));

        var bad = await PostRawAsync("{\"from\": \"alice@example.org\", \"to\": [", AliceToken);
        AssertError(HttpStatusCode.BadRequest, "bad_json", bad);

        var wrongType = await PostRawAsync("{\"from\": \"alice@example.org\", \"to\": \"bob@example.net\", \"raw\": \"x\"}", AliceToken);
        AssertError(HttpStatusCode.BadRequest, "bad_json", wrongType);
        Assert.Contains("$.to", wrongType.Json["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);

        var unknown = await PostRawAsync("{\"from\": \"alice@example.org\", \"to\": [\"bob@example.net\"], \"raw\": \"S: x\\n\\nx\", \"subjet\": \"typo\"}", AliceToken);
        AssertError(HttpStatusCode.BadRequest, "unknown_member", unknown);
        Assert.Contains("\"subjet\"", unknown.Json["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);

        var nestedUnknown = await PostRawAsync("{\"message\": {\"from\": \"alice@example.org\", \"body\": \"x\"}}", AliceToken);
        AssertError(HttpStatusCode.BadRequest, "unknown_member", nestedUnknown);

        var duplicate = await PostRawAsync("{\"from\": \"alice@example.org\", \"from\": \"mallory@example.org\", \"to\": [\"bob@example.net\"], \"raw\": \"S: x\\n\\nx\"}", AliceToken);
        AssertError(HttpStatusCode.BadRequest, "bad_json", duplicate);

        AssertError(HttpStatusCode.BadRequest, "invalid_request", await PostRawAsync("null", AliceToken));
        AssertError(HttpStatusCode.BadRequest, "invalid_request", await PostAsync(new JsonObject { ["from"] = "alice@example.org", ["to"] = Array("b@example.net") }, AliceToken));
        AssertError(HttpStatusCode.BadRequest, "invalid_request", await PostAsync(
            new JsonObject { ["from"] = "alice@example.org", ["to"] = Array("b@example.net"), ["raw"] = "S: x\n\nx", ["message"] = new JsonObject { ["from"] = "alice@example.org", ["text"] = "x" } },
            AliceToken));
        AssertError(HttpStatusCode.BadRequest, "invalid_request", await PostAsync(new JsonObject { ["to"] = Array("b@example.net"), ["raw"] = "S: x\n\nx" }, AliceToken));
        AssertError(HttpStatusCode.BadRequest, "invalid_request", await PostAsync(new JsonObject { ["from"] = "alice@example.org", ["to"] = Array("b@example.net"), ["raw_base64"] = "not base64!" }, AliceToken));
        AssertError(HttpStatusCode.BadRequest, "invalid_request", await PostAsync(new JsonObject { ["from"] = "alice@example.org", ["to"] = Array("b@example.net"), ["raw"] = "S: x\n\nx", ["notify"] = Array("never", "failure") }, AliceToken));
        AssertError(HttpStatusCode.BadRequest, "no_recipients", await PostAsync(new JsonObject { ["from"] = "alice@example.org", ["raw"] = "S: x\n\nx" }, AliceToken));
        AssertError(HttpStatusCode.BadRequest, "no_recipients", await PostAsync(new JsonObject { ["from"] = "alice@example.org", ["to"] = new JsonArray(), ["raw"] = "S: x\n\nx" }, AliceToken));
        AssertError(HttpStatusCode.BadRequest, "invalid_sender", await PostAsync(new JsonObject { ["from"] = "alice@", ["to"] = Array("b@example.net"), ["raw"] = "S: x\n\nx" }, AliceToken));

        // The content: bare CR, a body without headers, header injection in the structured form.
        AssertError(HttpStatusCode.BadRequest, "invalid_message", await PostAsync(new JsonObject { ["from"] = "alice@example.org", ["to"] = Array("b@example.net"), ["raw"] = "Subject: x\r\n\r\nsmuggled\r.\r" }, AliceToken));
        AssertError(HttpStatusCode.BadRequest, "invalid_message", await PostAsync(new JsonObject { ["from"] = "alice@example.org", ["to"] = Array("b@example.net"), ["raw"] = "just a body, no header" }, AliceToken));
        AssertError(HttpStatusCode.BadRequest, "invalid_message", await PostAsync(new JsonObject { ["from"] = "alice@example.org", ["to"] = Array("b@example.net"), ["raw"] = "\r\nSubject: in the body\r\n" }, AliceToken));
        AssertError(HttpStatusCode.BadRequest, "invalid_message", await PostAsync(
            new JsonObject { ["message"] = new JsonObject { ["from"] = "alice@example.org", ["to"] = Array("b@example.net"), ["subject"] = "x\r\nBcc: victim@example.com", ["text"] = "x" } },
            AliceToken));
        AssertError(HttpStatusCode.BadRequest, "invalid_message", await PostAsync(
            new JsonObject { ["message"] = new JsonObject { ["from"] = "alice@example.org", ["to"] = Array("b@example.net"), ["headers"] = new JsonObject { ["Content-Type"] = "text/html" }, ["text"] = "x" } },
            AliceToken));
        AssertError(HttpStatusCode.BadRequest, "invalid_message", await PostAsync(
            new JsonObject { ["message"] = new JsonObject { ["from"] = "alice@example.org", ["to"] = Array("b@example.net") } },
            AliceToken));
        AssertError(HttpStatusCode.BadRequest, "invalid_message", await PostAsync(
            new JsonObject { ["message"] = new JsonObject { ["from"] = "not an address", ["to"] = Array("b@example.net"), ["text"] = "x" } },
            AliceToken));

        Assert.Equal(0, await QueuedAsync());
    }

    [Fact]
    public async Task Size_and_recipient_limits_are_those_of_the_configuration()
    {
        // A request body over twice max_message_size (64 KiB) plus 64 KiB is not even read.
        var huge = await PostAsync(new JsonObject { ["from"] = "alice@example.org", ["to"] = Array("b@example.net"), ["raw"] = "Subject: x\n\n" + new string('x', 200_000) }, AliceToken);
        AssertError(HttpStatusCode.RequestEntityTooLarge, "body_too_large", huge);

        // A body within that, but a message over 64 KiB.
        var lines = string.Concat(Enumerable.Repeat(new string('y', 98) + "\n", 700));
        var big = await PostAsync(new JsonObject { ["from"] = "alice@example.org", ["to"] = Array("b@example.net"), ["raw"] = "Subject: x\n\n" + lines }, AliceToken);
        AssertError(HttpStatusCode.RequestEntityTooLarge, "message_too_large", big);
        Assert.Contains("65536", big.Json["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);

        // A line over [smtp] max_data_line (1000 with CRLF).
        var longLine = await PostAsync(new JsonObject { ["from"] = "alice@example.org", ["to"] = Array("b@example.net"), ["raw"] = "Subject: x\n\n" + new string('z', 999) + "\n" }, AliceToken);
        AssertError(HttpStatusCode.BadRequest, "invalid_message", longLine);

        var tooMany = await PostAsync(
            new JsonObject { ["from"] = "alice@example.org", ["to"] = Array([.. Enumerable.Range(0, 101).Select(i => $"r{i}@example.net")]), ["raw"] = "Subject: x\n\nx" },
            AliceToken);
        AssertError(HttpStatusCode.BadRequest, "too_many_recipients", tooMany);
        Assert.Contains("100", tooMany.Json["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);

        // 100 recipients are allowed, but 100 long addresses do not fit a queue entry of this spool
        // (32 KiB index pages): refused for good, as SMTP's 552 5.3.4 after DATA.
        var longAddresses = Enumerable.Range(0, 100).Select(i => $"{new string('l', 60)}{i:D3}@{new string('d', 60)}.{new string('e', 60)}.example").ToArray();
        var envelope = await PostAsync(new JsonObject { ["from"] = "alice@example.org", ["to"] = Array(longAddresses), ["raw"] = "Subject: x\n\nx" }, AliceToken);
        AssertError(HttpStatusCode.RequestEntityTooLarge, "envelope_too_large", envelope);

        var exactly = await PostAsync(
            new JsonObject { ["from"] = "alice@example.org", ["to"] = Array([.. Enumerable.Range(0, 100).Select(i => $"r{i}@example.net")]), ["raw"] = "Subject: x\n\nx" },
            AliceToken);
        Assert.Equal(HttpStatusCode.Accepted, exactly.Status);
        Assert.Equal(1, await QueuedAsync());
    }

    [Fact]
    public async Task Invalid_and_duplicate_recipients_are_rejected_one_by_one_while_the_others_are_accepted()
    {
        var (status, json, _) = await PostAsync(
            new JsonObject
            {
                ["from"] = "alice@example.org",
                ["to"] = Array("bob@example.net", "not an address", "BOB@example.net", "carol@[192.0.2.1]", "<dave@example.com>", "jöran@exämple.se"),
                ["raw"] = "Subject: x\n\nx",
            },
            AliceToken);
        Assert.True(status == HttpStatusCode.Accepted, json.ToJsonString());
        var results = json["recipients"]!.AsArray();
        Assert.Equal(["accepted", "rejected", "rejected", "accepted", "rejected", "accepted"], results.Select(r => r!["status"]!.GetValue<string>()));
        Assert.StartsWith("invalid address", results[1]!["reason"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("duplicate recipient", results[2]!["reason"]!.GetValue<string>());
        Assert.Null(results[0]!["reason"]);

        var stored = await StoredAsync(json);
        Assert.Equal(["bob@example.net", "carol@[192.0.2.1]", "jöran@exämple.se"], stored.Envelope.Recipients.Select(r => r.Address));
        Assert.True(stored.Envelope.SmtpUtf8);

        var none = await PostAsync(new JsonObject { ["from"] = "alice@example.org", ["to"] = Array("x", "@example.net"), ["raw"] = "Subject: x\n\nx" }, AliceToken);
        AssertError((HttpStatusCode)422, "no_valid_recipients", none);
        Assert.Equal(2, none.Json["recipients"]!.AsArray().Count);
        Assert.Equal(1, await QueuedAsync());
    }

    [Fact]
    public async Task Submission_policy_applies_the_account_sender_addresses_as_seen_at_each_request()
    {
        var raw = "Subject: x\n\nx";
        var other = await PostAsync(new JsonObject { ["from"] = "mallory@example.org", ["to"] = Array("b@example.net"), ["raw"] = raw }, AliceToken);
        AssertError((HttpStatusCode)422, "sender_not_allowed", other);
        Assert.Contains("alice@example.org", other.Json["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);

        // The null sender needs "*", as on submission.
        AssertError((HttpStatusCode)422, "sender_not_allowed", await PostAsync(new JsonObject { ["from"] = string.Empty, ["to"] = Array("b@example.net"), ["raw"] = raw }, AliceToken));

        // The structured form's From gives the envelope sender, and is held to the same rule.
        AssertError((HttpStatusCode)422, "sender_not_allowed", await PostAsync(
            new JsonObject { ["message"] = new JsonObject { ["from"] = "Boss <ceo@example.org>", ["to"] = Array("b@example.net"), ["text"] = "x" } },
            AliceToken));
        Assert.Equal(0, await QueuedAsync());

        // An operator widens the account; the running server sees it at the next request.
        await Ok("account", "addresses", "alice@example.org", "@example.org");
        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync(new JsonObject { ["from"] = "news@example.org", ["to"] = Array("b@example.net"), ["raw"] = raw }, AliceToken)).Status);

        await Ok("account", "add", "app", "--address", "*");
        var app = await NewTokenAsync("app");
        var bounce = await PostAsync(new JsonObject { ["from"] = string.Empty, ["to"] = Array("b@example.net"), ["raw"] = raw }, app);
        Assert.Equal(HttpStatusCode.Accepted, bounce.Status);
        var stored = await StoredAsync(bounce.Json);
        Assert.Equal(string.Empty, stored.Envelope.Sender);
        Assert.Equal("app", stored.Envelope.AuthenticatedUser);
    }

    [Fact]
    public async Task Token_command_stores_only_a_hash_in_a_private_file()
    {
        var tokens = Path.Combine(DataDir, "api-tokens.json");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(tokens));
        var file = await File.ReadAllTextAsync(tokens);
        Assert.DoesNotContain(AliceToken, file, StringComparison.Ordinal);
        var hash = Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(AliceToken)));
        Assert.Contains(hash, file, StringComparison.Ordinal);

        var (code, _, error) = await Cli.InProcessTern.RunAsync("account", "token", "nobody@example.org", "-c", ConfigPath);
        Assert.Equal(Tern.Cli.ExitCodes.Failure, code);
        Assert.Contains("no account nobody@example.org", error, StringComparison.Ordinal);

        (code, _, error) = await Cli.InProcessTern.RunAsync("account", "token", "nobody@example.org", "--revoke", "-c", ConfigPath);
        Assert.Equal(Tern.Cli.ExitCodes.Failure, code);
        Assert.Contains("has no token", error, StringComparison.Ordinal);

        var replaced = await Ok("account", "token", "alice@example.org");
        Assert.Contains("the previous token of alice@example.org no longer works", replaced, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Requiretls_is_recorded_from_loopback_and_other_methods_are_not_allowed()
    {
        var (status, json, _) = await PostAsync(new JsonObject { ["from"] = "alice@example.org", ["to"] = Array("b@example.net"), ["requiretls"] = true, ["raw"] = "Subject: x\n\nx" }, AliceToken);
        Assert.Equal(HttpStatusCode.Accepted, status);
        var stored = await StoredAsync(json);
        Assert.True(stored.Envelope.RequireTls);
        Assert.Contains(" with HTTP (requiretls) id ", Encoding.ASCII.GetString(stored.Body), StringComparison.Ordinal);

        var get = await Client.GetAsync("/api/v1/messages");
        Assert.Equal(HttpStatusCode.MethodNotAllowed, get.StatusCode);
        Assert.Equal("POST", string.Join(",", get.Content.Headers.Allow));
    }

    [GeneratedRegex(@"^Received: from \[127\.0\.0\.1\]\r\n\tby mx\.tern\.test \(Tern\) with HTTP id (?<id>[0-9A-Z]{26})\r\n\tfor <bob@example\.net>; \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d \+0000\r\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000\r\nMessage-ID: (?<mid><[^>]+>)\r\n(?<message>.*)\z", RegexOptions.Singleline)]
    private static partial Regex StoredRaw();
}
