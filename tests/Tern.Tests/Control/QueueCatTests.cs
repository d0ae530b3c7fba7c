using System.Net.Sockets;
using System.Text;
using Tern.Cli;
using Tern.Control;
using Tern.Spool;

namespace Tern.Tests.Control;

/// <summary>
/// <c>tern queue cat</c> and the control socket's cat operation on a real spool and unix socket: the
/// message byte for byte (CRLF, 8-bit, larger than one piece of the answer), refusals as <c>queue show</c> gives them.
/// </summary>
public sealed class QueueCatTests() : ControlFixture("tern-cat-")
{
    private const string UnknownId = "01M8HZX7Y5V96DBCEMYNVE69H2";

    /// <summary>A header section and a body with CRLF lines and bytes that are not UTF-8.</summary>
    private static byte[] Message(int bodyBytes)
    {
        var head = Encoding.ASCII.GetBytes("Received: from client.example.org by mx.example.net (Tern)\r\nFrom: <alice@example.org>\r\nSubject: cat\r\n\r\n");
        var body = new byte[bodyBytes];
        for (var i = 0; i < body.Length; i++)
        {
            body[i] = (i % 80) switch { 78 => (byte)'\r', 79 => (byte)'\n', var c => (byte)(0x80 + c) };
        }

        return [.. head, .. body];
    }

    private async Task<string> Store(byte[] message)
    {
        using var w = Spool.Begin();
        w.Envelope.SetSender("alice@example.org"u8);
        w.Envelope.AddRecipient("bob@example.net"u8, StoredNotify.Failure, []);
        w.Envelope.SetClient("127.0.0.1"u8);
        w.Envelope.SetListener("relay"u8);
        w.Envelope.EightBit = true;
        w.Write(message);
        Assert.True(await w.CommitAsync(CancellationToken.None));
        await Spool.CaughtUpAsync();
        return w.Id.ToString();
    }

    /// <summary>Sends a request line and reads everything the server sends until it closes.</summary>
    private async Task<byte[]> Exchange(string json)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath));
        await using var stream = new NetworkStream(socket);
        await stream.WriteAsync(Encoding.UTF8.GetBytes(json + "\n"));
        using var all = new MemoryStream();
        await stream.CopyToAsync(all);
        return all.ToArray();
    }

    [Fact]
    public async Task Cat_prints_a_queued_message_byte_for_byte()
    {
        foreach (var size in new[] { 0, 200, 300_000 })
        {
            var message = Message(size);
            var id = await Store(message);

            // In-process standard output is text: one character per byte, so the bytes come back exactly.
            var (code, output, error) = await Tern("queue", "cat", id);
            Assert.True(code == ExitCodes.Ok, error);
            Assert.Empty(error);
            Assert.Equal(message, Encoding.Latin1.GetBytes(output));
        }
    }

    [Fact]
    public async Task The_socket_answers_with_a_size_line_then_exactly_the_raw_message()
    {
        var message = Message(150_000);
        var id = await Store(message);

        var answer = await Exchange($"{{\"op\":\"cat\",\"id\":\"{id}\"}}");
        var nl = Array.IndexOf(answer, (byte)'\n');
        var response = ControlJson.DecodeResponse(answer.AsSpan(0, nl));
        Assert.True(response.Ok);
        Assert.Equal(message.Length, response.Size);
        Assert.Equal(message, answer[(nl + 1)..]);
        Assert.DoesNotContain("content", Encoding.UTF8.GetString(answer, 0, nl), StringComparison.Ordinal);

        // The client copies it to any stream as it arrives.
        using var copy = new MemoryStream();
        var reply = await new ControlClient(SocketPath).SendForContentAsync(new ControlRequest { Op = ControlOps.Cat, Id = id }, copy);
        Assert.True(reply.Response.Ok);
        Assert.Equal(message, copy.ToArray());
    }

    [Fact]
    public async Task A_retired_message_is_printed_while_its_body_is_in_the_spool()
    {
        var message = Message(1_000);
        var id = await Store(message);
        Assert.Contains("1 message dropped", await Ok("queue", "drop", id), StringComparison.Ordinal);
        Assert.Contains("retired", await Ok("queue", "show", id), StringComparison.Ordinal);

        var (code, output, error) = await Tern("queue", "cat", id);
        Assert.True(code == ExitCodes.Ok, error);
        Assert.Equal(message, Encoding.Latin1.GetBytes(output));
    }

    [Fact]
    public async Task Unknown_and_malformed_ids_are_refused_as_show_refuses_them()
    {
        await Store(Message(10));

        var (code, output, error) = await Tern("queue", "cat", UnknownId);
        Assert.Equal(ExitCodes.Failure, code);
        Assert.Empty(output);
        Assert.Equal($"tern: no message {UnknownId} in the queue or its history\n", error.ReplaceLineEndings("\n"));
        Assert.Equal(ExitCodes.Failure, (await Tern("queue", "show", UnknownId)).Code);

        await Usage("not a message id: nope", "queue", "cat", "nope");
        await Usage("Required argument missing", "queue", "cat");

        // On the socket: one error line and nothing after it.
        var notFound = await Raw($"{{\"op\":\"cat\",\"id\":\"{UnknownId}\"}}");
        Assert.False(notFound.Ok);
        Assert.Equal(ControlErrorCodes.NotFound, notFound.Code);
        Assert.Null(notFound.Size);
        var malformed = await Raw("{\"op\":\"cat\"}");
        Assert.Equal(ControlErrorCodes.BadRequest, malformed.Code);
        Assert.Equal("cat: not a message id: (null)", malformed.Error);
    }

    [Fact]
    public async Task Without_a_server_cat_exits_69()
    {
        var id = await Store(Message(10));
        await Server.DisposeAsync();
        var (code, output, error) = await Tern("queue", "cat", id);
        Assert.Equal(ExitCodes.Unavailable, code);
        Assert.Empty(output);
        Assert.Contains("tern is not running", error, StringComparison.Ordinal);
    }
}
