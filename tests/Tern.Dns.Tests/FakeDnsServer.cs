using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Tern.Dns.Tests;

/// <summary>What <see cref="FakeDnsServer"/> answers to one query; null from the handler: no answer at all.</summary>
internal sealed record FakeAnswer
{
    public int Rcode { get; init; }

    public bool Authentic { get; init; }

    public IReadOnlyList<FakeRecord> Answers { get; init; } = [];

    /// <summary>An SOA record in the authority section (RFC 2308 negative caching): its TTL and MINIMUM.</summary>
    public (uint Ttl, uint Minimum)? Soa { get; init; }
}

/// <summary>A record owned by the query name.</summary>
internal sealed record FakeRecord(ushort Type, uint Ttl, byte[] Data)
{
    public static FakeRecord A(string address, uint ttl) => new(1, ttl, IPAddress.Parse(address).GetAddressBytes());
}

/// <summary>
/// A UDP DNS server on 127.0.0.1 that answers from a handler, counting queries: for what knot and unbound do not
/// readily produce (NOTIMP, FORMERR, silence) and for counting what the cache saves.
/// </summary>
internal sealed class FakeDnsServer : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly Func<string, ushort, FakeAnswer?> _handler;
    private readonly CancellationTokenSource _stop = new();
    private int _queries;

    public FakeDnsServer(Func<string, ushort, FakeAnswer?> handler)
    {
        _handler = handler;
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        EndPoint = (IPEndPoint)_socket.LocalEndPoint!;
        _ = ServeAsync();
    }

    /// <summary>Never answers: every query times out.</summary>
    public static FakeDnsServer Silent() => new((_, _) => null);

    public static FakeDnsServer Rcode(int rcode) => new((_, _) => new FakeAnswer { Rcode = rcode });

    public IPEndPoint EndPoint { get; }

    public int Queries => Volatile.Read(ref _queries);

    /// <summary>How long each answer waits (on its own task, so queries are not serialized).</summary>
    public TimeSpan Delay { get; init; }

    public void Dispose()
    {
        _stop.Cancel();
        _socket.Dispose();
        _stop.Dispose();
    }

    private async Task ServeAsync()
    {
        var buffer = new byte[4096];
        while (!_stop.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), _stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            Interlocked.Increment(ref _queries);
            var query = buffer.AsSpan(0, received.ReceivedBytes).ToArray();
            _ = AnswerAsync(query, received.RemoteEndPoint);
        }
    }

    private async Task AnswerAsync(byte[] query, EndPoint client)
    {
        var (name, type, questionEnd) = ParseQuestion(query);
        var answer = _handler(name, type);
        if (answer is null)
            return;
        if (Delay > TimeSpan.Zero)
            await Task.Delay(Delay);
        try
        {
            await _socket.SendToAsync(Build(query, questionEnd, answer), SocketFlags.None, client);
        }
        catch (Exception e) when (e is ObjectDisposedException or SocketException)
        {
        }
    }

    private static (string Name, ushort Type, int QuestionEnd) ParseQuestion(byte[] query)
    {
        var labels = new List<string>();
        var at = 12;
        while (query[at] != 0)
        {
            labels.Add(Encoding.ASCII.GetString(query, at + 1, query[at]));
            at += query[at] + 1;
        }
        at++;
        var type = BinaryPrimitives.ReadUInt16BigEndian(query.AsSpan(at));
        return (string.Join('.', labels), type, at + 4);
    }

    private static byte[] Build(byte[] query, int questionEnd, FakeAnswer answer)
    {
        var message = new List<byte>();
        message.AddRange(query.AsSpan(0, 2).ToArray());                  // ID
        var rd = query[2] & 0x01;
        message.Add((byte)(0x80 | rd));                                  // QR, opcode 0, RD copied
        message.Add((byte)(0x80 | (answer.Authentic ? 0x20 : 0) | (answer.Rcode & 0x0f)));   // RA, AD, RCODE
        AddUInt16(message, 1);
        AddUInt16(message, (ushort)answer.Answers.Count);
        AddUInt16(message, (ushort)(answer.Soa is null ? 0 : 1));
        AddUInt16(message, 0);
        message.AddRange(query.AsSpan(12, questionEnd - 12).ToArray());
        foreach (var record in answer.Answers)
            AddRecord(message, record.Type, record.Ttl, record.Data);
        if (answer.Soa is { } soa)
        {
            var data = new List<byte> { 0, 0 };                          // MNAME and RNAME: the root
            foreach (var n in new uint[] { 1, 3600, 600, 86400, soa.Minimum })
                AddUInt32(data, n);
            AddRecord(message, 6, soa.Ttl, [.. data]);
        }
        return [.. message];
    }

    private static void AddRecord(List<byte> message, ushort type, uint ttl, byte[] data)
    {
        message.Add(0xc0);                                               // owner: pointer to the question name
        message.Add(12);
        AddUInt16(message, type);
        AddUInt16(message, 1);
        AddUInt32(message, ttl);
        AddUInt16(message, (ushort)data.Length);
        message.AddRange(data);
    }

    private static void AddUInt16(List<byte> message, ushort value)
    {
        message.Add((byte)(value >> 8));
        message.Add((byte)value);
    }

    private static void AddUInt32(List<byte> message, uint value)
    {
        AddUInt16(message, (ushort)(value >> 16));
        AddUInt16(message, (ushort)value);
    }
}
