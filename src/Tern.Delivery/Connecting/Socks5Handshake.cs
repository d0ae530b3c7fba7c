using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Tern.Delivery;

/// <summary>
/// The client side of a SOCKS5 negotiation on a connection already open to the proxy: method
/// selection (RFC 1928 section 3), username/password (RFC 1929), then CONNECT (RFC 1928 sections
/// 4-6). Reads exactly the lengths the protocol announces (at most 262 bytes for a reply), so no
/// byte of the tunnelled stream is consumed.
/// </summary>
internal static class Socks5Handshake
{
    private const byte Version = 5;
    private const byte MethodNoAuth = 0;
    private const byte MethodUserPass = 2;
    private const byte MethodNone = 0xFF;
    private const byte UserPassVersion = 1;
    private const byte CommandConnect = 1;
    private const byte AtypIPv4 = 1;
    private const byte AtypDomain = 3;
    private const byte AtypIPv6 = 4;

    /// <summary>
    /// Negotiates and asks the proxy to connect to <paramref name="target"/>. Returns the address
    /// the proxy connected from (BND.ADDR/BND.PORT), null when it gave a name. Throws
    /// <see cref="ConnectFailureException"/> on a refusal or protocol error, <see cref="IOException"/> when
    /// the connection breaks.
    /// </summary>
    public static async Task<IPEndPoint?> ConnectAsync(Stream proxy, Socks5Target target, Socks5Credentials? credentials, CancellationToken cancel)
    {
        var buffer = new byte[3 + 255 + 255];

        // Method selection (RFC 1928 section 3): offer username/password only when we have some.
        byte[] greeting = credentials is null ? [Version, 1, MethodNoAuth] : [Version, 2, MethodNoAuth, MethodUserPass];
        await proxy.WriteAsync(greeting, cancel);
        await ReadAsync(proxy, buffer.AsMemory(0, 2), "method selection", cancel);
        if (buffer[0] != Version)
        {
            throw Protocol($"proxy answered with version {buffer[0]}, not SOCKS5");
        }

        switch (buffer[1])
        {
            case MethodNoAuth:
                break;
            case MethodUserPass when credentials is not null:
                await AuthenticateAsync(proxy, credentials, buffer, cancel);
                break;
            case MethodNone:
                throw new ConnectFailureException(ConnectErrorKind.ProxyAuthentication, true, credentials is null
                    ? "SOCKS5 proxy accepts none of the offered methods (it probably requires a username and password)"
                    : "SOCKS5 proxy accepts none of the offered methods (no authentication, username/password)");
            default:
                throw Protocol($"SOCKS5 proxy chose method {buffer[1]}, which was not offered");
        }

        var length = WriteRequest(buffer, target);
        await proxy.WriteAsync(buffer.AsMemory(0, length), cancel);

        // Reply (RFC 1928 section 6): VER REP RSV ATYP, then BND.ADDR and BND.PORT.
        await ReadAsync(proxy, buffer.AsMemory(0, 4), "CONNECT reply", cancel);
        if (buffer[0] != Version)
        {
            throw Protocol($"proxy answered CONNECT with version {buffer[0]}, not SOCKS5");
        }

        var rep = buffer[1];
        if (rep != (byte)Socks5Reply.Succeeded)
        {
            var (kind, fatal) = Socks5Replies.Classify(rep);
            throw new ConnectFailureException(kind, fatal, $"SOCKS5 proxy replied {rep} ({Socks5Replies.Describe(rep)}) to CONNECT {target}", (Socks5Reply)rep);
        }

        var atyp = buffer[3];
        switch (atyp)
        {
            case AtypIPv4:
            case AtypIPv6:
                var size = atyp == AtypIPv4 ? 4 : 16;
                await ReadAsync(proxy, buffer.AsMemory(0, size + 2), "CONNECT reply", cancel);
                return new IPEndPoint(new IPAddress(buffer.AsSpan(0, size)), BinaryPrimitives.ReadUInt16BigEndian(buffer.AsSpan(size)));
            case AtypDomain:
                await ReadAsync(proxy, buffer.AsMemory(0, 1), "CONNECT reply", cancel);
                await ReadAsync(proxy, buffer.AsMemory(0, buffer[0] + 2), "CONNECT reply", cancel);
                return null;
            default:
                throw Protocol($"SOCKS5 proxy replied with unknown address type {atyp}");
        }
    }

    /// <summary>RFC 1929 section 2: VER=1 ULEN UNAME PLEN PASSWD; the reply is VER STATUS, 0 for success.</summary>
    private static async Task AuthenticateAsync(Stream proxy, Socks5Credentials credentials, byte[] buffer, CancellationToken cancel)
    {
        var user = Encoding.UTF8.GetBytes(credentials.Username);
        var password = Encoding.UTF8.GetBytes(credentials.Password);
        if (user.Length is 0 or > 255 || password.Length is 0 or > 255)
        {
            throw new ConnectFailureException(ConnectErrorKind.ProxyAuthentication, true, "SOCKS5 username and password must be 1 to 255 bytes (RFC 1929)");
        }

        buffer[0] = UserPassVersion;
        buffer[1] = (byte)user.Length;
        user.CopyTo(buffer, 2);
        buffer[2 + user.Length] = (byte)password.Length;
        password.CopyTo(buffer, 3 + user.Length);
        var length = 3 + user.Length + password.Length;
        try
        {
            await proxy.WriteAsync(buffer.AsMemory(0, length), cancel);
        }
        finally
        {
            Array.Clear(buffer, 0, length);
        }

        await ReadAsync(proxy, buffer.AsMemory(0, 2), "authentication reply", cancel);
        if (buffer[1] != 0)
        {
            throw new ConnectFailureException(ConnectErrorKind.ProxyAuthentication, true, $"SOCKS5 proxy refused username \"{credentials.Username}\" (status {buffer[1]})");
        }
    }

    /// <summary>RFC 1928 section 4: VER CMD RSV ATYP DST.ADDR DST.PORT.</summary>
    private static int WriteRequest(byte[] buffer, Socks5Target target)
    {
        buffer[0] = Version;
        buffer[1] = CommandConnect;
        buffer[2] = 0;
        int at;
        if (target.Address is { } address)
        {
            buffer[3] = address.AddressFamily == AddressFamily.InterNetwork ? AtypIPv4 : AtypIPv6;
            address.TryWriteBytes(buffer.AsSpan(4), out var written);
            at = 4 + written;
        }
        else
        {
            var host = target.Host ?? string.Empty;
            if (host.Length is 0 or > 255 || !System.Text.Ascii.IsValid(host))
            {
                throw new ConnectFailureException(ConnectErrorKind.ProxyProtocol, true, $"\"{host}\" cannot be sent to a SOCKS5 proxy (1 to 255 ASCII characters, IDNs in A-label form)");
            }

            buffer[3] = AtypDomain;
            buffer[4] = (byte)host.Length;
            at = 5 + Encoding.ASCII.GetBytes(host, buffer.AsSpan(5));
        }

        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(at), (ushort)target.Port);
        return at + 2;
    }

    private static async Task ReadAsync(Stream proxy, Memory<byte> into, string what, CancellationToken cancel)
    {
        try
        {
            await proxy.ReadExactlyAsync(into, cancel);
        }
        catch (EndOfStreamException)
        {
            throw Protocol($"SOCKS5 proxy closed the connection before its {what}");
        }
    }

    private static ConnectFailureException Protocol(string message) => new(ConnectErrorKind.ProxyProtocol, true, message);
}
