using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Tern.Smtp.Client;
using Tern.Smtp.Protocol;
using static Tern.Smtp.Tests.Client.ClientTest;

namespace Tern.Smtp.Tests.Client;

/// <summary>
/// The client against a real Postfix smtpd on loopback (a private instance, mail kept in its queue
/// with delivery deferred), once with every feature and once with PIPELINING, 8BITMIME, SMTPUTF8,
/// CHUNKING and DSN taken out of its EHLO reply.
/// </summary>
public sealed class PostfixClientTests : IAsyncLifetime
{
    private PostfixInstance _full = null!;
    private PostfixInstance _plain = null!;

    public async Task InitializeAsync()
    {
        var full = PostfixInstance.StartAsync(string.Empty);
        var plain = PostfixInstance.StartAsync("smtpd_discard_ehlo_keywords = pipelining, 8bitmime, smtputf8, chunking, dsn");
        _full = await full;
        _plain = await plain;
    }

    public async Task DisposeAsync()
    {
        await _full.DisposeAsync();
        await _plain.DisposeAsync();
    }

    [Fact]
    public async Task Recipient_limit_452_unknown_user_and_a_second_transaction()
    {
        await using var session = new SmtpClientSession(await _full.ConnectAsync(), Options());
        Assert.Null(await session.OpenAsync());
        Assert.True(session.Info.Extensions.Pipelining && session.Info.SmtpUtf8Offered && session.Info.DsnOffered && session.Info.Extensions.Chunking);
        Assert.Equal(100_000, session.Info.Extensions.MaxSize);

        // smtpd_recipient_limit = 3: Postfix answers the 4th RCPT with 452 4.5.3; the client
        // sends those in a second transaction on the same connection.
        var recipients = new[] { "a@example.net", "unknown@example.net", "b@example.net", "c@example.net", "d@example.net" };
        var result = await session.SendAsync(Message(recipients));
        await session.QuitAsync();
        Assert.Equal(2, result.Transactions);
        Assert.Equal(SmtpOutcome.PermanentFailure, result.Recipients[1].Outcome);
        Assert.Equal("550 5.1.1 <unknown@example.net>: Recipient address rejected: no such user", result.Recipients[1].Reply.ToString());
        foreach (var i in new[] { 0, 2, 3, 4 })
        {
            Assert.Equal(SmtpOutcome.Delivered, result.Recipients[i].Outcome);
            Assert.StartsWith("2.0.0 Ok: queued as ", result.Recipients[i].Reply.Lines[0], StringComparison.Ordinal);
        }

        Assert.NotEqual(result.Recipients[0].Reply.Lines[0], result.Recipients[4].Reply.Lines[0]);
    }

    [Fact]
    public async Task Refused_sender_in_a_pipelined_group_and_the_connection_goes_on()
    {
        await using var session = new SmtpClientSession(await _full.ConnectAsync(), Options());
        Assert.Null(await session.OpenAsync());
        var refused = await session.SendAsync(Message("a@example.net", "b@example.net") with { Sender = "blocked@example.org" });
        Assert.All(refused.Recipients, r =>
        {
            Assert.Equal(SmtpOutcome.PermanentFailure, r.Outcome);
            Assert.Equal(SmtpStage.Mail, r.Stage);
            Assert.Equal("5.7.1", r.Reply.Status);
        });
        Assert.True(session.CanSend);
        var ok = await session.SendAsync(Message("a@example.net"));
        await session.QuitAsync();
        Assert.Equal(SmtpOutcome.Delivered, ok.Recipients[0].Outcome);
    }

    [Fact]
    public async Task Smtputf8_dsn_8bit_and_bdat()
    {
        await using var session = new SmtpClientSession(await _full.ConnectAsync(), Options() with { PreferChunking = true, ChunkSize = 4096 });
        Assert.Null(await session.OpenAsync());
        var message = Message() with
        {
            Sender = "j\u00f6rg@example.org",
            Recipients = [new SmtpRecipient("b\u00f6b@example.net", DsnNotify.Success | DsnNotify.Failure, "utf-8;b\u00f6b@example.net")],
            Content = Encoding.UTF8.GetBytes("Subject: gr\u00fc\u00dfe\r\n\r\n" + string.Concat(Enumerable.Range(0, 500).Select(i => $".{i} \u00e4\r\n"))),
            SmtpUtf8 = true,
            Ret = DsnReturn.Full,
            EnvelopeId = "e1",
        };
        var result = await session.SendAsync(message);
        await session.QuitAsync();
        Assert.Equal(SmtpOutcome.Delivered, result.Recipients[0].Outcome);
    }

    [Fact]
    public async Task Message_over_the_size_limit_is_refused_before_mail()
    {
        await using var session = new SmtpClientSession(await _full.ConnectAsync(), Options());
        Assert.Null(await session.OpenAsync());
        var result = await session.SendAsync(Message("a@example.net") with { Content = new byte[150_000] });
        await session.QuitAsync();
        Assert.Equal(SmtpOutcome.PermanentFailure, result.Recipients[0].Outcome);
        Assert.Equal("5.3.4", result.Recipients[0].Reply.Status);
        Assert.Equal(0, result.Transactions);
    }

    [Fact]
    public async Task Without_the_extensions_lock_step_8bit_anyway_and_smtputf8_deferred()
    {
        await using var session = new SmtpClientSession(await _plain.ConnectAsync(), Options());
        Assert.Null(await session.OpenAsync());
        Assert.False(session.Info.Extensions.Pipelining || session.Info.EightBitMimeOffered || session.Info.SmtpUtf8Offered || session.Info.DsnOffered);
        var eightBit = await session.SendAsync(Message("a@example.net", "unknown@example.net", "b@example.net") with { Content = Encoding.UTF8.GetBytes("Subject: \u00e4\r\n\r\n\u00f6\r\n") });
        Assert.Equal(SmtpOutcome.Delivered, eightBit.Recipients[0].Outcome);
        Assert.Equal(SmtpOutcome.PermanentFailure, eightBit.Recipients[1].Outcome);
        Assert.Equal(SmtpOutcome.Delivered, eightBit.Recipients[2].Outcome);
        var utf8 = await session.SendAsync(Message("b\u00f6b@example.net") with { SmtpUtf8 = true });
        Assert.Equal(SmtpOutcome.TemporaryFailure, utf8.Recipients[0].Outcome);
        Assert.Equal("4.6.7", utf8.Recipients[0].Reply.Status);
        await session.QuitAsync();
    }

    /// <summary>A private Postfix (Debian 12, 3.7) under a temporary directory; see bench/../performance.md for the recipe.</summary>
    private sealed class PostfixInstance : IAsyncDisposable
    {
        private const string Postfix = "/usr/sbin/postfix";
        private readonly string _dir;

        private PostfixInstance(string dir, IPEndPoint endpoint)
        {
            _dir = dir;
            EndPoint = endpoint;
        }

        public IPEndPoint EndPoint { get; }

        private string ConfigDir => Path.Combine(_dir, "etc");

        public static async Task<PostfixInstance> StartAsync(string extraConfig)
        {
            if (!File.Exists(Postfix) || Environment.UserName != "root")
            {
                throw new InvalidOperationException("these tests run a private Postfix: they need /usr/sbin/postfix (build.sh installs it) and root");
            }

            var dir = Directory.CreateTempSubdirectory("tern-postfix-").FullName;

            // The postfix user must reach its data directory.
            File.SetUnixFileMode(dir, (UnixFileMode)0x1ed);
            var etc = Directory.CreateDirectory(Path.Combine(dir, "etc")).FullName;
            Directory.CreateDirectory(Path.Combine(dir, "spool"));
            var data = Directory.CreateDirectory(Path.Combine(dir, "data")).FullName;
            await RunAsync("chown", "postfix", data);

            var port = TestPorts.Free();
            var instance = new PostfixInstance(dir, new IPEndPoint(IPAddress.Loopback, port));
            await File.WriteAllTextAsync(Path.Combine(etc, "main.cf"), $$"""
                compatibility_level = 3.6
                queue_directory = {{dir}}/spool
                data_directory = {{data}}
                inet_interfaces = loopback-only
                inet_protocols = ipv4
                myhostname = postfix.test
                mynetworks = 127.0.0.0/8
                mydestination =
                local_recipient_maps =
                alias_maps =
                alias_database =
                relayhost = [127.0.0.1]:1
                defer_transports = smtp
                smtpd_relay_restrictions = permit_mynetworks, reject
                smtpd_sender_restrictions = check_sender_access inline:{ {blocked@example.org = 550 5.7.1 sender blocked} }
                smtpd_recipient_restrictions = check_recipient_access inline:{ {unknown@example.net = 550 5.1.1 no such user} }, permit_mynetworks, reject
                smtpd_delay_reject = no
                smtpd_recipient_limit = 3
                message_size_limit = 100000
                smtpd_peername_lookup = no
                smtp_dns_support_level = disabled
                smtpd_tls_security_level = none
                smtp_tls_security_level = none
                maillog_file = {{dir}}/maillog
                maillog_file_prefixes = {{dir}}
                {{extraConfig}}

                """);
            await File.WriteAllTextAsync(Path.Combine(etc, "master.cf"), MasterCf(port));
            var (code, output) = await RunAsync(Postfix, "-c", etc, "start");
            if (code != 0)
            {
                var log = File.Exists(Path.Combine(dir, "maillog")) ? await File.ReadAllTextAsync(Path.Combine(dir, "maillog")) : string.Empty;
                await instance.DisposeAsync();
                throw new InvalidOperationException($"postfix start failed ({code}): {output}\n{log}");
            }

            for (var i = 0; i < 100; i++)
            {
                try
                {
                    using var probe = new TcpClient();
                    await probe.ConnectAsync(instance.EndPoint);
                    probe.Client.LingerState = new LingerOption(true, 0);
                    return instance;
                }
                catch (SocketException)
                {
                    await Task.Delay(50);
                }
            }

            await instance.DisposeAsync();
            throw new InvalidOperationException("postfix did not start listening");
        }

        public async Task<Stream> ConnectAsync()
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(EndPoint);
            return new NetworkStream(socket, ownsSocket: true);
        }

        public async ValueTask DisposeAsync()
        {
            await RunAsync(Postfix, "-c", ConfigDir, "stop");
            try
            {
                Directory.Delete(_dir, recursive: true);
            }
            catch (IOException)
            {
                // A Postfix process still writing while it exits; the directory is in /tmp.
            }
        }

        /// <summary>Debian's master.cf without comments, up to postlog, chroot off, smtpd on our port.</summary>
        private static string MasterCf(int port)
        {
            var sb = new StringBuilder();
            foreach (var line in File.ReadLines("/usr/share/postfix/master.cf.dist"))
            {
                if (line.StartsWith('#') || line.Trim().Length == 0)
                {
                    continue;
                }

                if (char.IsWhiteSpace(line[0]))
                {
                    sb.AppendLine(line);
                    continue;
                }

                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length >= 8)
                {
                    fields[4] = "n";
                }

                if (fields[0] == "smtp" && fields[1] == "inet")
                {
                    fields[0] = $"127.0.0.1:{port}";
                }

                sb.AppendLine(string.Join(' ', fields));
                if (fields[0] == "postlog")
                {
                    break;
                }
            }

            return sb.ToString();
        }


        private static async Task<(int Code, string Output)> RunAsync(string program, params string[] args)
        {
            var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in args)
            {
                start.ArgumentList.Add(a);
            }

            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            return (process.ExitCode, await stdout + await stderr);
        }
    }
}
