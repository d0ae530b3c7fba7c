using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;

namespace Tern.Delivery.Tests;

/// <summary>Plain TCP connections on loopback: address order, per-address errors, family switches, source binding.</summary>
public sealed class DirectConnectorTests : IAsyncLifetime
{
    private BannerServer _server = null!;

    public Task InitializeAsync()
    {
        _server = new BannerServer(IPAddress.Loopback);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static DirectConnector Connector(ConnectorOptions? options = null) => new(options ?? new ConnectorOptions(), NullLoggerFactory.Instance);

    [Fact]
    public async Task Connects_and_reaches_the_server()
    {
        var result = await Connector().ConnectAsync("mx.test", [IPAddress.Loopback], _server.Port);
        using var socket = result.Socket;
        Assert.True(result.Connected);
        Assert.Empty(result.Errors);
        Assert.False(result.TimedOut);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, _server.Port), result.Remote);
        Assert.Equal(IPAddress.Loopback, result.Local!.Address);
        await Net.AssertReachesBannerServerAsync(socket!);
    }

    [Fact]
    public async Task Connections_have_Nagle_off_so_the_end_of_a_large_message_is_not_held_back()
    {
        var result = await Connector().ConnectAsync("mx.test", [IPAddress.Loopback], _server.Port);
        using var socket = result.Socket;
        Assert.True(socket!.NoDelay);
        Assert.Equal(1, (int)socket.GetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.NoDelay)!);
    }

    [Fact]
    public async Task Tries_addresses_in_order_and_reports_each_failure()
    {
        // The server listens on 127.0.0.1 only: 127.0.0.3 refuses, then 127.0.0.1 answers.
        var result = await Connector().ConnectAsync("mx.test", [Net.Other, IPAddress.Loopback], _server.Port);
        using var socket = result.Socket;
        Assert.Equal(IPAddress.Loopback, result.Remote!.Address);
        var e = Assert.Single(result.Errors);
        Assert.Equal((Net.Other, ConnectErrorKind.Refused, SocketError.ConnectionRefused), (e.Address, e.Kind, e.SocketError));
        Assert.Equal("127.0.0.3", e.Target);
        await Net.AssertReachesBannerServerAsync(socket!);
    }

    [Fact]
    public async Task No_address_accepting_gives_every_error()
    {
        var port = TestPorts.Free();
        var result = await Connector().ConnectAsync("mx.test", [IPAddress.Loopback, Net.Other], port);
        Assert.False(result.Connected);
        Assert.Null(result.Remote);
        Assert.Equal([ConnectErrorKind.Refused, ConnectErrorKind.Refused], result.Errors.Select(e => e.Kind));
        Assert.Equal([IPAddress.Loopback, Net.Other], result.Errors.Select(e => e.Address));
        Assert.StartsWith("127.0.0.1: ", result.Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Binds_the_source_address_of_the_family()
    {
        var source = IPAddress.Parse("127.0.0.2");
        var result = await Connector(new ConnectorOptions { SourceIPv4 = source, SourceIPv6 = IPAddress.IPv6Loopback }).ConnectAsync("mx.test", [IPAddress.Loopback], _server.Port);
        using var socket = result.Socket;
        Assert.Equal(source, result.Local!.Address);
        await Net.AssertReachesBannerServerAsync(socket!);
        Assert.Equal(source, Assert.Single(_server.Clients).Address);
    }

    [Fact]
    public async Task Source_address_that_cannot_be_bound_is_an_error_per_address()
    {
        var options = new ConnectorOptions { SourceIPv4 = IPAddress.Parse("192.0.2.1") };
        var result = await Connector(options).ConnectAsync("mx.test", [IPAddress.Loopback], _server.Port);
        var e = Assert.Single(result.Errors);
        Assert.Equal(ConnectErrorKind.Failed, e.Kind);
        Assert.Equal(SocketError.AddressNotAvailable, e.SocketError);
        Assert.StartsWith("cannot bind source address 192.0.2.1: ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Disabled_family_is_skipped()
    {
        var result = await Connector(new ConnectorOptions { DisableIPv6 = true }).ConnectAsync("mx.test", [IPAddress.IPv6Loopback, IPAddress.Loopback], _server.Port);
        using var socket = result.Socket;
        Assert.True(result.Connected);
        var e = Assert.Single(result.Errors);
        Assert.Equal((IPAddress.IPv6Loopback, ConnectErrorKind.Skipped, "IPv6 is disabled"), (e.Address, e.Kind, e.Message));

        var none = await Connector(new ConnectorOptions { DisableIPv4 = true }).ConnectAsync("mx.test", [IPAddress.Loopback], _server.Port);
        Assert.False(none.Connected);
        Assert.Equal(ConnectErrorKind.Skipped, Assert.Single(none.Errors).Kind);
    }

    [Fact]
    public async Task Mapped_IPv4_addresses_connect_as_IPv4()
    {
        var result = await Connector().ConnectAsync("mx.test", [IPAddress.Loopback.MapToIPv6()], _server.Port);
        using var socket = result.Socket;
        Assert.Equal(IPAddress.Loopback, result.Remote!.Address);
    }

    [Fact]
    public async Task Connects_over_IPv6()
    {
        if (!Net.HasIPv6Loopback)
        {
            return; // no IPv6 in this environment
        }

        await using var server6 = new BannerServer(IPAddress.IPv6Loopback);
        var result = await Connector(new ConnectorOptions { SourceIPv6 = IPAddress.IPv6Loopback }).ConnectAsync("mx.test", [IPAddress.IPv6Loopback], server6.Port);
        using var socket = result.Socket;
        Assert.Equal(IPAddress.IPv6Loopback, result.Remote!.Address);
        await Net.AssertReachesBannerServerAsync(socket!);
    }

    [Fact]
    public async Task No_addresses_is_no_connection()
    {
        var result = await Connector().ConnectAsync("mx.test", [], _server.Port);
        Assert.False(result.Connected);
        Assert.Empty(result.Errors);
        Assert.Equal("no addresses", result.Describe());
    }

    [Fact]
    public async Task Caller_cancellation_throws()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Connector().ConnectAsync("mx.test", [IPAddress.Loopback], _server.Port, cancelled.Token));
    }

    [Fact]
    public async Task Bad_port_is_an_argument_error() =>
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Connector().ConnectAsync("mx.test", [IPAddress.Loopback], 0));
}
