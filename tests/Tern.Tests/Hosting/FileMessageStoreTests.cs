using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Tern.Hosting;
using Tern.Observability.Metrics;
using Tern.Smtp.Server;

namespace Tern.Tests.Hosting;

public sealed class FileMessageStoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tern-queue-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public async Task Stores_the_envelope_with_dsn_parameters_and_the_message()
    {
        var store = new FileMessageStore(Path.Combine(_dir, "queue"));
        await using var server = new SmtpServer(
            new SmtpServerOptions
            {
                Hostname = "mx.tern.test",
                RelayNetworks = [IPNetwork.Parse("127.0.0.0/8")],
                Listeners = [new SmtpListenerOptions { Name = "relay", Kind = ListenerKind.Relay, Endpoint = new IPEndPoint(IPAddress.Loopback, 0) }],
            },
            store,
            NullLoggerFactory.Instance,
            NullMetrics.Instance);
        server.Start();

        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.BoundEndpoints[0]);
        using var stream = tcp.GetStream();
        var script = "EHLO c.example\r\nMAIL FROM:<a@example.org> RET=HDRS ENVID=QQ314159\r\nRCPT TO:<b@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@example.net\r\nRCPT TO:<c@example.net>\r\nDATA\r\nSubject: stored\r\n\r\nbody\r\n.\r\nQUIT\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(script));
        using var reader = new StreamReader(stream);
        var replies = await reader.ReadToEndAsync();
        Assert.Contains("250 2.0.0 OK id=", replies, StringComparison.Ordinal);

        var file = Assert.Single(Directory.GetFiles(Path.Combine(_dir, "queue"), "*.eml"));
        var text = await File.ReadAllTextAsync(file);
        Assert.StartsWith(
            "X-Tern-Sender: <a@example.org>\r\n" +
            "X-Tern-Recipient: <b@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@example.net\r\n" +
            "X-Tern-Recipient: <c@example.net>\r\n" +
            "X-Tern-Ret: HDRS\r\n" +
            "X-Tern-Envid: QQ314159\r\n" +
            "X-Tern-Flags: tls=no smtputf8=no requiretls=no 8bit=no body=Unspecified\r\n" +
            "X-Tern-Client: 127.0.0.1:",
            text,
            StringComparison.Ordinal);
        Assert.EndsWith("\r\nSubject: stored\r\n\r\nbody\r\n", text, StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        Assert.Empty(Directory.GetFiles(Path.Combine(_dir, "queue", "tmp")));
        Assert.Equal(1, store.Count);
    }

    [Fact]
    public void Leftovers_of_a_crash_in_tmp_are_removed_at_start()
    {
        var queue = Path.Combine(_dir, "queue");
        Directory.CreateDirectory(Path.Combine(queue, "tmp"));
        File.WriteAllText(Path.Combine(queue, "tmp", "HALF"), "never acknowledged");
        _ = new FileMessageStore(queue);
        Assert.Empty(Directory.GetFiles(Path.Combine(queue, "tmp")));
    }
}
