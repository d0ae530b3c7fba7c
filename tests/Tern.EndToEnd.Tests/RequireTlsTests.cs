using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Tern.EndToEnd.Tests;

/// <summary>
/// REQUIRETLS (RFC 8689) and "TLS-Required: No" through the published binary, between two Terns and
/// Postfix's smtp-sink with knot-signed DNS validated by unbound (<see cref="RequireTlsFixture"/>):
/// the server takes REQUIRETLS only over TLS; the sender delivers a REQUIRETLS message only under
/// DANE to a server announcing REQUIRETLS, else fails it with 5.7.30 and returns a notice (headers only,
/// itself sent with REQUIRETLS, read back with <c>tern queue cat</c>); a message
/// saying "TLS-Required: No" goes through a DANE mismatch that defers the same message without it.
/// </summary>
public sealed class RequireTlsTests(RequireTlsFixture world) : IClassFixture<RequireTlsFixture>
{
    [Fact]
    public async Task Requiretls_is_refused_without_tls_and_queued_with_it_after_starttls()
    {
        const string from = "plain-then-tls@sender.test";
        await using var smtp = await SmtpDialogue.ConnectAsync(world.ReceiverMx);
        Assert.StartsWith("220 ", smtp.Greeting, StringComparison.Ordinal);

        // RFC 8689 section 2: announced only once TLS is active, refused over plaintext.
        var ehlo = await smtp.CommandAsync("EHLO client.sender.test");
        Assert.StartsWith("250", ehlo, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^250[- ]STARTTLS\r?$", ehlo);
        Assert.DoesNotMatch(@"(?m)^250[- ]REQUIRETLS", ehlo);
        Assert.StartsWith("530 5.7.10 ", await smtp.CommandAsync($"MAIL FROM:<{from}> REQUIRETLS"), StringComparison.Ordinal);

        Assert.StartsWith("220 ", await smtp.CommandAsync("STARTTLS"), StringComparison.Ordinal);
        await smtp.HandshakeAsync(RequireTlsFixture.ReceiverHost);
        ehlo = await smtp.CommandAsync("EHLO client.sender.test");
        Assert.Matches(@"(?m)^250[- ]REQUIRETLS\r?$", ehlo);
        Assert.StartsWith("250 ", await smtp.CommandAsync($"MAIL FROM:<{from}> REQUIRETLS"), StringComparison.Ordinal);
        Assert.StartsWith("250 ", await smtp.CommandAsync("RCPT TO:<bob@secure.test>"), StringComparison.Ordinal);
        Assert.StartsWith("354 ", await smtp.CommandAsync("DATA"), StringComparison.Ordinal);
        var accepted = await smtp.CommandAsync(
            $"From: <{from}>\r\nTo: <bob@secure.test>\r\nSubject: REQUIRETLS after STARTTLS\r\nMessage-ID: <plain-then-tls@sender.test>\r\n\r\nOnly over TLS.\r\n.");
        Assert.StartsWith("250 ", accepted, StringComparison.Ordinal);
        Assert.StartsWith("221 ", await smtp.CommandAsync("QUIT"), StringComparison.Ordinal);

        // Queued (the receiver does not deliver) with REQUIRETLS on the envelope and in its Received field.
        var id = await AcceptedIdAsync(world.Receiver, from);
        var show = await QueueDrain.RunAsync(world.ReceiverDir, world.ReceiverConfig, "show", id);
        Assert.Matches(@"(?m)^requiretls:\s+required \(policy default; REQUIRETLS on the envelope\)$", show);
        Assert.Matches(@"(?m)^flags:\s+(\S+ )*REQUIRETLS( \S+)*$", show);
        Assert.Matches(@"(?m)^client:\s+\S+ on listener mx, TLS$", show);
        Assert.Matches(@"Received: from client\.sender\.test \(\[127\.0\.0\.\d+\]\)\s+by mx\.secure\.test \(Tern\) with ESMTPS\s+\(requiretls\)", show);
    }

    [Fact]
    public async Task A_requiretls_message_is_delivered_under_dane_to_the_server_announcing_requiretls()
    {
        const string from = "dane@sender.test";

        // What the receiver publishes is what `tern dane tlsa` prints for its certificate (the fixture computed the
        // record from the key itself).
        var (code, tlsa, stderr) = await TernProcess.RunAsync(world.ReceiverDir, "dane", "tlsa", RequireTlsFixture.ReceiverHost, "-c", world.ReceiverConfig);
        Assert.True(code == 0, stderr);
        Assert.Contains($"\n_25._tcp.{RequireTlsFixture.ReceiverHost}. IN TLSA 3 1 1 {world.ReceiverSpkiSha256}\n", tlsa, StringComparison.Ordinal);

        await SubmitAsync(from, "bob@secure.test", "REQUIRETLS under DANE", requireTls: true);
        var id = await AcceptedIdAsync(world.Sender, from);
        var delivery = await DeliveryAsync(world.Sender, id);
        Has(delivery, "rcpt=bob@secure.test");
        Has(delivery, $"host={RequireTlsFixture.ReceiverHost}");
        Has(delivery, "result=delivered");

        // The receiver took it with REQUIRETLS: on the envelope, and "(requiretls)" in the Received field it added.
        var received = await AcceptedIdAsync(world.Receiver, from);
        var show = await QueueDrain.RunAsync(world.ReceiverDir, world.ReceiverConfig, "show", received);
        Assert.Matches(@"(?m)^flags:\s+(\S+ )*REQUIRETLS( \S+)*$", show);
        Assert.Matches(@"(?m)^client:\s+\S+ on listener mx, TLS$", show);
        Assert.Matches(@"Received: from out\.sender\.test \(\[127\.0\.0\.\d+\]\)\s+by mx\.secure\.test \(Tern\) with ESMTPS\s+\(requiretls\)", show);

        // The sender remembers the domain as one that takes REQUIRETLS (STARTTLS, verified, REQUIRETLS, auto).
        Assert.Matches(@"(?m)^secure\.test\s+\S+\s+\S+\s+yes\s+yes\s+yes\s+yes$", await QueueDrain.RunAsync(world.SenderDir, world.SenderConfig, "domains"));
    }

    [Fact]
    public async Task A_requiretls_message_for_an_mx_without_dane_fails_with_5_7_30_and_the_sender_gets_a_notice()
    {
        const string from = "bounced@notices.secure.test";
        const string secret = "The body stays with the sender.";
        await SubmitAsync(from, "carol@plain.test", "REQUIRETLS without DANE", requireTls: true, text: secret);
        var id = await AcceptedIdAsync(world.Sender, from);

        // plain.test is unsigned: no DANE, no MTA-STS, so its only MX cannot take the message (RFC 8689 section 4.2.1): permanent.
        var delivery = await DeliveryAsync(world.Sender, id);
        Has(delivery, "rcpt=carol@plain.test");
        Has(delivery, "result=failed");
        var reply = Regex.Match(delivery, @"reply=""(5\d\d 5\.7\.30 [^""]*)""").Groups[1].Value;
        Assert.Equal("550 5.7.30 REQUIRETLS support required, mx.plain.test has neither DANE nor an enforced MTA-STS policy", reply);
        const string failed = @"(?m)bounced@notices\.secure\.test\s+.*carol@plain\.test failed";
        Assert.Matches(failed, await QueueDrain.MatchingAsync(world.SenderDir, world.SenderConfig, failed, "history"));

        // The failure notice travels with REQUIRETLS itself (RFC 8689 section 4.4): to the MX of the sender's
        // domain, the receiver, under DANE; it arrives there from the null reverse path with REQUIRETLS.
        var noticeId = await NoticeOnReceiverAsync(from);
        var show = await QueueDrain.RunAsync(world.ReceiverDir, world.ReceiverConfig, "show", noticeId);
        Assert.Matches(@"(?m)^flags:\s+(\S+ )*REQUIRETLS( \S+)*$", show);
        Assert.Matches(@"(?m)^client:\s+\S+ on listener mx, TLS$", show);
        Assert.Matches(@"Received: from out\.sender\.test \(\[127\.0\.0\.\d+\]\)\s+by mx\.secure\.test \(Tern\) with ESMTPS\s+\(requiretls\)", show);

        // The notice as the receiver stored it (tern queue cat): CRLF lines, a delivery report that returns
        // the headers only (section 4.4: RET=FULL is disregarded), never the body.
        var raw = await CatAsync(world.ReceiverDir, world.ReceiverConfig, noticeId);
        Assert.DoesNotMatch("[^\r]\n", Encoding.Latin1.GetString(raw));
        Assert.DoesNotContain(secret, Encoding.Latin1.GetString(raw), StringComparison.Ordinal);
        var notice = MimeMessage.Load(new MemoryStream(raw));
        Assert.Equal(from, Assert.Single(notice.To.Mailboxes).Address);
        var report = Assert.IsType<MultipartReport>(notice.Body);
        Assert.Equal("delivery-status", report.ReportType);
        var recipient = report.OfType<MessageDeliveryStatus>().Single().StatusGroups[1];
        Assert.Equal("failed", recipient["Action"]);
        Assert.Equal("5.7.30", recipient["Status"]);
        Assert.Equal("rfc822; carol@plain.test", recipient["Final-Recipient"]);
        Assert.Contains(reply, recipient["Diagnostic-Code"], StringComparison.Ordinal);
        Assert.Contains(reply, report.OfType<TextPart>().First().Text, StringComparison.Ordinal);
        var returned = Assert.IsType<TextRfc822Headers>(report[2]).Message!;
        Assert.Equal("REQUIRETLS without DANE", returned.Subject);
        Assert.Equal(from, Assert.Single(returned.From.Mailboxes).Address);
        Assert.Empty((returned.TextBody ?? string.Empty).Trim());

        // Nothing went to the MX without TLS.
        Assert.Empty(Directory.GetFiles(world.PlainDump));
    }

    [Fact]
    public async Task Tls_required_no_delivers_despite_a_dane_mismatch_that_defers_the_same_message_without_it()
    {
        const string relaxed = "relaxed@sender.test";
        const string strict = "strict@sender.test";
        await SubmitAsync(relaxed, "dave@mismatch.secure.test", "TLS-Required: No", requireTls: false, tlsRequiredNo: true);
        await SubmitAsync(strict, "dave@mismatch.secure.test", "DANE applies", requireTls: false);
        var relaxedId = await AcceptedIdAsync(world.Sender, relaxed);
        var strictId = await AcceptedIdAsync(world.Sender, strict);

        // The TLSA record of mx-mismatch pins another key: "TLS-Required: No" sets DANE aside (RFC 8689 section 5) ...
        var delivered = await DeliveryAsync(world.Sender, relaxedId);
        Has(delivered, $"host={RequireTlsFixture.MismatchHost}");
        Has(delivered, "result=delivered");
        // (over TLS still, only unverified: the header relaxes the policy, it does not turn TLS off).
        var received = await QueueDrain.RunAsync(world.ReceiverDir, world.ReceiverConfig, "show", await AcceptedIdAsync(world.Receiver, relaxed));
        Assert.Matches(@"(?m)^client:\s+\S+ on listener mx, TLS$", received);
        Assert.Matches(@"(?m)^TLS-Required: No$", received);

        // ... without it, the certificate is refused (RFC 7672 section 2.2: no fallback to plaintext) and the message waits.
        var deferred = await DeliveryAsync(world.Sender, strictId);
        Has(deferred, $"host={RequireTlsFixture.MismatchHost}");
        Has(deferred, "result=deferred");
        Assert.Matches(@"reply=""421 4\.7\.5 certificate not accepted: no DANE-EE record matches the server certificate""", deferred);
        // (The attempt is logged a moment before it is recorded.)
        const string waits = @"(?m)^  dave@mismatch\.secure\.test  deferred  last attempt ";
        var show = await QueueDrain.MatchingAsync(world.SenderDir, world.SenderConfig, waits, "show", strictId);
        Assert.Matches(@"(?m)^state:\s+queued$", show);
        Assert.Matches(waits, show);
        Assert.Matches(@"(?m)^    \| 421 4\.7\.5 certificate not accepted: ", show);
        Assert.DoesNotMatch($"from={Regex.Escape(strict)}", world.Receiver.Stderr);

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{world.SenderHttpPort}") };
        Assert.Matches(@"(?m)^tern_delivery_tls_required_no_total\{policy=""dane""\} 1$", await http.GetStringAsync("/metrics"));
    }

    private static void Has(string logLine, string part) => Assert.True(logLine.Contains(part, StringComparison.Ordinal), $"\"{part}\" not in {logLine}");

    /// <summary>Submits to the sender's relay listener over STARTTLS (MailKit; MAIL FROM ... REQUIRETLS when asked).</summary>
    private async Task SubmitAsync(string from, string to, string subject, bool requireTls, bool tlsRequiredNo = false, string? text = null)
    {
        using var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true, RequireTLS = requireTls };
        await client.ConnectAsync(world.SenderRelay.Address.ToString(), world.SenderRelay.Port, SecureSocketOptions.StartTls);
        Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.RequireTLS), "REQUIRETLS not announced after STARTTLS");
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(from));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = subject;
        if (tlsRequiredNo)
        {
            message.Headers.Add("TLS-Required", "No");
        }

        message.Body = new TextPart("plain") { Text = text ?? subject };
        await client.SendAsync(message);
        await client.DisconnectAsync(true);
    }

    /// <summary>The queue id of the message from <paramref name="from"/> (one per test), from the server's log.</summary>
    private static async Task<string> AcceptedIdAsync(TernProcess tern, string from) =>
        (await tern.WaitForLogAsync(new Regex($"m=\"message accepted\" c=smtp cid=\\S+ id=(\\S+) from={Regex.Escape(from)} "), TimeSpan.FromSeconds(10))).Groups[1].Value;

    /// <summary>The log line of the first delivery attempt of <paramref name="id"/>.</summary>
    private static async Task<string> DeliveryAsync(TernProcess tern, string id) =>
        (await tern.WaitForLogAsync(new Regex($"m=delivery c=delivery id={Regex.Escape(id)} .*"), TimeSpan.FromSeconds(10))).Value;

    /// <summary>The id of the notice (from the null sender) to <paramref name="recipient"/> in the receiver's queue, once it arrived.</summary>
    private async Task<string> NoticeOnReceiverAsync(string recipient)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var list = await QueueDrain.RunAsync(world.ReceiverDir, world.ReceiverConfig, "list", "--sender", "<>");
            var line = list.Split('\n').FirstOrDefault(l => l.EndsWith($" {recipient} pending", StringComparison.Ordinal));
            if (line is not null)
            {
                return line.Split(' ', 2)[0];
            }

            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(15), $"no notice to {recipient} in the receiver's queue:\n{list}\nsender log:\n{world.Sender.Stderr}");
            await Task.Delay(100);
        }
    }

    /// <summary>
    /// <c>tern queue cat</c>: its standard output as bytes (<see cref="TernProcess"/> reads output as lines of
    /// text, which would lose the CR of each CRLF).
    /// </summary>
    private static async Task<byte[]> CatAsync(string dir, string config, string id)
    {
        var psi = new ProcessStartInfo(TernProcess.Binary)
        {
            WorkingDirectory = dir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "queue", "cat", id, "--config", config })
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + TernProcess.Binary);
        using var output = new MemoryStream();
        var copy = process.StandardOutput.BaseStream.CopyToAsync(output);
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            throw;
        }

        await copy;
        Assert.True(process.ExitCode == 0, $"tern queue cat {id}: exit {process.ExitCode}\n{await error}");
        Assert.Empty(await error);
        return output.ToArray();
    }

    /// <summary>A hand-driven SMTP client: exact commands (MAIL ... REQUIRETLS over plaintext, which MailKit never sends) and the server's replies as they are.</summary>
    private sealed class SmtpDialogue : IAsyncDisposable
    {
        private readonly TcpClient _tcp;
        private Stream _stream;
        private StreamReader _reader;

        private SmtpDialogue(TcpClient tcp)
        {
            _tcp = tcp;
            _stream = tcp.GetStream();
            _reader = new StreamReader(_stream, Encoding.Latin1, false);
        }

        public string Greeting { get; private set; } = string.Empty;

        public static async Task<SmtpDialogue> ConnectAsync(IPEndPoint server)
        {
            var tcp = new TcpClient();
            await tcp.ConnectAsync(server);
            var d = new SmtpDialogue(tcp);
            d.Greeting = await d.ReplyAsync();
            return d;
        }

        /// <summary>Sends one command (or a DATA body ending in ".") and returns the whole reply, its lines joined by "\n".</summary>
        public async Task<string> CommandAsync(string line)
        {
            await _stream.WriteAsync(Encoding.Latin1.GetBytes(line + "\r\n"));
            await _stream.FlushAsync();
            return await ReplyAsync();
        }

        /// <summary>The TLS handshake after "220" to STARTTLS; whatever certificate (the test is about REQUIRETLS, not the certificate).</summary>
        public async Task HandshakeAsync(string host)
        {
            var ssl = new SslStream(_tcp.GetStream(), false, (_, _, _, _) => true);
            await ssl.AuthenticateAsClientAsync(host);
            _stream = ssl;
            _reader = new StreamReader(ssl, Encoding.Latin1, false);
        }

        public async ValueTask DisposeAsync()
        {
            await _stream.DisposeAsync();
            _tcp.Dispose();
        }

        private async Task<string> ReplyAsync()
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var lines = new StringBuilder();
            while (true)
            {
                var line = await _reader.ReadLineAsync(timeout.Token) ?? throw new IOException("connection closed; reply so far: " + lines);
                lines.Append(line).Append('\n');
                if (line.Length < 4 || line[3] != '-')
                {
                    return lines.ToString();
                }
            }
        }
    }
}
