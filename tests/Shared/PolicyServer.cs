using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Tern.Tests.Support;

/// <summary>
/// A policy host for the tests: TcpListener on 127.0.0.1 (random port) + SslStream + a minimal
/// HTTP/1.1 responder whose answer is scripted (<see cref="Reply"/>), one request a connection.
/// Counts the requests that got past TLS and keeps what each asked.
/// </summary>
public sealed class PolicyServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentBag<Task> _connections = [];
    private readonly Task _accept;
    private int _requests;

    private PolicyServer(X509Certificate2 certificate, Reply reply)
    {
        Certificate = certificate;
        Script = () => reply;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _accept = AcceptAsync();
    }

    /// <summary>One scripted answer.</summary>
    /// <param name="Status">The HTTP status.</param>
    /// <param name="Body">The body (UTF-8), unless <paramref name="RawBody"/>.</param>
    /// <param name="Location">A Location header.</param>
    /// <param name="Hang">Read the request, then answer nothing until the client gives up.</param>
    /// <param name="OmitLength">No Content-Length: the body ends when the connection closes.</param>
    /// <param name="Delay">Wait this long before answering.</param>
    /// <param name="RawBody">The body as bytes.</param>
    /// <param name="ContentType">The Content-Type header (null: none).</param>
    /// <param name="BodyDelay">Send the headers, then wait this long before the body.</param>
    public sealed record Reply(int Status, string Body = "", string? Location = null, bool Hang = false, bool OmitLength = false,
        TimeSpan Delay = default, byte[]? RawBody = null, string? ContentType = "text/plain", TimeSpan BodyDelay = default)
    {
        public static Reply Policy(string body) => new(200, body);
    }

    public static PolicyServer Start(X509Certificate2 certificate, Reply reply) => new(certificate, reply);

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>The certificate presented from the next connection on.</summary>
    public X509Certificate2 Certificate { get; set; }

    /// <summary>When set, the certificate for the name the client asks for (SNI) instead of <see cref="Certificate"/>.</summary>
    public Func<string, X509Certificate2>? CertificateFor { get; set; }

    /// <summary>The answer to the next request.</summary>
    public Func<Reply> Script { get; set; }

    /// <summary>Requests received (connections whose TLS handshake failed are not counted).</summary>
    public int Requests => Volatile.Read(ref _requests);

    /// <summary>For each request: "SNI|request line|Host header".</summary>
    public ConcurrentQueue<string> Seen { get; } = new();

    /// <summary>Connections accepted (with or without a request).</summary>
    public int Connections { get; private set; }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            Connections++;
            _connections.Add(ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        try
        {
            await using var ssl = new SslStream(client.GetStream());
            using (var handshake = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token))
            {
                handshake.CancelAfter(TimeSpan.FromSeconds(10));
                var options = CertificateFor is { } select
                    ? new SslServerAuthenticationOptions { ServerCertificateSelectionCallback = (_, name) => select(name ?? "") }
                    : new SslServerAuthenticationOptions { ServerCertificate = Certificate };
                await ssl.AuthenticateAsServerAsync(options, handshake.Token);
            }
            var head = await ReadHeadAsync(ssl);
            if (head is null)
                return;
            Interlocked.Increment(ref _requests);
            var lines = head.Split("\r\n");
            var host = lines.FirstOrDefault(l => l.StartsWith("Host:", StringComparison.OrdinalIgnoreCase))?[5..].Trim();
            Seen.Enqueue($"{ssl.TargetHostName}|{lines[0]}|{host}");

            var reply = Script();
            if (reply.Delay > TimeSpan.Zero)
                await Task.Delay(reply.Delay, _stop.Token);
            if (reply.Hang)
                await Task.Delay(Timeout.Infinite, _stop.Token);
            var body = reply.RawBody ?? Encoding.UTF8.GetBytes(reply.Body);
            var response = new StringBuilder();
            response.Append($"HTTP/1.1 {reply.Status} {Reason(reply.Status)}\r\n");
            if (reply.ContentType is not null)
                response.Append($"Content-Type: {reply.ContentType}\r\n");
            if (reply.Location is not null)
                response.Append($"Location: {reply.Location}\r\n");
            if (!reply.OmitLength)
                response.Append($"Content-Length: {body.Length}\r\n");
            response.Append("Connection: close\r\n\r\n");
            await ssl.WriteAsync(Encoding.ASCII.GetBytes(response.ToString()), _stop.Token);
            if (reply.BodyDelay > TimeSpan.Zero)
            {
                await ssl.FlushAsync(_stop.Token);
                await Task.Delay(reply.BodyDelay, _stop.Token);
            }
            await ssl.WriteAsync(body, _stop.Token);
            await ssl.FlushAsync(_stop.Token);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException or ObjectDisposedException or SocketException)
        {
            // The client went away (refused our certificate, timed out, read enough): nothing to answer.
        }
    }

    private static async Task<string?> ReadHeadAsync(Stream stream)
    {
        var buffer = new byte[16 * 1024];
        var length = 0;
        while (length < buffer.Length)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(length));
            if (read == 0)
                return null;
            length += read;
            var text = Encoding.ASCII.GetString(buffer, 0, length);
            var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end >= 0)
                return text[..end];
        }
        return null;
    }

    private static string Reason(int status) => status switch
    {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Status",
    };

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accept;
        await Task.WhenAll(_connections);
        _stop.Dispose();
    }
}
