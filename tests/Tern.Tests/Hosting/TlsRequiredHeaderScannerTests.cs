using System.Text;
using Tern.Hosting;

namespace Tern.Tests.Hosting;

/// <summary>Finding a TLS-Required field (RFC 8689 section 5) in a header section that arrives in chunks split anywhere.</summary>
public sealed class TlsRequiredHeaderScannerTests
{
    private const string Received = "Received: from client (client [127.0.0.1])\r\n\tby tern with ESMTPSA id 01ABC; Sun, 1 Mar 2026 12:00:00 +0000\r\n";

    [Theory]
    [InlineData("TLS-Required: No\r\nSubject: x\r\n\r\nbody\r\n", true)]
    [InlineData("Subject: x\r\ntls-required:no\r\n\r\nbody\r\n", true)]
    [InlineData("Subject: x\r\nTls-Required  : No\r\n\r\n", true)]
    [InlineData("Subject: x\nTLS-Required: No\n\nbody\n", true)]
    [InlineData("Subject: x\r\n\r\nTLS-Required: No\r\n", false)]
    [InlineData("Subject: x\r\n\nTLS-Required: No\r\n", false)]
    [InlineData("Subject: TLS-Required: No\r\n\r\n", false)]
    [InlineData("Subject: x\r\n TLS-Required: No\r\n\r\n", false)]
    [InlineData("X-TLS-Required: No\r\nTLS-Requirement: no\r\nTLS-Required-Not: x\r\n\r\n", false)]
    [InlineData("TLS-Required\r\n\r\n", false)]
    [InlineData("", false)]
    public void Only_a_field_of_that_name_in_the_header_section_counts(string message, bool found)
    {
        var bytes = Encoding.ASCII.GetBytes(Received + message);

        // Whole, byte by byte, and at every split point: the same answer.
        Assert.Equal(found, Scan(bytes));
        var scanner = default(TlsRequiredHeaderScanner);
        foreach (var b in bytes)
        {
            scanner.Feed([b]);
        }

        Assert.Equal(found, scanner.Found);
        for (var split = 0; split <= bytes.Length; split++)
        {
            Assert.Equal(found, Scan(bytes[..split], bytes[split..]));
        }
    }

    [Fact]
    public void A_reset_scanner_starts_over_for_the_next_message()
    {
        var scanner = default(TlsRequiredHeaderScanner);
        scanner.Feed(Encoding.ASCII.GetBytes("TLS-Required: No\r\n\r\n"));
        Assert.True(scanner.Found);
        scanner.Reset();
        scanner.Feed(Encoding.ASCII.GetBytes("Subject: x\r\n\r\nTLS-Required: No\r\n"));
        Assert.False(scanner.Found);
    }

    private static bool Scan(params byte[][] chunks)
    {
        var scanner = default(TlsRequiredHeaderScanner);
        foreach (var c in chunks)
        {
            scanner.Feed(c);
        }

        return scanner.Found;
    }
}
