using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Tern.Smtp.Client;

namespace Tern.Smtp.Tests.Client;

/// <summary>
/// A one-connection SMTP server on 127.0.0.1 that plays a script: expect this line, send that
/// reply, close, start TLS... for the exact edge cases a real server will not produce on demand.
/// A failed expectation faults <see cref="Completion"/> and closes the connection.
/// </summary>
internal sealed class ScriptedServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();

    private ScriptedServer(Func<ScriptConnection, Task> script)
    {
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        EndPoint = (IPEndPoint)_listener.LocalEndpoint;
        Completion = Task.Run(async () =>
        {
            using var socket = await _listener.AcceptSocketAsync(_stop.Token);
            socket.NoDelay = true;
            await using var connection = new ScriptConnection(socket);
            await script(connection);
        });
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>The script's end; faulted when an expectation failed.</summary>
    public Task Completion { get; }

    public static ScriptedServer Start(Func<ScriptConnection, Task> script) => new(script);

    /// <summary>A connected stream to this server, as the delivery layer would hand one to the session.</summary>
    public async Task<Stream> ConnectAsync()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(EndPoint);
        return new NetworkStream(socket, ownsSocket: true);
    }

    /// <summary>Waits for the script to finish and rethrows its failure.</summary>
    public Task FinishAsync() => Completion.WaitAsync(TimeSpan.FromSeconds(20));

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        try
        {
            await Completion.WaitAsync(TimeSpan.FromSeconds(20));
        }
        catch (Exception)
        {
            // Reported by FinishAsync where the test asks for it.
        }

        _stop.Dispose();
    }
}

/// <summary>The server side of one scripted connection.</summary>
internal sealed class ScriptConnection : IAsyncDisposable
{
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(10);
    private readonly Socket _socket;
    private readonly List<byte> _pending = [];
    private Stream _stream;

    public ScriptConnection(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: false);
    }

    /// <summary>Every line received, in order (message data included).</summary>
    public List<string> Received { get; } = [];

    public SslStream? Ssl => _stream as SslStream;

    /// <summary>Sends each line with CRLF, all in one write.</summary>
    public Task SendAsync(params string[] lines) => SendRawAsync(string.Concat(lines.Select(l => l + "\r\n")));

    public async Task SendRawAsync(string text)
    {
        await _stream.WriteAsync(Encoding.UTF8.GetBytes(text));
        await _stream.FlushAsync();
    }

    /// <summary>Sends <paramref name="text"/> one byte per write, so the client sees a reply in many pieces.</summary>
    public async Task SendByteByByteAsync(string text)
    {
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            await _stream.WriteAsync(new[] { b });
            await _stream.FlushAsync();
            await Task.Delay(1);
        }
    }

    /// <summary>Reads a line (without its line end); null at the end of the stream.</summary>
    public async Task<string?> ReadLineAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? ReadTimeout);
        var buffer = new byte[4096];
        while (true)
        {
            var lf = _pending.IndexOf((byte)'\n');
            if (lf >= 0)
            {
                var line = _pending.GetRange(0, lf + 1).ToArray();
                _pending.RemoveRange(0, lf + 1);
                var text = Encoding.UTF8.GetString(line).TrimEnd('\n').TrimEnd('\r');
                Received.Add(text);
                return text;
            }

            int n;
            try
            {
                n = await _stream.ReadAsync(buffer, cts.Token);
            }
            catch (IOException)
            {
                n = 0;
            }

            if (n == 0)
            {
                return null;
            }

            _pending.AddRange(buffer.AsSpan(0, n).ToArray());
        }
    }

    /// <summary>Reads a line and checks that it starts with <paramref name="prefix"/> (ordinal).</summary>
    public async Task<string> ExpectAsync(string prefix)
    {
        var line = await ReadLineAsync() ?? throw new InvalidOperationException($"expected \"{prefix}...\", got the end of the stream");
        if (!line.StartsWith(prefix, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"expected \"{prefix}...\", got \"{line}\"");
        }

        return line;
    }

    /// <summary>Reads DATA content up to the "." line; returns it raw (line ends as sent), without the terminator.</summary>
    public async Task<byte[]> ReadDataAsync()
    {
        using var cts = new CancellationTokenSource(ReadTimeout);
        var buffer = new byte[65536];
        while (true)
        {
            var all = _pending.ToArray();
            var end = FindTerminator(all);
            if (end >= 0)
            {
                _pending.RemoveRange(0, end + 3);
                Received.Add(".");
                return all.AsSpan(0, end).ToArray();
            }

            var n = await _stream.ReadAsync(buffer, cts.Token);
            if (n == 0)
            {
                throw new InvalidOperationException("end of stream inside DATA");
            }

            _pending.AddRange(buffer.AsSpan(0, n).ToArray());
        }
    }

    public async Task<byte[]> ReadExactlyAsync(int count)
    {
        using var cts = new CancellationTokenSource(ReadTimeout);
        var buffer = new byte[65536];
        while (_pending.Count < count)
        {
            var n = await _stream.ReadAsync(buffer, cts.Token);
            if (n == 0)
            {
                throw new InvalidOperationException("end of stream inside BDAT");
            }

            _pending.AddRange(buffer.AsSpan(0, n).ToArray());
        }

        var data = _pending.GetRange(0, count).ToArray();
        _pending.RemoveRange(0, count);
        return data;
    }

    /// <summary>Checks that the client sends nothing more and closes.</summary>
    public async Task ExpectEndAsync()
    {
        var line = await ReadLineAsync();
        if (line is not null)
        {
            throw new InvalidOperationException($"expected the end of the stream, got \"{line}\"");
        }
    }

    /// <summary>Server side of a TLS handshake (after "220" to STARTTLS, or at once for implicit TLS).</summary>
    public async Task StartTlsAsync(X509Certificate2 certificate, Action<SslServerAuthenticationOptions>? configure = null)
    {
        if (_pending.Count > 0)
        {
            throw new InvalidOperationException("client pipelined data after STARTTLS");
        }

        var ssl = new SslStream(_stream, leaveInnerStreamOpen: true);
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificate = certificate,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        };
        configure?.Invoke(options);
        await ssl.AuthenticateAsServerAsync(options);
        _stream = ssl;
    }

    /// <summary>Closes the connection now (FIN).</summary>
    public void Close()
    {
        _socket.Shutdown(SocketShutdown.Both);
        _socket.Close();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _stream.DisposeAsync();
        }
        catch (IOException)
        {
            // Peer gone.
        }

        _socket.Dispose();
    }

    private static int FindTerminator(byte[] data)
    {
        if (data.Length >= 3 && data[0] == '.' && data[1] == '\r' && data[2] == '\n')
        {
            return 0;
        }

        var i = data.AsSpan().IndexOf("\r\n.\r\n"u8);
        return i < 0 ? -1 : i + 2;
    }
}

/// <summary>Shared pieces of the client tests.</summary>
internal static class ClientTest
{
    private static readonly Lazy<X509Certificate2> LazyCertificate = new(() => CreateCertificate("mx.client.test"));

    /// <summary>A self-signed certificate with its key, for scripted TLS servers.</summary>
    public static X509Certificate2 Certificate => LazyCertificate.Value;

    public static SmtpClientTimeouts ShortTimeouts { get; } = new()
    {
        Greeting = TimeSpan.FromSeconds(5),
        Command = TimeSpan.FromSeconds(5),
        TlsHandshake = TimeSpan.FromSeconds(5),
        Mail = TimeSpan.FromSeconds(5),
        Rcpt = TimeSpan.FromSeconds(5),
        DataInitiation = TimeSpan.FromSeconds(5),
        DataBlock = TimeSpan.FromSeconds(5),
        DataTermination = TimeSpan.FromSeconds(5),
        Session = TimeSpan.FromSeconds(60),
    };

    public static SmtpClientOptions Options(SmtpTlsMode tls = SmtpTlsMode.None, bool ignoreVerification = true) => new()
    {
        LocalHostname = "client.example.org",
        TlsMode = tls,
        Tls = new ClientTlsOptions { ServerName = "mx.client.test", IgnoreVerificationErrors = ignoreVerification },
        Timeouts = ShortTimeouts,
    };

    /// <summary>The EHLO reply of a scripted server with PIPELINING.</summary>
    public const string EhloPipelining = "250-mx.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES";

    /// <summary>A session opened (greeting, EHLO) on a scripted server.</summary>
    public static async Task<SmtpClientSession> OpenAsync(ScriptedServer server, SmtpClientOptions? options = null)
    {
        var session = new SmtpClientSession(await server.ConnectAsync(), options ?? Options());
        var failure = await session.OpenAsync();
        Assert.Null(failure);
        return session;
    }

    /// <summary>The server's side of the greeting and EHLO.</summary>
    public static async Task GreetAsync(ScriptConnection c, string ehlo = EhloPipelining)
    {
        await c.SendAsync("220 mx.test ESMTP");
        await c.ExpectAsync("EHLO client.example.org");
        await c.SendRawAsync(ehlo + "\r\n");
    }

    public static SmtpMessage Message(params string[] recipients) => new()
    {
        Sender = "alice@example.org",
        Recipients = recipients.Select(r => new SmtpRecipient(r)).ToArray(),
        Content = Encoding.ASCII.GetBytes("Subject: test\r\n\r\nHello.\r\n"),
    };

    public static X509Certificate2 CreateCertificate(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(30));
    }
}
