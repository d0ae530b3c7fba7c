using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Tern.Load.Tests;

/// <summary>Real SMTP clients against the sink: swaks, Python's smtplib, MailKit (BDAT), Postfix's smtp-source.</summary>
public sealed class SinkPeerTests
{
    [Fact]
    public async Task Swaks_plain_and_pipelined_messages_are_counted_with_their_ids()
    {
        await using var sink = await TestSink.StartAsync();
        var (code, output) = await Peer.RunAsync(
            "swaks", "--server", "127.0.0.1", "--port", sink.Port, "--from", "a@example.org", "--to", "b@example.net",
            "--header", "Message-Id: <plain.1@tern-load.test>", "--body", "plain", "--timeout", "10");
        Assert.True(code == 0, output);
        Assert.Contains("250 2.0.0 Ok: queued", output, StringComparison.Ordinal);

        (code, output) = await Peer.RunAsync(
            "swaks", "--server", "127.0.0.1", "--port", sink.Port, "--from", "a@example.org", "--to", "b@example.net,c@example.net",
            "--pipeline", "--header", "Message-Id: <piped.2@tern-load.test>", "--body", "piped", "--timeout", "10");
        Assert.True(code == 0, output);
        Assert.Contains("PIPELINING", output, StringComparison.Ordinal);

        await TestSink.WaitForAsync(() => sink.Stats.Ok == 2);
        Assert.Equal(["plain.1@tern-load.test", "piped.2@tern-load.test"], await sink.StopAndReadIdsAsync());
        Assert.Equal(2, sink.Stats.Ok);
        Assert.Equal(0, sink.Stats.Failed);
    }

    [Fact]
    public async Task Swaks_over_starttls()
    {
        await using var sink = await TestSink.StartAsync(o => o with { Tls = true });
        var (code, output) = await Peer.RunAsync(
            "swaks", "--server", "127.0.0.1", "--port", sink.Port, "--from", "a@example.org", "--to", "b@example.net",
            "-tls", "--pipeline", "--header", "Message-Id: <tls.1@tern-load.test>", "--timeout", "10");
        Assert.True(code == 0, output);
        Assert.Contains("TLS started", output, StringComparison.Ordinal);
        await TestSink.WaitForAsync(() => sink.Stats.Ok == 1);
        Assert.Equal(["tls.1@tern-load.test"], await sink.StopAndReadIdsAsync());
    }

    [Fact]
    public async Task Python_smtplib_sends_with_data_and_folded_lower_case_message_ids()
    {
        await using var sink = await TestSink.StartAsync();
        var script = """
            import smtplib, sys
            with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10) as s:
                s.ehlo("python.test")
                assert s.has_extn("pipelining") and s.has_extn("chunking") and s.has_extn("smtputf8") and s.has_extn("dsn")
                for i in range(1, 4):
                    msg = "From: a@example.org\r\nmessage-id:\r\n <py.%d@tern-load.test>\r\nSubject: %d\r\n\r\n.leading dot\r\nbody\r\n" % (i, i)
                    s.sendmail("a@example.org", ["b@example.net"], msg, rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;b@example.net"], mail_options=["RET=HDRS", "ENVID=x%d" % i])
                s.sendmail("a@example.org", ["b@example.net"], "Subject: no id\r\n\r\nx\r\n")
                print(s.noop()[0], s.verify("b@example.net")[0])
            """;
        var (code, output) = await Peer.RunAsync("python3", "-c", script, sink.Port);
        Assert.True(code == 0, output);
        Assert.Contains("250 252", output, StringComparison.Ordinal);
        await TestSink.WaitForAsync(() => sink.Stats.Ok == 4);
        Assert.Equal(["py.1@tern-load.test", "py.2@tern-load.test", "py.3@tern-load.test", "-"], await sink.StopAndReadIdsAsync());
    }

    [Fact]
    public async Task MailKit_sends_with_bdat_over_starttls()
    {
        await using var sink = await TestSink.StartAsync(o => o with { Tls = true });
        using (var client = new SmtpClient())
        {
            client.ServerCertificateValidationCallback = (_, _, _, _) => true;
            client.Timeout = 10_000;
            await client.ConnectAsync("127.0.0.1", sink.EndPoint.Port, SecureSocketOptions.StartTls);
            Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.Chunking));
            Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.Pipelining));
            for (var i = 1; i <= 3; i++)
            {
                var message = new MimeMessage { MessageId = $"mk.{i}@tern-load.test", Subject = "chunked " + i };
                message.From.Add(MailboxAddress.Parse("a@example.org"));
                message.To.Add(MailboxAddress.Parse("b@example.net"));
                message.Body = new TextPart("plain") { Text = new string('x', 100_000 * i) + "\r\n.\r\nnot the end\r\n" };
                var reply = await client.SendAsync(message);
                Assert.Contains("queued", reply, StringComparison.Ordinal);
            }

            await client.DisconnectAsync(quit: true);
        }

        await TestSink.WaitForAsync(() => sink.Stats.Ok == 3);
        Assert.Equal(["mk.1@tern-load.test", "mk.2@tern-load.test", "mk.3@tern-load.test"], await sink.StopAndReadIdsAsync());
        Assert.True(sink.Stats.Bytes > 600_000, sink.Stats.Bytes.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task Smtp_source_sends_200_messages_over_5_sessions()
    {
        await using var sink = await TestSink.StartAsync();
        var (code, output) = await Peer.RunAsync("/usr/sbin/smtp-source", "-s", "5", "-m", "200", "-l", "1024", "-d", $"127.0.0.1:{sink.Port}");
        Assert.True(code == 0, output);
        await TestSink.WaitForAsync(() => sink.Stats.Ok == 200);
        var ids = await sink.StopAndReadIdsAsync();
        Assert.Equal(200, sink.Stats.Ok);
        Assert.Equal(200, ids.Length);

        // smtp-source writes a Message-Id of its own, different for each message.
        Assert.Equal(200, ids.Distinct(StringComparer.Ordinal).Count());
        Assert.DoesNotContain("-", ids);
        Assert.True(sink.Stats.Bytes >= 200 * 1024);
    }
}
