using System.Net;

namespace Tern.Dns.Tests;

public sealed class DomainNameTests
{
    [Theory]
    [InlineData("example.com", "example.com")]
    [InlineData("Example.COM.", "example.com")]
    [InlineData(" mx1.example.com ", "mx1.example.com")]
    [InlineData("_25._tcp.mx.example.com", "_25._tcp.mx.example.com")]
    [InlineData("bücher.example", "xn--bcher-kva.example")]
    [InlineData("XN--BCHER-KVA.example", "xn--bcher-kva.example")]
    public void Normalizes(string name, string expected)
    {
        Assert.True(DomainName.TryNormalize(name, out var normalized, out var error), error);
        Assert.Equal(expected, normalized);
    }

    [Theory]
    [InlineData("")]
    [InlineData(".")]
    [InlineData("a..b")]
    [InlineData(".example.com")]
    [InlineData("exa mple.com")]
    [InlineData("example.com..")]
    public void Rejects(string name)
    {
        Assert.False(DomainName.TryNormalize(name, out _, out var error));
        Assert.NotNull(error);
    }

    [Fact]
    public void Rejects_overlong_labels_and_names()
    {
        Assert.True(DomainName.TryNormalize(new string('a', 63) + ".com", out _, out _));
        Assert.False(DomainName.TryNormalize(new string('a', 64) + ".com", out _, out _));
        var name253 = string.Join('.', Enumerable.Repeat(new string('a', 49), 5)) + ".abc";
        Assert.Equal(253, name253.Length);
        Assert.True(DomainName.TryNormalize(name253, out _, out _));
        Assert.False(DomainName.TryNormalize(name253 + "c", out _, out _));
    }

    [Theory]
    [InlineData("mx1.example.com", HostNameSyntax.Valid)]
    [InlineData("a-b.c0", HostNameSyntax.Valid)]
    [InlineData("bad_host.example.com", HostNameSyntax.Underscore)]
    [InlineData("-bad.example.com", HostNameSyntax.Invalid)]
    [InlineData("bad-.example.com", HostNameSyntax.Invalid)]
    [InlineData("b*d.example.com", HostNameSyntax.Invalid)]
    [InlineData("a..b", HostNameSyntax.Invalid)]
    public void Checks_host_names(string name, HostNameSyntax expected) =>
        Assert.Equal(expected, DomainName.CheckHostName(name));

    [Theory]
    [InlineData("[192.0.2.1]", "192.0.2.1")]
    [InlineData(" [192.0.2.1] ", "192.0.2.1")]
    [InlineData("[IPv6:2001:db8::1]", "2001:db8::1")]
    [InlineData("[ipv6:2001:DB8::1]", "2001:db8::1")]
    [InlineData("[IPv6:::ffff:192.0.2.1]", "::ffff:192.0.2.1")]
    public void Parses_address_literals(string domain, string expected)
    {
        Assert.True(DomainName.TryParseAddressLiteral(domain, out var address));
        Assert.Equal(IPAddress.Parse(expected), address);
    }

    [Theory]
    [InlineData("192.0.2.1")]
    [InlineData("[192.0.2]")]
    [InlineData("[192.0.2.256]")]
    [InlineData("[1]")]
    [InlineData("[0x7f.0.0.1]")]
    [InlineData("[2001:db8::1]")]
    [InlineData("[IPv6:192.0.2.1]")]
    [InlineData("[IPv6:fe80::1%1]")]
    [InlineData("[]")]
    [InlineData("example.com")]
    public void Rejects_other_literals(string domain) =>
        Assert.False(DomainName.TryParseAddressLiteral(domain, out _));

    [Theory]
    [InlineData("192.0.2.1", "1.2.0.192.in-addr.arpa")]
    [InlineData("::ffff:192.0.2.1", "1.2.0.192.in-addr.arpa")]
    [InlineData("2001:db8::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa")]
    [InlineData("2001:db8:abcd::ef12", "2.1.f.e.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.8.b.d.0.1.0.0.2.ip6.arpa")]
    public void Builds_reverse_names(string address, string expected) =>
        Assert.Equal(expected, ReverseName.For(IPAddress.Parse(address)));
}
