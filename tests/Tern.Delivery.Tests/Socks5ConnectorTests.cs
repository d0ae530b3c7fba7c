using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;

namespace Tern.Delivery.Tests;

/// <summary>
/// The SOCKS5 connector (RFC 1928, RFC 1929) against the in-test proxy on 127.0.0.1, to a banner
/// server on loopback: no auth, username/password, wrong password, every reply code, CONNECT by
/// name, unreachable targets and proxies, timeouts.
/// </summary>
public sealed class Socks5ConnectorTests : IAsyncLifetime
{
    private BannerServer _server = null!;

    public Task InitializeAsync()
    {
        _server = new BannerServer(IPAddress.Loopback);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static Socks5Connector Connector(int proxyPort, Socks5Credentials? credentials = null, ConnectorOptions? options = null) =>
        new(new Socks5ProxyOptions("127.0.0.1", proxyPort, credentials), options ?? new ConnectorOptions(), NullLoggerFactory.Instance);

    [Fact]
    public async Task Without_authentication_reaches_the_server()
    {
        await using var proxy = new Socks5TestProxy();
        var result = await Connector(proxy.Port).ConnectAsync("mx.test", [IPAddress.Loopback], _server.Port);
        using var socket = result.Socket;
        Assert.True(result.Connected, result.Describe());
        Assert.Empty(result.Errors);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, _server.Port), result.Remote);
        Assert.Equal(proxy.Port, ((IPEndPoint)socket!.RemoteEndPoint!).Port);
        await Net.AssertReachesBannerServerAsync(socket);
        // BND.ADDR/BND.PORT: the proxy's end of its connection to the server.
        Assert.Equal(Assert.Single(_server.Clients), result.Local);
        Assert.Equal($"1 127.0.0.1:{_server.Port}", Assert.Single(proxy.Requests));
    }

    [Fact]
    public async Task With_username_and_password_reaches_the_server()
    {
        await using var proxy = new Socks5TestProxy("tern", "p\u00e4ss word");
        var result = await Connector(proxy.Port, new Socks5Credentials("tern", "p\u00e4ss word")).ConnectAsync("mx.test", [IPAddress.Loopback], _server.Port);
        using var socket = result.Socket;
        Assert.True(result.Connected, result.Describe());
        await Net.AssertReachesBannerServerAsync(socket!);
    }

    [Fact]
    public async Task Credentials_offered_to_a_proxy_without_authentication_are_not_needed()
    {
        await using var proxy = new Socks5TestProxy();
        var result = await Connector(proxy.Port, new Socks5Credentials("tern", "secret")).ConnectAsync("mx.test", [IPAddress.Loopback], _server.Port);
        using var socket = result.Socket;
        await Net.AssertReachesBannerServerAsync(socket!);
    }

    [Fact]
    public async Task Wrong_password_fails_and_stops()
    {
        await using var proxy = new Socks5TestProxy("tern", "right");
        var result = await Connector(proxy.Port, new Socks5Credentials("tern", "wrong")).ConnectAsync("mx.test", [IPAddress.Loopback, Net.Other], _server.Port);
        Assert.False(result.Connected);
        var e = Assert.Single(result.Errors);
        Assert.Equal(ConnectErrorKind.ProxyAuthentication, e.Kind);
        Assert.Equal("SOCKS5 proxy refused username \"tern\" (status 1)", e.Message);
        Assert.DoesNotContain("wrong", result.Describe(), StringComparison.Ordinal);
        Assert.Empty(proxy.Requests);
        Assert.Empty(_server.Clients);
    }

    [Fact]
    public async Task Proxy_requiring_authentication_without_credentials_fails()
    {
        await using var proxy = new Socks5TestProxy("tern", "right");
        var result = await Connector(proxy.Port).ConnectAsync("mx.test", [IPAddress.Loopback, Net.Other], _server.Port);
        var e = Assert.Single(result.Errors);
        Assert.Equal(ConnectErrorKind.ProxyAuthentication, e.Kind);
        Assert.Contains("none of the offered methods", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Closed_target_port_is_refused_through_the_proxy()
    {
        await using var proxy = new Socks5TestProxy();
        var port = TestPorts.Free();
        var result = await Connector(proxy.Port).ConnectAsync("mx.test", [IPAddress.Loopback], port);
        Assert.False(result.Connected);
        var e = Assert.Single(result.Errors);
        Assert.Equal((ConnectErrorKind.Refused, Socks5Reply.ConnectionRefused), (e.Kind, e.ProxyReply));
        Assert.Equal($"SOCKS5 proxy replied 5 (connection refused) to CONNECT 127.0.0.1:{port}", e.Message);
    }

    [Fact]
    public async Task Refused_address_moves_on_to_the_next()
    {
        await using var proxy = new Socks5TestProxy();
        var result = await Connector(proxy.Port).ConnectAsync("mx.test", [Net.Other, IPAddress.Loopback], _server.Port);
        using var socket = result.Socket;
        Assert.Equal(IPAddress.Loopback, result.Remote!.Address);
        var e = Assert.Single(result.Errors);
        Assert.Equal((Net.Other, ConnectErrorKind.Refused), (e.Address, e.Kind));
        await Net.AssertReachesBannerServerAsync(socket!);
        Assert.Equal(2, proxy.Connections);
    }

    [Theory]
    [InlineData(1, ConnectErrorKind.Failed, false, "general SOCKS server failure")]
    [InlineData(2, ConnectErrorKind.NotAllowed, false, "connection not allowed by ruleset")]
    [InlineData(3, ConnectErrorKind.Unreachable, false, "network unreachable")]
    [InlineData(4, ConnectErrorKind.Unreachable, false, "host unreachable")]
    [InlineData(5, ConnectErrorKind.Refused, false, "connection refused")]
    [InlineData(6, ConnectErrorKind.TimedOut, false, "TTL expired")]
    [InlineData(7, ConnectErrorKind.ProxyProtocol, true, "command not supported")]
    [InlineData(8, ConnectErrorKind.ProxyProtocol, false, "address type not supported")]
    [InlineData(9, ConnectErrorKind.ProxyProtocol, true, "unassigned reply code")]
    [InlineData(255, ConnectErrorKind.ProxyProtocol, true, "unassigned reply code")]
    public async Task Every_reply_code_has_its_error(byte rep, ConnectErrorKind kind, bool fatal, string text)
    {
        await using var proxy = new Socks5TestProxy { ForcedReply = rep };
        var result = await Connector(proxy.Port).ConnectAsync("mx.test", [IPAddress.Loopback, Net.Other], _server.Port);
        Assert.False(result.Connected);
        Assert.Equal(fatal ? 1 : 2, result.Errors.Count);
        var e = result.Errors[0];
        Assert.Equal((kind, (Socks5Reply)rep), (e.Kind, e.ProxyReply));
        Assert.Equal($"SOCKS5 proxy replied {rep} ({text}) to CONNECT 127.0.0.1:{_server.Port}", e.Message);
    }

    [Fact]
    public async Task Connect_by_domain_name_lets_the_proxy_resolve()
    {
        await using var proxy = new Socks5TestProxy("u", "p");
        var result = await Connector(proxy.Port, new Socks5Credentials("u", "p")).ConnectToHostAsync("localhost", _server.Port);
        using var socket = result.Socket;
        Assert.True(result.Connected, result.Describe());
        Assert.Null(result.Remote);
        await Net.AssertReachesBannerServerAsync(socket!);
        Assert.Equal($"3 localhost:{_server.Port}", Assert.Single(proxy.Requests));
    }

    [Fact]
    public async Task Connect_by_domain_name_reports_the_proxy_error()
    {
        await using var proxy = new Socks5TestProxy();
        var result = await Connector(proxy.Port).ConnectToHostAsync("localhost", TestPorts.Free());
        var e = Assert.Single(result.Errors);
        Assert.Equal(("localhost", null, ConnectErrorKind.Refused), (e.Target, e.Address, e.Kind));
    }

    [Fact]
    public async Task IPv6_target_through_the_proxy()
    {
        if (!Net.HasIPv6Loopback)
        {
            return; // no IPv6 in this environment
        }

        await using var server6 = new BannerServer(IPAddress.IPv6Loopback);
        await using var proxy = new Socks5TestProxy();
        var result = await Connector(proxy.Port).ConnectAsync("mx.test", [IPAddress.IPv6Loopback], server6.Port);
        using var socket = result.Socket;
        Assert.True(result.Connected, result.Describe());
        await Net.AssertReachesBannerServerAsync(socket!);
        Assert.Equal($"4 ::1:{server6.Port}", Assert.Single(proxy.Requests));
    }

    [Fact]
    public async Task Unreachable_proxy_stops_at_once()
    {
        var result = await Connector(TestPorts.Free()).ConnectAsync("mx.test", [IPAddress.Loopback, Net.Other], _server.Port);
        var e = Assert.Single(result.Errors);
        Assert.Equal((ConnectErrorKind.ProxyUnavailable, SocketError.ConnectionRefused), (e.Kind, e.SocketError));
        Assert.StartsWith("cannot connect to SOCKS5 proxy 127.0.0.1:", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_proxy_named_by_host_name_is_refused_without_a_lookup()
    {
        var connector = new Socks5Connector(new Socks5ProxyOptions("proxy.invalid", 1080), new ConnectorOptions(), NullLoggerFactory.Instance);
        var result = await connector.ConnectAsync("mx.test", [IPAddress.Loopback], _server.Port);
        var e = Assert.Single(result.Errors);
        Assert.Equal(ConnectErrorKind.ProxyUnavailable, e.Kind);
        Assert.Equal("SOCKS5 proxy proxy.invalid: not an IP address", e.Message);
    }

    [Fact]
    public async Task Silent_proxy_times_out_once_for_all_addresses()
    {
        await using var proxy = new Socks5TestProxy { Silent = true };
        var timeout = TimeSpan.FromMilliseconds(300);
        var watch = Stopwatch.StartNew();
        var result = await Connector(proxy.Port, options: new ConnectorOptions { Timeout = timeout }).ConnectAsync("mx.test", [IPAddress.Loopback, Net.Other, IPAddress.Loopback], _server.Port);
        watch.Stop();
        Assert.True(result.TimedOut);
        var e = Assert.Single(result.Errors);
        Assert.Equal((IPAddress.Loopback, ConnectErrorKind.TimedOut), (e.Address, e.Kind));
        Assert.Equal("no connection within the connect timeout of 0.3 s", e.Message);
        // One timeout for all three addresses (one error above). The lower bound allows for the timer
        // firing a little before the stopwatch says 300 ms (seen: 298.5 ms); the upper one only catches a
        // hang, wide enough for a loaded machine's first run of the assembly.
        Assert.InRange(watch.Elapsed, timeout * 0.8, TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Timeout_is_shared_across_addresses()
    {
        // Each CONNECT takes 100 ms to be refused: a 450 ms budget for ten addresses ends after a few.
        await using var proxy = new Socks5TestProxy { ForcedReply = 5, ReplyDelay = TimeSpan.FromMilliseconds(100) };
        var connector = Connector(proxy.Port, options: new ConnectorOptions { Timeout = TimeSpan.FromMilliseconds(450) });
        var watch = Stopwatch.StartNew();
        var result = await connector.ConnectAsync("mx.test", Enumerable.Repeat(IPAddress.Loopback, 10).ToList(), _server.Port);
        watch.Stop();
        Assert.True(result.TimedOut);
        Assert.InRange(result.Errors.Count, 2, 6);
        Assert.Equal(ConnectErrorKind.TimedOut, result.Errors[^1].Kind);
        Assert.All(result.Errors.SkipLast(1), e => Assert.Equal(ConnectErrorKind.Refused, e.Kind));
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(400), TimeSpan.FromSeconds(5)); // the timer may fire a little early; the upper bound only catches a hang
    }

    [Fact]
    public async Task Proxy_closing_during_negotiation_is_a_protocol_error()
    {
        await using var proxy = new Socks5TestProxy { CloseAfterGreeting = true };
        var result = await Connector(proxy.Port).ConnectAsync("mx.test", [IPAddress.Loopback, Net.Other], _server.Port);
        var e = Assert.Single(result.Errors);
        Assert.Equal(ConnectErrorKind.ProxyProtocol, e.Kind);
        Assert.Equal("SOCKS5 proxy closed the connection before its method selection", e.Message);
    }

    [Fact]
    public async Task Caller_cancellation_throws()
    {
        await using var proxy = new Socks5TestProxy { Silent = true };
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Connector(proxy.Port).ConnectAsync("mx.test", [IPAddress.Loopback], _server.Port, cancel.Token));
    }
}
