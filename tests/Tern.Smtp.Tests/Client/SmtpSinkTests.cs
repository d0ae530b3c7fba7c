using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Tern.Smtp.Client;
using Tern.Smtp.Protocol;
using static Tern.Smtp.Tests.Client.ClientTest;

namespace Tern.Smtp.Tests.Client;

/// <summary>The client against Postfix's smtp-sink (/usr/sbin/smtp-sink): a real, independent server, told to accept, refuse, hang up or stall.</summary>
public sealed class SmtpSinkTests
{
    [Fact]
    public async Task Accepts_two_messages_on_one_connection_and_the_content_arrives_intact()
    {
        var dump = Directory.CreateTempSubdirectory("tern-sink-");
        try
        {
            // smtp-sink drops privileges to nobody: the dump directory must be writable by it.
            File.SetUnixFileMode(dump.FullName, (UnixFileMode)0x1ff);
            await using var sink = await SmtpSink.StartAsync("-d", Path.Combine(dump.FullName, "%M."));
            await using var session = new SmtpClientSession(await sink.ConnectAsync(), Options());
            Assert.Null(await session.OpenAsync());
            Assert.True(session.Info.Extensions.Pipelining && session.Info.EightBitMimeOffered && session.Info.DsnOffered && session.Info.Extensions.EnhancedStatusCodes);

            var content = Encoding.UTF8.GetBytes("Subject: sink\r\n\r\n.dot line\r\ngr\u00fc\u00df\r\n");
            var message = Message("bob@example.net", "carol@example.net") with
            {
                Content = content,
                Recipients = [new SmtpRecipient("bob@example.net", DsnNotify.Failure, "rfc822;bob@example.net"), new SmtpRecipient("carol@example.net")],
            };
            var first = await session.SendAsync(message);
            var second = await session.SendAsync(Message("dave@example.net"));
            await session.QuitAsync();

            Assert.All(first.Recipients.Concat(second.Recipients), r =>
            {
                Assert.Equal(SmtpOutcome.Delivered, r.Outcome);
                Assert.Equal(250, r.Reply.Code);
            });

            var dumps = await WaitForFilesAsync(dump.FullName, 2);
            var text = dumps.Select(f => File.ReadAllText(f, Encoding.UTF8)).Single(t => t.Contains("Subject: sink", StringComparison.Ordinal));
            Assert.Contains("X-Mail-Args: <alice@example.org> BODY=8BITMIME", text, StringComparison.Ordinal);
            Assert.Contains("X-Rcpt-Args: <bob@example.net> NOTIFY=FAILURE ORCPT=rfc822;bob@example.net", text, StringComparison.Ordinal);
            Assert.Contains("\n.dot line\n", text, StringComparison.Ordinal);
            Assert.Contains("gr\u00fc\u00df", text, StringComparison.Ordinal);
        }
        finally
        {
            dump.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Soft_rejected_rcpt_is_a_temporary_failure_with_the_reply()
    {
        await using var sink = await SmtpSink.StartAsync("-r", "RCPT");
        await using var session = new SmtpClientSession(await sink.ConnectAsync(), Options());
        Assert.Null(await session.OpenAsync());
        Assert.False(session.Info.Extensions.Pipelining);
        var result = await session.SendAsync(Message("bob@example.net", "carol@example.net"));
        await session.QuitAsync();
        Assert.All(result.Recipients, r =>
        {
            Assert.Equal(SmtpOutcome.TemporaryFailure, r.Outcome);
            Assert.Equal(SmtpStage.Rcpt, r.Stage);
            Assert.Equal("450 4.3.0 Error: command failed", r.Reply.ToString());
        });
        Assert.Equal(SmtpStage.Rcpt, result.Failure!.Stage);
    }

    [Theory]
    [InlineData("MAIL", SmtpStage.Mail)]
    [InlineData("DATA", SmtpStage.Data)]
    [InlineData(".", SmtpStage.DataEnd)]
    public async Task Hard_error_is_a_permanent_failure_at_its_stage(string command, SmtpStage stage)
    {
        await using var sink = await SmtpSink.StartAsync("-f", command);
        await using var session = new SmtpClientSession(await sink.ConnectAsync(), Options());
        Assert.Null(await session.OpenAsync());
        var result = await session.SendAsync(Message("bob@example.net"));
        var r = Assert.Single(result.Recipients);
        Assert.Equal(SmtpOutcome.PermanentFailure, r.Outcome);
        Assert.Equal(stage, r.Stage);
        Assert.Equal("5.3.0", r.Reply.Status);

        // The session is still in step: the next message goes through unless it hits the same wall.
        if (command == "MAIL")
        {
            Assert.True(session.CanSend);
        }

        await session.QuitAsync();
    }

    [Theory]
    [InlineData("RCPT", SmtpStage.Rcpt)]
    [InlineData("MAIL", SmtpStage.Mail)]
    [InlineData(".", SmtpStage.DataEnd)]
    public async Task Reply_421_and_disconnect_is_a_temporary_failure(string command, SmtpStage stage)
    {
        await using var sink = await SmtpSink.StartAsync("-Q", command);
        await using var session = new SmtpClientSession(await sink.ConnectAsync(), Options());
        Assert.Null(await session.OpenAsync());
        var result = await session.SendAsync(Message("bob@example.net", "carol@example.net"));
        Assert.All(result.Recipients, r =>
        {
            Assert.Equal(SmtpOutcome.TemporaryFailure, r.Outcome);
            Assert.Equal(stage, r.Stage);
            Assert.Equal(421, r.Reply.Code);
        });
        Assert.False(session.CanSend);
        await session.QuitAsync();
    }

    [Fact]
    public async Task Abort_after_data_gives_the_550()
    {
        await using var sink = await SmtpSink.StartAsync("-A", "0");
        await using var session = new SmtpClientSession(await sink.ConnectAsync(), Options());
        Assert.Null(await session.OpenAsync());
        var result = await session.SendAsync(Message("bob@example.net"));
        var r = Assert.Single(result.Recipients);
        Assert.Equal(SmtpOutcome.PermanentFailure, r.Outcome);
        Assert.Equal(550, r.Reply.Code);
        await session.QuitAsync();
    }

    [Fact]
    public async Task Slow_data_reply_times_out()
    {
        // -w delays the 354; -p keeps smtp-sink from holding back the earlier replies of a pipelined group with it.
        await using var sink = await SmtpSink.StartAsync("-p", "-w", "3");
        var options = Options() with { Timeouts = ShortTimeouts with { DataInitiation = TimeSpan.FromMilliseconds(500) } };
        await using var session = new SmtpClientSession(await sink.ConnectAsync(), options);
        Assert.Null(await session.OpenAsync());
        var result = await session.SendAsync(Message("bob@example.net"));
        var r = Assert.Single(result.Recipients);
        Assert.Equal(SmtpOutcome.TemporaryFailure, r.Outcome);
        Assert.Equal(SmtpStage.Data, r.Stage);
        Assert.Equal(SmtpFailureKind.Timeout, r.Kind);
        Assert.False(session.CanSend);
        await session.QuitAsync();
    }

    [Fact]
    public async Task Without_esmtp_the_client_says_helo()
    {
        await using var sink = await SmtpSink.StartAsync("-e");
        await using var session = new SmtpClientSession(await sink.ConnectAsync(), Options());
        Assert.Null(await session.OpenAsync());
        Assert.False(session.Info.Esmtp);
        var result = await session.SendAsync(Message("bob@example.net") with { Content = Encoding.UTF8.GetBytes("Subject: \u00e4\r\n\r\nx\r\n") });
        await session.QuitAsync();
        Assert.Equal(SmtpOutcome.Delivered, result.Recipients[0].Outcome);
    }

    [Theory]
    [InlineData(false, SmtpOutcome.Delivered)]
    [InlineData(true, SmtpOutcome.PermanentFailure)]
    public async Task Without_8bitmime_lenient_sends_and_strict_fails(bool strict, SmtpOutcome expected)
    {
        await using var sink = await SmtpSink.StartAsync("-8", "-p", "-E");
        await using var session = new SmtpClientSession(await sink.ConnectAsync(), Options() with { Strict8BitMime = strict });
        Assert.Null(await session.OpenAsync());
        Assert.False(session.Info.EightBitMimeOffered || session.Info.Extensions.Pipelining || session.Info.Extensions.EnhancedStatusCodes);
        var result = await session.SendAsync(Message("bob@example.net") with { Content = Encoding.UTF8.GetBytes("Subject: \u00e4\r\n\r\nx\r\n"), EightBit = true });
        await session.QuitAsync();
        Assert.Equal(expected, result.Recipients[0].Outcome);
    }

    private static async Task<string[]> WaitForFilesAsync(string directory, int count)
    {
        for (var i = 0; i < 100; i++)
        {
            var files = Directory.GetFiles(directory, "*", SearchOption.AllDirectories);
            if (files.Length >= count && files.All(f => new FileInfo(f).Length > 0))
            {
                return files;
            }

            await Task.Delay(50);
        }

        throw new InvalidOperationException("smtp-sink wrote no dump files");
    }

    /// <summary>One smtp-sink process on a free loopback port.</summary>
    private sealed class SmtpSink : IAsyncDisposable
    {
        private const string Program = "/usr/sbin/smtp-sink";
        private readonly Process _process;

        private SmtpSink(Process process, IPEndPoint endpoint)
        {
            _process = process;
            EndPoint = endpoint;
        }

        public IPEndPoint EndPoint { get; }

        public static async Task<SmtpSink> StartAsync(params string[] flags)
        {
            if (!File.Exists(Program))
            {
                throw new InvalidOperationException($"{Program} is missing: install postfix (build.sh does)");
            }

            var endpoint = new IPEndPoint(IPAddress.Loopback, TestPorts.Free());
            var start = new ProcessStartInfo(Program) { RedirectStandardError = true, RedirectStandardOutput = true };
            if (Environment.UserName == "root")
            {
                // smtp-sink refuses to run as root without a user to switch to.
                start.ArgumentList.Add("-u");
                start.ArgumentList.Add("nobody");
            }

            foreach (var flag in flags)
            {
                start.ArgumentList.Add(flag);
            }

            start.ArgumentList.Add($"127.0.0.1:{endpoint.Port}");
            start.ArgumentList.Add("16");
            var process = Process.Start(start)!;
            var sink = new SmtpSink(process, endpoint);
            for (var i = 0; i < 100; i++)
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException("smtp-sink exited: " + await process.StandardError.ReadToEndAsync());
                }

                if (await sink.ListensAsync())
                {
                    return sink;
                }

                await Task.Delay(50);
            }

            await sink.DisposeAsync();
            throw new InvalidOperationException("smtp-sink did not start listening");
        }

        public async Task<Stream> ConnectAsync()
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(EndPoint);
            return new NetworkStream(socket, ownsSocket: true);
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill();
            }

            await _process.WaitForExitAsync();
            _process.Dispose();
        }


        /// <summary>A listening check that opens no SMTP session (a session would count against -n/-M and log).</summary>
        private async Task<bool> ListensAsync()
        {
            try
            {
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(EndPoint);
                socket.LingerState = new LingerOption(true, 0);
                return true;
            }
            catch (SocketException)
            {
                return false;
            }
        }
    }
}
