using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace Tern.Smtp.Tests.Hostile;

/// <summary>A line-oriented SMTP client over a socket bound to a chosen loopback source (RawClient cannot choose it).</summary>
internal sealed class LineClient : IAsyncDisposable
{
    private Stream _stream;
    private readonly List<byte> _pending = [];

    private LineClient(Stream stream) => _stream = stream;

    public SslStream? Ssl => _stream as SslStream;

    public static async Task<LineClient> ConnectAsync(IPEndPoint server, int sourceIndex)
    {
        var c = new LineClient(new NetworkStream(await Hostile.ConnectFromAsync(server, sourceIndex), ownsSocket: true));
        Assert.StartsWith("220 ", await c.ReadReplyAsync(), StringComparison.Ordinal);
        return c;
    }

    /// <summary>EHLO, STARTTLS, handshake, EHLO again; returns the second EHLO reply.</summary>
    public async Task<string> StartTlsAsync(System.Security.Authentication.SslProtocols protocols = System.Security.Authentication.SslProtocols.None)
    {
        await CommandAsync("EHLO client.example");
        Assert.Equal("220 2.0.0 Ready to start TLS", await CommandAsync("STARTTLS"));
        var ssl = new SslStream(_stream, false, (_, _, _, _) => true);
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "mx.tern.test", EnabledSslProtocols = protocols });
        _stream = ssl;
        return await CommandAsync("EHLO client.example");
    }

    public async Task<string> CommandAsync(string line)
    {
        await _stream.WriteAsync(Encoding.UTF8.GetBytes(line + "\r\n"));
        await _stream.FlushAsync();
        return await ReadReplyAsync();
    }

    public async Task<string> ReadReplyAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var lines = new List<string>();
        var buf = new byte[1];
        while (true)
        {
            var nl = _pending.IndexOf((byte)'\n');
            if (nl >= 0)
            {
                var line = Encoding.UTF8.GetString([.. _pending.GetRange(0, nl)]).TrimEnd('\r');
                _pending.RemoveRange(0, nl + 1);
                lines.Add(line);
                if (line.Length < 4 || line[3] != '-')
                {
                    return string.Join("\n", lines);
                }

                continue;
            }

            if (await _stream.ReadAsync(buf, cts.Token) == 0)
            {
                lines.Add("<closed>");
                return string.Join("\n", lines);
            }

            _pending.Add(buf[0]);
        }
    }

    public async ValueTask DisposeAsync() => await _stream.DisposeAsync();
}
