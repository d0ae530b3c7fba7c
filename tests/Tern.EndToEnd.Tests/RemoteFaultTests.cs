using System.Globalization;
using System.Text.RegularExpressions;
using MimeKit;

namespace Tern.EndToEnd.Tests;

/// <summary>
/// Remote faults (issue #10): the published server relays to <c>tern-load sink</c>, which injects
/// seeded faults (4xx/5xx at MAIL, RCPT and the end of data, 421, disconnects after the content,
/// slow replies, STARTTLS that is closed before the handshake or aborted in the middle of it), with
/// a short retry schedule. The notices (DSNs) go to the sender's domain, routed to a second, fault-free
/// server that keeps them; each is parsed with MimeKit and checked. At the end every message is
/// either delivered (in the sink's ids) or bounced (a DSN names it), never both; the queue is empty;
/// the server's peak RSS stays bounded. <c>TERN_FAULT_MESSAGES</c> and <c>TERN_FAULT_SEED</c> make
/// the run longer or replay it.
/// </summary>
public sealed partial class RemoteFaultTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>
    /// The peak RSS allowed (VmHWM). Measured on this run (400 messages, ~430 delivery attempts, ~40
    /// connections, half of them with TLS): ~80 MiB, of which the runtime and the spool's preallocated
    /// index memory (16 MiB) are most; 3,000 messages: ~125 MiB; 10,000: ~172 MiB. 200 MiB leaves room
    /// for a busy machine's GC timing at the CI size while a per-connection or per-attempt leak (TLS
    /// contexts, sessions, retry state) of a few hundred KB would cross it.
    /// </summary>
    private const long MaxRssBytes = 200L * 1024 * 1024;

    [Fact]
    public async Task Every_message_ends_delivered_or_bounced_with_a_correct_dsn()
    {
        var messages = LoadSink.FromEnvironment("TERN_FAULT_MESSAGES", 400);
        var seed = LoadSink.FromEnvironment("TERN_FAULT_SEED", Random.Shared.Next(1, 1_000_000));
        output.WriteLine($"remote faults: {messages} messages, seed {seed} (TERN_FAULT_SEED={seed} replays the sink's faults)");
        using var dir = new TempDir();
        var delivered = Path.Combine(dir.Path, "delivered.ids");
        var (sink, sinkPort) = await LoadSink.StartAsync(dir.Path, "--ids", delivered, "--tls", "--seed", seed.ToString(CultureInfo.InvariantCulture),
            "--fail-mail", "0.03", "--fail-rcpt", "0.04", "--fail-data", "0.04", "--fail-code", "451,452,550,554",
            "--disconnect", "0.02", "--421", "0.02", "--tls-fail", "0.1", "--tls-abort", "0.1", "--delay-data", "20ms");
        await using var sinkProcess = sink;

        // A destination that always answers RCPT with 451 (greylisting that never ends): its mail expires.
        var (stuck, stuckPort) = await LoadSink.StartAsync(dir.Path, "--fail-rcpt", "1", "--fail-code", "451", "--seed", seed.ToString(CultureInfo.InvariantCulture));
        await using var stuckProcess = stuck;
        await using var bounces = MailCatcher.Start();

        var smtp = TestPorts.Free();
        var config = dir.File("tern.toml", $"""
            hostname = "relay.fault.test"
            data_dir = "data"
            [log]
            level = "warn"
            [http]
            listen = "127.0.0.1:{TestPorts.Free()}"
            {ConfigToml.LoopbackRelay(smtp)}
            [delivery]
            # Retries after 1, 2, 4 and 8 s, then a recipient still deferred fails ("expired"): all within ~20 s.
            first_retry = "1s"
            retry_jitter = 0
            max_retries = 4
            delay_notice_after = 0
            suspend_for = "0s"
            # The sink: opportunistic STARTTLS against its self-signed certificate (plaintext after a failed handshake).
            {ConfigToml.SmtpTransport("sink", sinkPort, "verify_tls = false")}
            {ConfigToml.SmtpTransport("stuck", stuckPort)}
            {ConfigToml.SmtpTransport("bounces", bounces.Port)}
            {ConfigToml.Route("sink", "example.test")}
            {ConfigToml.Route("stuck", "stuck.test")}
            {ConfigToml.Route("bounces", "dsn.test")}
            """);
        await using var tern = TernProcess.Start(dir.Path, "serve", "-c", config);
        Assert.True(await SmtpListener.WaitForGreetingAsync(smtp, TimeSpan.FromSeconds(30)), "tern does not listen:\n" + tern.Stderr);
        var relay = $"127.0.0.1:{smtp}";

        var sent = Path.Combine(dir.Path, "sent.ids");
        var send = await TernProcess.RunProgramAsync(TernProcess.LoadBinary, dir.Path, TimeSpan.FromSeconds(60 + (messages / 50)),
            "send", "--target", relay, "--sessions", "4", "--messages", messages.ToString(CultureInfo.InvariantCulture),
            "--size", "1k:80,20k:20", "--rcpt-domains", "example.test:19,stuck.test:1", "--from", "sender@dsn.test", "--ids", sent, "--fail-on-error");
        Assert.True(send.Code == 0, send.Stdout + send.Stderr);
        var sentIds = File.ReadLines(sent).Select(l => l.Split('\t')[0]).ToHashSet(StringComparer.Ordinal);
        Assert.Equal(messages, sentIds.Count);

        // Everything ends: delivered, or failed with a DSN that was itself delivered to the catcher.
        var drained = await QueueDrain.WaitForEmptyAsync(dir, config, TimeSpan.FromSeconds(90 + (messages / 50)));
        Assert.True(drained.Empty, $"the queue did not drain:\n{drained.Last}\n{LogTail.Of(tern.Stderr)}");
        var rss = ProcStatus.PeakRss(tern.Pid);
        await LoadSink.StopAsync(sink);
        output.WriteLine(sink.StdoutText);
        await LoadSink.StopAsync(stuck);

        var deliveredIds = File.ReadLines(delivered).Select(l => l.Split('\t')[0]).ToList();
        var bounced = new Dictionary<string, Bounce>(StringComparer.Ordinal);
        foreach (var mail in bounces.Messages)
        {
            var bounce = ParseDsn(mail);
            Assert.True(bounced.TryAdd(bounce.OriginalId, bounce), $"two DSNs for {bounce.OriginalId}");
        }

        var deliveredSet = deliveredIds.ToHashSet(StringComparer.Ordinal);
        var both = deliveredSet.Intersect(bounced.Keys).ToList();
        var neither = sentIds.Where(id => !deliveredSet.Contains(id) && !bounced.ContainsKey(id)).ToList();
        var permanent = bounced.Values.Count(b => b.Status.StartsWith('5'));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"fault figures: seed {seed}, sent {sentIds.Count}, delivered {deliveredSet.Count} (duplicates {deliveredIds.Count - deliveredSet.Count}), bounced {bounced.Count} ({permanent} by a 5xx, {bounced.Count - permanent} expired after 4xx), peak RSS {rss / (1024 * 1024)} MiB"));
        foreach (var group in bounced.Values.GroupBy(b => b.Status + " " + b.Diagnostic).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            output.WriteLine($"  {group.Count(),4} x {group.Key}");
        }

        Assert.True(neither.Count == 0, $"{neither.Count} messages neither delivered nor bounced, e.g. {string.Join(", ", neither.Take(5))}");
        Assert.True(both.Count == 0, $"{both.Count} messages delivered and bounced, e.g. {string.Join(", ", both.Take(5))}");
        Assert.All(bounced.Keys, id => Assert.Contains(id, sentIds));
        Assert.Equal(deliveredIds.Count, deliveredSet.Count);
        Assert.True(permanent > 0, "no 5xx was injected: the faults did not happen");
        Assert.True(bounced.Count > permanent, "no message expired");
        Assert.All(bounced.Values.Where(b => b.Recipient.EndsWith("@stuck.test", StringComparison.Ordinal)), b => Assert.StartsWith("4.", b.Status, StringComparison.Ordinal));
        Assert.Matches(@"failed\s+\d+\s+\(.*tls [1-9]", sink.StdoutText);
        Assert.True(rss is > 0 and < MaxRssBytes, $"peak RSS {rss} bytes");

        tern.Signal(TernProcess.SIGTERM);
        Assert.Equal(0, await tern.WaitForExitAsync(TimeSpan.FromSeconds(15)));
    }

    /// <summary>
    /// Parses one DSN and checks it (RFC 3464, RFC 6522): from &lt;&gt; to the original sender,
    /// multipart/report; report-type=delivery-status with a text part, a message/delivery-status part
    /// (Action failed, a status that matches the remote reply quoted in Diagnostic-Code) and the
    /// original headers with the original Message-ID.
    /// </summary>
    private static Bounce ParseDsn(MailCatcher.Mail mail)
    {
        Assert.Equal("<>", mail.From);
        Assert.Equal(["<sender@dsn.test>"], mail.To);
        using var stream = new MemoryStream(mail.Content);
        var message = MimeMessage.Load(stream);
        Assert.Equal("sender@dsn.test", message.To.Mailboxes.Single().Address);
        var report = Assert.IsType<MultipartReport>(message.Body);
        Assert.Equal("delivery-status", report.ReportType);
        Assert.True(report.Count >= 3, $"{report.Count} parts");
        var explanation = Assert.IsType<TextPart>(report[0]);
        var status = Assert.IsType<MessageDeliveryStatus>(report[1]);
        var headers = report[2];
        Assert.True(headers.ContentType.IsMimeType("text", "rfc822-headers") || headers.ContentType.IsMimeType("message", "rfc822"), headers.ContentType.MimeType);

        // The returned headers carry the original Message-ID (MimeKit reads text/rfc822-headers as a message part).
        var returned = Assert.IsAssignableFrom<MessagePart>(headers).Message;
        Assert.NotNull(returned);
        var originalId = returned.MessageId;
        Assert.Matches(@"^tern-load \d+ bytes$", returned.Subject);
        Assert.False(string.IsNullOrEmpty(originalId), "no Message-ID in the returned headers");

        Assert.Equal(2, status.StatusGroups.Count);
        Assert.Equal("dns; relay.fault.test", status.StatusGroups[0]["Reporting-MTA"]);
        var recipient = status.StatusGroups[1];
        Assert.Equal("failed", recipient["Action"]);
        var finalRecipient = Regex.Match(recipient["Final-Recipient"] ?? string.Empty, @"^rfc822; ?(u\d+@(example|stuck)\.test)$");
        Assert.True(finalRecipient.Success, recipient["Final-Recipient"]);
        var code = recipient["Status"] ?? string.Empty;
        Assert.Matches(@"^[45]\.\d{1,3}\.\d{1,3}$", code);
        var diagnostic = recipient["Diagnostic-Code"] ?? string.Empty;
        var reply = DiagnosticReply().Match(diagnostic);
        if (code.StartsWith('5'))
        {
            // A permanent refusal by the sink: the status is the reply's enhanced code, the reply is quoted.
            Assert.True(reply.Success, $"Diagnostic-Code \"{diagnostic}\" quotes no SMTP reply");
            Assert.Equal(code, reply.Groups[2].Value);
            Assert.StartsWith("5", reply.Groups[1].Value, StringComparison.Ordinal);
            Assert.Contains("injected failure (tern-load sink)", diagnostic, StringComparison.Ordinal);
            Assert.Contains($"{reply.Groups[1].Value} {code} injected failure (tern-load sink)", explanation.Text, StringComparison.Ordinal);
        }
        else if (finalRecipient.Groups[2].Value == "stuck")
        {
            // Retries ran out on the 451s: the last reply is quoted and its enhanced code is the status.
            Assert.True(reply.Success, $"Diagnostic-Code \"{diagnostic}\" quotes no SMTP reply");
            Assert.Equal("451", reply.Groups[1].Value);
            Assert.Equal(code, reply.Groups[2].Value);
            Assert.Contains("451 4.3.0 injected failure (tern-load sink)", explanation.Text, StringComparison.Ordinal);
        }

        return new Bounce(originalId!, finalRecipient.Groups[1].Value, code, reply.Success ? reply.Value : diagnostic);
    }

    [GeneratedRegex(@"smtp; ?(\d{3})[ -](\d\.\d{1,3}\.\d{1,3})")]
    private static partial Regex DiagnosticReply();

    private sealed record Bounce(string OriginalId, string Recipient, string Status, string Diagnostic);
}
