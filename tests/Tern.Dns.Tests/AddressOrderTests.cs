using System.Net;

namespace Tern.Dns.Tests;

public sealed class AddressOrderTests
{
    // Addresses: a/b IPv4, x/y IPv6, in DNS order.
    private static readonly Dictionary<char, IPAddress> Names = new()
    {
        ['a'] = IPAddress.Parse("192.0.2.1"),
        ['b'] = IPAddress.Parse("192.0.2.2"),
        ['x'] = IPAddress.Parse("2001:db8::1"),
        ['y'] = IPAddress.Parse("2001:db8::2"),
        ['z'] = IPAddress.Parse("192.0.2.99"),
    };

    [Theory]
    // addresses, attempt, last used ('-': none), expected
    [InlineData("abxy", 0, '-', "xayb")]      // even attempt: IPv6 first, families interleaved
    [InlineData("abxy", 1, '-', "axby")]      // odd attempt: IPv4 first
    [InlineData("abxy", 2, '-', "xayb")]
    [InlineData("xyab", 1, '-', "axby")]
    [InlineData("ab", 0, '-', "ab")]          // one family: DNS order kept
    [InlineData("ab", 1, '-', "ab")]
    [InlineData("yx", 0, '-', "yx")]
    [InlineData("abx", 0, '-', "xab")]
    [InlineData("abx", 1, '-', "axb")]
    [InlineData("abxy", 0, 'b', "bxay")]      // greylisting: the address that answered last goes first
    [InlineData("abxy", 1, 'y', "yaxb")]
    [InlineData("abxy", 1, 'z', "axby")]      // last used no longer listed: ignored
    [InlineData("", 0, '-', "")]
    [InlineData("", 3, 'a', "")]
    public void Orders(string addresses, int attempt, char lastUsed, string expected)
    {
        var list = addresses.Select(c => Names[c]).ToList();
        var ordered = AddressOrder.ForAttempt(list, attempt, lastUsed == '-' ? null : Names[lastUsed]);
        Assert.Equal(expected, string.Concat(ordered.Select(ip => Names.Single(n => n.Value.Equals(ip)).Key)));
    }

    [Fact]
    public void Does_not_change_its_input()
    {
        IPAddress[] list = [Names['a'], Names['x']];
        AddressOrder.ForAttempt(list, 0, Names['a']);
        Assert.Equal([Names['a'], Names['x']], list);
    }
}
