using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.RegularExpressions;
using Tern.Load.Report;

namespace Tern.Load.Tests.Send;

/// <summary>
/// <c>tern-load send</c> against a small SMTP server written here, for what smtp-sink cannot do:
/// CHUNKING (BDAT), refusing some recipients only, a failure every n-th message, and never answering.
/// </summary>
public sealed class SendFaultTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(6)]
    public async Task Chunking_sends_each_message_as_one_bdat_and_keeps_replies_in_order(int window)
    {
        await using var server = FakeSmtpServer.Start(new FakeSmtpServer.Behaviour());
        using var dir = new TempDir();
        var ids = Path.Combine(dir.Path, "ids.txt");
        var run = await SendHarness.RunAsync("--target", server.Target, "--sessions", "3", "--messages", "150", "--chunking", "on",
            "--window", window.ToString(), "--size", "1k:1,3k:1", "--per-connection", "0", "--ids", ids);

        Assert.Equal(0, run.Code);
        Assert.Equal(150, run.Result.Stats.Ok);
        Assert.Equal(150, server.BdatMessages);
        Assert.Equal(0, server.DataMessages);
        Assert.Equal(3, run.Result.Stats.Connections);
        Assert.Equal(150, server.MessageIds.Distinct().Count());

        // The id file pairs each id with the reply the server gave that very message.
        var lines = await File.ReadAllLinesAsync(ids);
        Assert.Equal(150, lines.Length);
        foreach (var line in lines)
        {
            var (id, reply) = (line.Split('\t')[0], line.Split('\t')[1]);
            Assert.Equal($"250 2.0.0 Ok queued as {id}", reply);
        }
    }

    [Fact]
    public async Task Pipelined_data_with_window_two_pairs_replies_with_messages()
    {
        await using var server = FakeSmtpServer.Start(new FakeSmtpServer.Behaviour { Chunking = false });
        using var dir = new TempDir();
        var ids = Path.Combine(dir.Path, "ids.txt");
        var run = await SendHarness.RunAsync("--target", server.Target, "--sessions", "2", "--messages", "100", "--window", "4", "--ids", ids);
        Assert.Equal(100, run.Result.Stats.Ok);
        Assert.Equal(100, server.DataMessages);
        Assert.All(await File.ReadAllLinesAsync(ids), line => Assert.Equal($"250 2.0.0 Ok queued as {line.Split('\t')[0]}", line.Split('\t')[1]));
    }

    [Theory]
    [InlineData("on", "off")]
    [InlineData("on", "on")]
    [InlineData("off", "off")]
    [InlineData("off", "on")]
    public async Task Refused_recipients_are_counted_and_a_message_fails_only_when_all_are(string pipelining, string chunking)
    {
        await using var server = FakeSmtpServer.Start(new FakeSmtpServer.Behaviour { RcptCode = a => a.EndsWith("@bad.test>", StringComparison.Ordinal) ? 550 : 250 });
        var run = await SendHarness.RunAsync("--target", server.Target, "--sessions", "2", "--messages", "200", "--recipients", "2",
            "--rcpt-domains", "good.test:1,bad.test:1", "--pipelining", pipelining, "--chunking", chunking, "--window", pipelining == "on" ? "3" : "1");

        // Each message has two recipients drawn from two domains: some have none good (failed with 550).
        var failed = run.Result.Stats.Failed;
        Assert.Equal(200, run.Result.Stats.Ok + failed);
        Assert.InRange(failed, 20, 80);
        Assert.Equal([(550, failed)], run.Result.Stats.FailuresByCode());
        Assert.Equal(server.RcptRefused, run.Result.RecipientsRejected);
        Assert.Equal(run.Result.Stats.Ok, server.Accepted);

        // A failed transaction is reset before the next (smtp state stays in step: no 503 anywhere).
        Assert.Equal(0, server.OutOfSequence);
    }

    [Theory]
    [InlineData("on", "off")]
    [InlineData("on", "on")]
    [InlineData("off", "off")]
    public async Task A_failure_at_the_end_of_data_counts_with_its_code(string pipelining, string chunking)
    {
        await using var server = FakeSmtpServer.Start(new FakeSmtpServer.Behaviour { FinalCode = n => n % 3 == 0 ? 451 : 250 });
        var run = await SendHarness.RunAsync("--target", server.Target, "--sessions", "1", "--messages", "90", "--pipelining", pipelining,
            "--chunking", chunking, "--window", pipelining == "on" ? "2" : "1", "--per-connection", "0");
        Assert.Equal(60, run.Result.Stats.Ok);
        Assert.Equal([(451, 30L)], run.Result.Stats.FailuresByCode());
        Assert.Equal(0, server.OutOfSequence);
    }

    [Fact]
    public async Task A_reply_that_never_comes_is_a_timeout()
    {
        await using var server = FakeSmtpServer.Start(new FakeSmtpServer.Behaviour { FinalCode = n => n >= 3 ? 0 : 250 });
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var run = await SendHarness.RunAsync("--target", server.Target, "--sessions", "1", "--messages", "4", "--timeout", "2s", "--per-connection", "0");
        Assert.Equal(2, run.Result.Stats.Ok);
        Assert.Equal(2, run.Result.Stats.FailuresOf(FailureKind.Timeout));

        // Two timeouts of 2 s each: the run does not wait for the replies that never come.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), $"took {watch.Elapsed}");
    }

    [Fact]
    public async Task Nothing_listening_stops_the_run_with_a_connect_failure()
    {
        var run = await SendHarness.RunAsync("--target", $"127.0.0.1:{TestPorts.Free()}", "--messages", "1000");
        Assert.Equal(1, run.Code);
        Assert.Contains("cannot connect", run.Stderr, StringComparison.Ordinal);
        Assert.Equal(0, run.Result.Stats.Ok);
        Assert.InRange(run.Result.Stats.FailuresOf(FailureKind.Connect), 1, 10);
    }

    [Fact]
    public async Task Starttls_then_auth_plain_over_tls()
    {
        await using var server = FakeSmtpServer.Start(new FakeSmtpServer.Behaviour { StartTls = true });
        var run = await SendHarness.RunAsync("--target", server.Target, "--sessions", "2", "--messages", "40", "--per-connection", "10",
            "--starttls", "--auth", "load:secret", "--chunking", "on", "--window", "4");
        Assert.Equal(0, run.Code);
        Assert.Equal(40, run.Result.Stats.Ok);
        Assert.Equal(run.Result.Stats.Connections, server.TlsSessions);
        Assert.All(server.AuthPlain, a => Assert.Equal("TLS \0load\0secret", a));
        Assert.Equal(run.Result.Stats.Connections, server.AuthPlain.Count);
    }

    [Fact]
    public async Task Starttls_against_a_server_without_it_stops_the_run()
    {
        await using var server = FakeSmtpServer.Start(new FakeSmtpServer.Behaviour());
        var run = await SendHarness.RunAsync("--target", server.Target, "--messages", "10", "--starttls");
        Assert.Equal(1, run.Code);
        Assert.Contains("does not offer STARTTLS", run.Stderr, StringComparison.Ordinal);
        Assert.Equal(0, run.Result.Stats.Ok);
    }

    [Fact]
    public async Task Auth_plain_is_sent_once_per_connection()
    {
        await using var server = FakeSmtpServer.Start(new FakeSmtpServer.Behaviour());
        var run = await SendHarness.RunAsync("--target", server.Target, "--sessions", "2", "--messages", "20", "--per-connection", "5",
            "--auth", "load:secret", "--allow-plain-auth");
        Assert.Equal(20, run.Result.Stats.Ok);
        Assert.Equal(["plain \0load\0secret"], server.AuthPlain.Distinct());
        Assert.Equal(run.Result.Stats.Connections, server.AuthPlain.Count);
    }
}

/// <summary>
/// A tiny SMTP server on 127.0.0.1 for the sender's tests: EHLO with PIPELINING/CHUNKING/AUTH as
/// told, MAIL/RCPT/DATA/BDAT/RSET/QUIT, replies in order, and the faults the behaviour asks for.
/// The final reply names the message's Message-ID so tests can check replies are paired with messages.
/// </summary>
internal sealed partial class FakeSmtpServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly Behaviour _behaviour;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly ConcurrentBag<Task> _sessions = [];
    private int _messages;
    private int _accepted;
    private int _bdat;
    private int _data;
    private int _rcptRefused;
    private int _outOfSequence;
    private int _tls;

    private FakeSmtpServer(Behaviour behaviour)
    {
        _behaviour = behaviour;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public string Target => $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    public ConcurrentBag<string> MessageIds { get; } = [];

    public ConcurrentBag<string> AuthPlain { get; } = [];

    public int Accepted => Volatile.Read(ref _accepted);

    public int BdatMessages => Volatile.Read(ref _bdat);

    public int DataMessages => Volatile.Read(ref _data);

    public int RcptRefused => Volatile.Read(ref _rcptRefused);

    public int OutOfSequence => Volatile.Read(ref _outOfSequence);

    public int TlsSessions => Volatile.Read(ref _tls);

    public static FakeSmtpServer Start(Behaviour behaviour) => new(behaviour);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _accepting;
            await Task.WhenAll(_sessions);
        }
        catch (Exception)
        {
        }

        _stop.Dispose();
    }

    [GeneratedRegex(@"^Message-ID: <([^>]+)>", RegexOptions.Multiline)]
    private static partial Regex MessageIdHeader();

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception)
            {
                return;
            }

            _sessions.Add(Task.Run(() => SessionAsync(socket)));
        }
    }

    private async Task SessionAsync(Socket socket)
    {
        // Replies are small separate writes: without NoDelay, Nagle and delayed ACKs add 40 ms to each.
        socket.NoDelay = true;
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        var reader = new LineReader(stream);
        var tls = false;
        try
        {
            await Reply("220 fake ESMTP");
            var inMail = false;
            var rcpts = 0;
            while (true)
            {
                var line = await reader.ReadLineAsync(_stop.Token);
                if (line is null)
                {
                    return;
                }

                var verb = line.Split(' ')[0].ToUpperInvariant();
                switch (verb)
                {
                    case "EHLO":
                        await Reply("250-fake" + (_behaviour.Pipelining ? "\r\n250-PIPELINING" : "") + (_behaviour.Chunking ? "\r\n250-CHUNKING" : "")
                            + (_behaviour.StartTls && !tls ? "\r\n250-STARTTLS" : "") + "\r\n250-AUTH PLAIN\r\n250 SIZE 10000000");
                        break;
                    case "STARTTLS":
                        await Reply("220 2.0.0 go ahead");
                        var ssl = new SslStream(stream);
                        await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = Certificate.Value }, _stop.Token);
                        (stream, tls) = (ssl, true);
                        reader = new LineReader(stream);
                        Interlocked.Increment(ref _tls);
                        break;
                    case "AUTH":
                        AuthPlain.Add((tls ? "TLS " : "plain ") + Encoding.UTF8.GetString(Convert.FromBase64String(line.Split(' ')[2])));
                        await Reply("235 2.7.0 ok");
                        break;
                    case "MAIL":
                        if (inMail)
                        {
                            Interlocked.Increment(ref _outOfSequence);
                            await Reply("503 5.5.1 nested MAIL");
                            break;
                        }

                        (inMail, rcpts) = (true, 0);
                        await Reply("250 2.1.0 ok");
                        break;
                    case "RCPT":
                        var code = inMail ? _behaviour.RcptCode(line[8..]) : 503;
                        if (code == 250)
                        {
                            rcpts++;
                        }
                        else if (inMail)
                        {
                            Interlocked.Increment(ref _rcptRefused);
                        }

                        await Reply(code == 250 ? "250 2.1.5 ok" : $"{code} 5.1.1 refused");
                        break;
                    case "DATA":
                        if (!inMail || rcpts == 0)
                        {
                            await Reply("554 5.5.1 no valid recipients");
                            break;
                        }

                        await Reply("354 go ahead");
                        var content = new StringBuilder();
                        while (await reader.ReadLineAsync(_stop.Token) is { } dataLine && dataLine != ".")
                        {
                            content.Append(dataLine).Append("\r\n");
                        }

                        Interlocked.Increment(ref _data);
                        inMail = false;
                        await Final(content.ToString());
                        break;
                    case "BDAT":
                        var parts = line.Split(' ');
                        var chunk = Encoding.ASCII.GetString(await reader.ReadBytesAsync(int.Parse(parts[1]), _stop.Token));
                        if (!inMail || rcpts == 0 || parts.Length < 3)
                        {
                            inMail = false;
                            await Reply("554 5.5.1 no valid recipients");
                            break;
                        }

                        Interlocked.Increment(ref _bdat);
                        inMail = false;
                        await Final(chunk);
                        break;
                    case "RSET":
                        inMail = false;
                        await Reply("250 2.0.0 ok");
                        break;
                    case "QUIT":
                        await Reply("221 2.0.0 bye");
                        return;
                    default:
                        await Reply("502 5.5.2 unknown");
                        break;
                }
            }
        }
        catch (Exception)
        {
        }
        finally
        {
            await stream.DisposeAsync();
        }

        async Task Final(string content)
        {
            var n = Interlocked.Increment(ref _messages);
            var id = MessageIdHeader().Match(content).Groups[1].Value;
            var code = _behaviour.FinalCode(n);
            if (code == 0)
            {
                // Never answer: the client's timeout has to end this.
                await Task.Delay(Timeout.Infinite, _stop.Token);
            }

            if (code == 250)
            {
                MessageIds.Add(id);
                Interlocked.Increment(ref _accepted);
                await Reply($"250 2.0.0 Ok queued as {id}");
            }
            else
            {
                await Reply($"{code} 4.3.0 try later");
            }
        }

        async Task Reply(string text) => await stream.WriteAsync(Encoding.ASCII.GetBytes(text + "\r\n"), _stop.Token);
    }

    private static readonly Lazy<X509Certificate2> Certificate = new(() =>
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=fake.test", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pfx), null);
    });

    /// <summary>What the server offers and which faults it injects.</summary>
    public sealed record Behaviour
    {
        public bool Pipelining { get; init; } = true;

        public bool Chunking { get; init; } = true;

        /// <summary>Offer STARTTLS (RFC 3207) with a self-signed certificate.</summary>
        public bool StartTls { get; init; }

        /// <summary>The code for a RCPT, given its argument ("&lt;u1@example.test&gt;").</summary>
        public Func<string, int> RcptCode { get; init; } = _ => 250;

        /// <summary>The final reply code for the n-th message (from 1, across connections); 0: never answer.</summary>
        public Func<int, int> FinalCode { get; init; } = _ => 250;
    }

    /// <summary>CRLF lines and exact byte counts from a stream.</summary>
    private sealed class LineReader(Stream stream)
    {
        private readonly byte[] _buffer = new byte[64 * 1024];
        private int _start;
        private int _end;

        public async Task<string?> ReadLineAsync(CancellationToken cancel)
        {
            while (true)
            {
                var lf = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
                if (lf >= 0)
                {
                    var line = Encoding.ASCII.GetString(_buffer, _start, lf - _start).TrimEnd('\r');
                    _start = lf + 1;
                    return line;
                }

                if (!await FillAsync(cancel))
                {
                    return null;
                }
            }
        }

        public async Task<byte[]> ReadBytesAsync(int count, CancellationToken cancel)
        {
            var result = new byte[count];
            var done = 0;
            while (done < count)
            {
                if (_start == _end && !await FillAsync(cancel))
                {
                    throw new EndOfStreamException();
                }

                var n = Math.Min(count - done, _end - _start);
                Array.Copy(_buffer, _start, result, done, n);
                (_start, done) = (_start + n, done + n);
            }

            return result;
        }

        private async Task<bool> FillAsync(CancellationToken cancel)
        {
            if (_start > 0)
            {
                Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
                (_end, _start) = (_end - _start, 0);
            }

            var n = await stream.ReadAsync(_buffer.AsMemory(_end), cancel);
            _end += n;
            return n > 0;
        }
    }
}
