using System.Net;

namespace Tern.Dns.Tests;

public sealed class ResolvConfTests
{
    [Theory]
    [InlineData("nameserver 192.0.2.53\n", "192.0.2.53:53")]
    [InlineData("nameserver\t192.0.2.53   # office\n", "192.0.2.53:53")]
    [InlineData("  nameserver 192.0.2.53 ; comment", "192.0.2.53:53")]
    [InlineData("nameserver 2001:db8::53", "[2001:db8::53]:53")]
    [InlineData("nameserver fe80::1%1", "[fe80::1%1]:53")]
    [InlineData("# generated\nsearch example.org\noptions edns0 trust-ad\nnameserver 127.0.0.53\n", "127.0.0.53:53")]
    [InlineData("nameserver 192.0.2.1\nnameserver 192.0.2.2\nnameserver ::1\nnameserver 192.0.2.4\n", "192.0.2.1:53,192.0.2.2:53,[::1]:53")]
    [InlineData("nameserver 192.0.2.1\r\nnameserver 192.0.2.2\r\n", "192.0.2.1:53,192.0.2.2:53")]
    [InlineData("nameserver not-an-address\nnameserver 1\nnameserver 300.1.1.1\nnameserver 192.0.2.9", "192.0.2.9:53")]
    [InlineData("#nameserver 192.0.2.1\nnameservers 192.0.2.2\nNAMESERVER 192.0.2.3\nnameserver", "127.0.0.1:53")]
    [InlineData("", "127.0.0.1:53")]
    public void Parses_nameserver_lines(string text, string expected) =>
        Assert.Equal(expected, string.Join(",", ResolvConf.Parse(text)));

    [Fact]
    public void Missing_file_means_the_local_host()
    {
        var servers = ResolvConf.Load("/nonexistent/resolv.conf");
        Assert.Equal([new IPEndPoint(IPAddress.Loopback, 53)], servers);
    }

    [Fact]
    public void Reads_a_file()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "nameserver 198.51.100.7\n");
            Assert.Equal("198.51.100.7:53", Assert.Single(ResolvConf.Load(path)).ToString());
        }
        finally
        {
            File.Delete(path);
        }
    }
}
