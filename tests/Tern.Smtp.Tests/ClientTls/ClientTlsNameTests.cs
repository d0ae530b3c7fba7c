using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Tern.Smtp.Client.Tls;

namespace Tern.Smtp.Tests.ClientTls;

/// <summary>Name matching rules (RFC 6125 section 6.4, RFC 9525 section 6) on certificates with chosen identifiers.</summary>
public sealed class ClientTlsNameTests
{
    private static X509Certificate2 Cert(string cn, string dns, string ips = "")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest(cn.Length > 0 ? $"CN={cn}" : "O=Tern", key, HashAlgorithmName.SHA256);
        var names = dns.Split(',', StringSplitOptions.RemoveEmptyEntries);
        var addrs = ips.Split(',', StringSplitOptions.RemoveEmptyEntries);
        if (names.Length + addrs.Length > 0)
        {
            var san = new SubjectAlternativeNameBuilder();
            foreach (var n in names)
                san.AddDnsName(n);
            foreach (var a in addrs)
                san.AddIpAddress(IPAddress.Parse(a));
            req.CertificateExtensions.Add(san.Build());
        }
        return req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
    }

    [Theory]
    // subject CN, SAN dNSNames, SAN IPs, reference, expected
    [InlineData("", "mx.example.test", "", "mx.example.test", true)]
    [InlineData("", "MX.EXAMPLE.TEST", "", "mx.example.test", true)]
    [InlineData("", "mx.example.test.", "", "mx.example.test", true)]
    [InlineData("", "mx.example.test", "", "Mx.Example.Test.", true)]
    [InlineData("", "mx.example.test", "", "mx.example.test.evil", false)]
    [InlineData("", "mx.example.test", "", "x.example.test", false)]
    [InlineData("", "*.example.test", "", "mx.example.test", true)]
    [InlineData("", "*.example.test", "", "a.b.example.test", false)]   // one label only
    [InlineData("", "*.example.test", "", "example.test", false)]
    [InlineData("", "*.example.test", "", ".example.test", false)]
    [InlineData("", "*.test", "", "example.test", false)]               // at least two labels after the wildcard
    [InlineData("", "mx*.example.test", "", "mx1.example.test", false)] // partial-label wildcard
    [InlineData("", "*mx.example.test", "", "amx.example.test", false)]
    [InlineData("", "mx.*.test", "", "mx.example.test", false)]         // not left-most
    [InlineData("", "*.*.test", "", "a.b.test", false)]
    [InlineData("", "xn--bcher-kva.example.test", "", "b\u00fccher.example.test", true)]
    [InlineData("", "xn--bcher-kva.example.test", "", "B\u00dcCHER.example.test", true)]
    [InlineData("", "*.example.test", "", "xn--bcher-kva.example.test", true)]
    [InlineData("", "other.example.test,mx.example.test", "", "mx.example.test", true)]
    [InlineData("mx.example.test", "other.example.test", "", "mx.example.test", false)] // CN ignored: SAN has a DNS-ID
    [InlineData("mx.example.test", "", "", "mx.example.test", true)]                    // no DNS-ID: CN (RFC 6125 section 6.4.4)
    [InlineData("mx.example.test", "", "192.0.2.1", "mx.example.test", true)]           // IP SANs are not DNS-IDs
    [InlineData("", "", "192.0.2.1", "192.0.2.1", true)]
    [InlineData("", "", "2001:db8::1", "[2001:db8::1]", true)]
    [InlineData("", "192.0.2.1", "", "192.0.2.1", false)]                // an IP reference matches iPAddress SANs only
    [InlineData("", "1", "", "1", true)]                                 // "1" is a (silly) name, not 0.0.0.1
    [InlineData("", "*.example.test", "", "*.example.test", false)]      // a reference never holds a wildcard
    [InlineData("", "mx.example.test", "", "", false)]
    public void Matches(string cn, string dns, string ips, string reference, bool expected)
    {
        using var cert = Cert(cn, dns, ips);
        Assert.Equal(expected, CertificateNames.MatchesAny(cert, [reference]));
    }
}
