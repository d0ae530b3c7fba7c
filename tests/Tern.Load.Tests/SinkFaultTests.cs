using System.Diagnostics;
using MailKit.Net.Smtp;
using MimeKit;
using Tern.Load.Report;

namespace Tern.Load.Tests;

/// <summary>Injected faults and protocol behaviour of the sink, seen from a bare client and from MailKit.</summary>
public sealed class SinkFaultTests
{
    private const string Message = "Message-ID: <f.1@tern-load.test>\r\nSubject: x\r\n\r\nbody\r\n.\r\n";

    [Fact]
    public async Task Fail_rcpt_1_with_550_refuses_every_message()
    {
        await using var sink = await TestSink.StartAsync(o => o with { FailRcpt = 1, FailCodes = [550] });
        using var client = new SmtpClient { Timeout = 10_000 };
        await client.ConnectAsync("127.0.0.1", sink.EndPoint.Port, MailKit.Security.SecureSocketOptions.None);
        for (var i = 0; i < 5; i++)
        {
            var message = new MimeMessage { Subject = "refused" };
            message.From.Add(MailboxAddress.Parse("a@example.org"));
            message.To.Add(MailboxAddress.Parse("b@example.net"));
            message.Body = new TextPart("plain") { Text = "x" };
            var e = await Assert.ThrowsAsync<SmtpCommandException>(() => client.SendAsync(message));
            Assert.Equal(550, (int)e.StatusCode);
        }

        Assert.Equal(0, sink.Stats.Ok);
        Assert.Equal(5, sink.Stats.Failed);
        Assert.Equal([(550, 5L)], sink.Stats.FailuresByCode());
        Assert.Empty(await sink.StopAndReadIdsAsync());
    }

    [Fact]
    public async Task Fail_data_half_with_a_seed_fails_about_half_and_counts_them()
    {
        const int Messages = 200;
        await using var sink = await TestSink.StartAsync(o => o with { FailData = 0.5, FailCodes = [451, 554], Seed = 42 });
        await using var smtp = await RawSmtp.ConnectAsync(sink.EndPoint);
        await smtp.ReadReplyAsync();
        await smtp.CommandAsync("EHLO test");
        var failed = 0;
        for (var i = 0; i < Messages; i++)
        {
            // Pipelined (RFC 2920): MAIL, RCPT, DATA in one write; the content after the 354.
            await smtp.SendAsync("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n");
            Assert.StartsWith("250", await smtp.ReadReplyAsync(), StringComparison.Ordinal);
            Assert.StartsWith("250", await smtp.ReadReplyAsync(), StringComparison.Ordinal);
            Assert.StartsWith("354", await smtp.ReadReplyAsync(), StringComparison.Ordinal);
            await smtp.SendAsync($"Message-ID: <half.{i}@tern-load.test>\r\n\r\nbody\r\n.\r\n");
            var reply = await smtp.ReadReplyAsync();
            if (reply!.StartsWith("451 4.3.0", StringComparison.Ordinal) || reply.StartsWith("554 5.3.0", StringComparison.Ordinal))
            {
                failed++;
            }
            else
            {
                Assert.StartsWith("250 2.0.0", reply, StringComparison.Ordinal);
            }
        }

        Assert.InRange(failed, Messages * 3 / 10, Messages * 7 / 10);
        await TestSink.WaitForAsync(() => sink.Stats.Ok == Messages - failed);
        Assert.Equal(failed, sink.Stats.FailuresOf(FailureKind.Reply));
        Assert.Equal(Messages - failed, sink.Stats.Ok);
        var codes = sink.Stats.FailuresByCode();
        Assert.Equal([451, 554], codes.Select(c => c.Code));
        Assert.Equal(Messages - failed, (await sink.StopAndReadIdsAsync()).Length);
    }

    [Fact]
    public async Task Same_seed_same_faults()
    {
        async Task<string> RunAsync()
        {
            await using var sink = await TestSink.StartAsync(o => o with { FailMail = 0.3, Seed = 7 });
            await using var smtp = await RawSmtp.ConnectAsync(sink.EndPoint);
            await smtp.ReadReplyAsync();
            await smtp.CommandAsync("HELO test");
            var outcome = new System.Text.StringBuilder();
            for (var i = 0; i < 50; i++)
            {
                var reply = await smtp.CommandAsync("MAIL FROM:<a@example.org>");
                outcome.Append(reply![0]);
                await smtp.CommandAsync("RSET");
            }

            return outcome.ToString();
        }

        var first = await RunAsync();
        Assert.Equal(first, await RunAsync());
        Assert.Contains("4", first, StringComparison.Ordinal);
        Assert.Contains("2", first, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Probability_421_answers_going_away_and_closes()
    {
        await using var sink = await TestSink.StartAsync(o => o with { GoingAway = 1 });
        await using var smtp = await RawSmtp.ConnectAsync(sink.EndPoint);
        await smtp.ReadReplyAsync();
        await smtp.SendAsync("EHLO test\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n");
        Assert.Contains("PIPELINING", await smtp.ReadReplyAsync(), StringComparison.Ordinal);
        await smtp.ReadReplyAsync();
        await smtp.ReadReplyAsync();
        Assert.StartsWith("354", await smtp.ReadReplyAsync(), StringComparison.Ordinal);
        await smtp.SendAsync(Message);
        Assert.Equal("421 4.3.2 going away\r\n", await smtp.ReadReplyAsync());
        Assert.True(await smtp.IsClosedAsync());
        Assert.Equal([(421, 1L)], sink.Stats.FailuresByCode());
        Assert.Empty(await sink.StopAndReadIdsAsync());
    }

    [Fact]
    public async Task Disconnect_1_drops_the_connection_without_a_reply()
    {
        await using var sink = await TestSink.StartAsync(o => o with { Disconnect = 1 });
        await using var smtp = await RawSmtp.ConnectAsync(sink.EndPoint);
        await smtp.ReadReplyAsync();
        await smtp.SendAsync("HELO test\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n");
        for (var i = 0; i < 3; i++)
        {
            await smtp.ReadReplyAsync();
        }

        Assert.StartsWith("354", await smtp.ReadReplyAsync(), StringComparison.Ordinal);
        await smtp.SendAsync(Message);
        Assert.Null(await smtp.ReadReplyAsync());
        Assert.Equal(1, sink.Stats.FailuresOf(FailureKind.Disconnect));
        Assert.Empty(await sink.StopAndReadIdsAsync());
    }

    [Fact]
    public async Task Delay_slows_each_reply()
    {
        await using var sink = await TestSink.StartAsync(o => o with { Delay = TimeSpan.FromMilliseconds(200) });
        await using var smtp = await RawSmtp.ConnectAsync(sink.EndPoint);
        await smtp.ReadReplyAsync();
        var watch = Stopwatch.StartNew();
        Assert.StartsWith("250", await smtp.CommandAsync("NOOP"), StringComparison.Ordinal);
        Assert.StartsWith("250", await smtp.CommandAsync("NOOP"), StringComparison.Ordinal);
        Assert.InRange(watch.ElapsedMilliseconds, 380, 3000);
    }

    [Fact]
    public async Task Max_connections_1_refuses_the_second_with_421()
    {
        await using var sink = await TestSink.StartAsync(o => o with { MaxConnections = 1 });
        await using var first = await RawSmtp.ConnectAsync(sink.EndPoint);
        Assert.StartsWith("220", await first.ReadReplyAsync(), StringComparison.Ordinal);
        await using var second = await RawSmtp.ConnectAsync(sink.EndPoint);
        Assert.Equal("421 4.7.0 too many connections\r\n", await second.ReadReplyAsync());
        Assert.True(await second.IsClosedAsync());
        Assert.Equal(1, sink.Stats.FailuresOf(FailureKind.Connect));

        // Once the first leaves, a new connection is served (the sink frees its slot just after the 221:
        // a connection that comes before that is still refused, so try again for a while).
        Assert.StartsWith("221", await first.CommandAsync("QUIT"), StringComparison.Ordinal);
        var served = false;
        for (var tries = System.Diagnostics.Stopwatch.StartNew(); !served && tries.Elapsed < TimeSpan.FromSeconds(10);)
        {
            await using var third = await RawSmtp.ConnectAsync(sink.EndPoint);
            var greeting = await third.ReadReplyAsync();
            served = greeting?.StartsWith("220", StringComparison.Ordinal) == true;
            if (!served)
            {
                Assert.Equal("421 4.7.0 too many connections\r\n", greeting);
                await Task.Delay(50);
            }
        }

        Assert.True(served, "a connection after the first left was never served");
    }

    [Fact]
    public async Task Tls_fail_1_closes_after_the_220()
    {
        await using var sink = await TestSink.StartAsync(o => o with { Tls = true, TlsFail = 1 });
        await using var smtp = await RawSmtp.ConnectAsync(sink.EndPoint);
        await smtp.ReadReplyAsync();
        Assert.Contains("250-STARTTLS", await smtp.CommandAsync("EHLO test"), StringComparison.Ordinal);
        Assert.StartsWith("220 2.0.0", await smtp.CommandAsync("STARTTLS"), StringComparison.Ordinal);
        Assert.True(await smtp.IsClosedAsync());
        Assert.Equal(1, sink.Stats.FailuresOf(FailureKind.Tls));
    }

    [Fact]
    public async Task Tls_abort_1_fails_the_handshake_with_an_alert()
    {
        await using var sink = await TestSink.StartAsync(o => o with { Tls = true, TlsAbort = 1 });
        await using var smtp = await RawSmtp.ConnectAsync(sink.EndPoint);
        await smtp.ReadReplyAsync();
        Assert.Contains("250-STARTTLS", await smtp.CommandAsync("EHLO test"), StringComparison.Ordinal);
        Assert.StartsWith("220 2.0.0", await smtp.CommandAsync("STARTTLS"), StringComparison.Ordinal);
        await using var tls = new System.Net.Security.SslStream(smtp.Stream, leaveInnerStreamOpen: true);
        var handshake = tls.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
        {
            TargetHost = "sink.test",
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        });
        var error = await Assert.ThrowsAnyAsync<Exception>(() => handshake);
        Assert.True(error is System.Security.Authentication.AuthenticationException or IOException, error.ToString());
        Assert.Equal(1, sink.Stats.FailuresOf(FailureKind.Tls));
    }

    [Fact]
    public async Task Pipelined_batch_is_answered_in_order_and_content_split_at_every_byte_ends_right()
    {
        await using var sink = await TestSink.StartAsync();
        await using var smtp = await RawSmtp.ConnectAsync(sink.EndPoint);
        await smtp.ReadReplyAsync();
        await smtp.SendAsync("EHLO test\r\nMAIL FROM:<a@example.org> BODY=8BITMIME SIZE=100\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n");
        Assert.Contains("250 ENHANCEDSTATUSCODES", await smtp.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.Equal("250 2.1.0 Ok\r\n", await smtp.ReadReplyAsync());
        Assert.Equal("250 2.1.5 Ok\r\n", await smtp.ReadReplyAsync());
        Assert.Equal("250 2.1.5 Ok\r\n", await smtp.ReadReplyAsync());
        Assert.StartsWith("354", await smtp.ReadReplyAsync(), StringComparison.Ordinal);

        // The content byte by byte, the terminator followed by pipelined commands in the same write.
        const string content = "Message-ID:\r\n\t<split.1@tern-load.test>\r\n\r\n..dot\r\n.";
        foreach (var c in content)
        {
            await smtp.SendAsync(c.ToString());
        }

        await smtp.SendAsync("\r\nNOOP\r\nBDAT 5\r\nab\r\ncBDAT 0 LAST\r\nQUIT\r\n");
        Assert.StartsWith("250 2.0.0 Ok: queued", await smtp.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.Equal("250 2.0.0 Ok\r\n", await smtp.ReadReplyAsync());

        // BDAT without MAIL: the chunk is read (not taken as commands) and refused.
        Assert.StartsWith("503", await smtp.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.StartsWith("503", await smtp.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.StartsWith("221", await smtp.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.True(await smtp.IsClosedAsync());
        // The digest is of the unstuffed content ("..dot" was ".dot"), without the end line.
        var digest = System.IO.Hashing.XxHash64.HashToUInt64("Message-ID:\r\n\t<split.1@tern-load.test>\r\n\r\n.dot\r\n"u8);
        Assert.Equal([$"split.1@tern-load.test\t{digest:x16}"], await sink.StopAndReadLinesAsync());
    }

    [Fact]
    public async Task Commands_out_of_order_are_refused()
    {
        await using var sink = await TestSink.StartAsync();
        await using var smtp = await RawSmtp.ConnectAsync(sink.EndPoint);
        await smtp.ReadReplyAsync();
        Assert.StartsWith("503", await smtp.CommandAsync("MAIL FROM:<a@example.org>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await smtp.CommandAsync("EHLO test"), StringComparison.Ordinal);
        Assert.StartsWith("503", await smtp.CommandAsync("RCPT TO:<b@example.net>"), StringComparison.Ordinal);
        Assert.StartsWith("501", await smtp.CommandAsync("MAIL <a@example.org>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await smtp.CommandAsync("MAIL FROM:<a@example.org>"), StringComparison.Ordinal);
        Assert.StartsWith("503", await smtp.CommandAsync("MAIL FROM:<a@example.org>"), StringComparison.Ordinal);
        Assert.StartsWith("554", await smtp.CommandAsync("DATA"), StringComparison.Ordinal);
        Assert.StartsWith("502", await smtp.CommandAsync("STARTTLS"), StringComparison.Ordinal);
        Assert.StartsWith("500", await smtp.CommandAsync("FOO"), StringComparison.Ordinal);
        Assert.StartsWith("500 5.5.2 line too long", await smtp.CommandAsync("NOOP " + new string('x', 5000)), StringComparison.Ordinal);
        Assert.StartsWith("250", await smtp.CommandAsync("NOOP"), StringComparison.Ordinal);
    }
}
