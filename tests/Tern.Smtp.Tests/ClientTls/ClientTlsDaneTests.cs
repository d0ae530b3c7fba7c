using Tern.Smtp.Client;
using Tern.Smtp.Client.Tls;

namespace Tern.Smtp.Tests.ClientTls;

/// <summary>DANE half of <see cref="TlsVerifier"/> (RFC 7672, RFC 7671, RFC 6698).</summary>
public sealed class ClientTlsDaneTests(TestPki pki) : IClassFixture<TestPki>
{
    [Theory]
    // leaf, certificates the server sent, TLSA records, server name, extra DANE names, DaneValid ("true"/"false"/"null"), error fragment
    // DANE-EE(3): leaf only, every selector and matching type.
    [InlineData("leaf", "intermediate", "3 1 1 leaf", TestPki.Host, "", "true", null)]
    [InlineData("leaf", "intermediate", "3 1 1 wrongname", TestPki.Host, "", "false", "no DANE-EE record matches")]
    [InlineData("leaf", "intermediate", "3 0 1 leaf", TestPki.Host, "", "true", null)]
    [InlineData("leaf", "intermediate", "3 1 2 leaf", TestPki.Host, "", "true", null)]
    [InlineData("leaf", "intermediate", "3 0 2 leaf", TestPki.Host, "", "true", null)]
    [InlineData("leaf", "intermediate", "3 0 0 leaf", TestPki.Host, "", "true", null)]
    [InlineData("leaf", "intermediate", "3 1 0 leaf", TestPki.Host, "", "true", null)]
    [InlineData("leaf", "intermediate", "3 0 2 wrongname", TestPki.Host, "", "false", "no DANE-EE record matches")]
    [InlineData("rsaleaf", "intermediate", "3 1 1 rsaleaf", TestPki.Host, "", "true", null)]
    [InlineData("leaf", "intermediate", "3 1 1 intermediate", TestPki.Host, "", "false", "no DANE-EE record matches")] // EE never matches an issuer
    // DANE-EE ignores name and expiry (RFC 7672 section 3.1.1).
    [InlineData("expired", "intermediate", "3 1 1 expired", TestPki.Host, "", "true", null)]
    [InlineData("wrongname", "intermediate", "3 1 1 wrongname", TestPki.Host, "", "true", null)]
    [InlineData("selfsigned", "", "3 1 1 selfsigned", "anything.example", "", "true", null)]
    // DANE-TA(2): anchor in the presented chain, chain below it valid, name checked.
    [InlineData("leaf", "intermediate", "2 1 1 intermediate", TestPki.Host, "", "true", null)]
    [InlineData("leaf", "intermediate", "2 0 1 intermediate", TestPki.Host, "", "true", null)]
    [InlineData("leaf", "intermediate", "2 1 2 intermediate", TestPki.Host, "", "true", null)]
    [InlineData("leaf", "intermediate", "2 1 1 intermediate", "mail.example.test", "", "false", "match none of mail.example.test")]
    [InlineData("leaf", "intermediate", "2 1 1 intermediate", "mail.example.test", "example.test,mx.example.test", "true", null)]
    [InlineData("wrongname", "intermediate", "2 1 1 intermediate", TestPki.Host, "", "false", "match none of")]
    [InlineData("wildcard", "intermediate", "2 1 1 intermediate", TestPki.Host, "", "true", null)]
    [InlineData("wildcard", "intermediate", "2 1 1 intermediate", "a.b.example.test", "", "false", "match none of")]
    [InlineData("leaf", "intermediate,root", "2 1 1 root", TestPki.Host, "", "true", null)]
    [InlineData("leaf", "intermediate", "2 1 1 root", TestPki.Host, "", "false", "no certificate in the server's chain matches")] // TA must be sent
    [InlineData("leaf", "intermediate", "2 1 1 otherroot", TestPki.Host, "", "false", "no certificate in the server's chain matches")]
    [InlineData("leaf", "null", "2 1 1 intermediate", TestPki.Host, "", "false", "no certificate in the server's chain matches")]
    [InlineData("expired", "intermediate", "2 1 1 intermediate", TestPki.Host, "", "false", "NotTimeValid")]   // below the TA expiry counts
    [InlineData("leafunderexpired", "expiredintermediate", "2 1 1 expiredintermediate", TestPki.Host, "", "true", null)] // the TA's own does not
    [InlineData("leafunderexpired", "expiredintermediate,root", "2 1 1 root", TestPki.Host, "", "false", "NotTimeValid")] // an expired intermediate below the TA does
    [InlineData("otherleaf", "intermediate,otherroot", "2 1 1 intermediate", TestPki.Host, "", "false", "does not chain")]
    [InlineData("forged", "intermediate", "2 1 1 intermediate", TestPki.Host, "", "false", "NotSignatureValid")]
    [InlineData("selfsigned", "", "2 1 1 selfsigned", TestPki.Host, "", "true", null)] // the leaf is its own anchor, name still checked
    [InlineData("selfsigned", "", "2 1 1 selfsigned", "mail.example.test", "", "false", "match none of")]
    // DANE-TA(2) full certificate: the anchor need not be sent (RFC 7671 section 5.2.2).
    [InlineData("leaf", "", "2 0 0 intermediate", TestPki.Host, "", "true", null)]
    [InlineData("leaf", "intermediate", "2 0 0 root", TestPki.Host, "", "true", null)]
    [InlineData("leaf", "", "2 1 0 intermediate", TestPki.Host, "", "false", "no certificate in the server's chain matches")] // bare key, not sent
    // Unusable-only record sets: DANE does not apply (RFC 7672 sections 2.2, 3.1.3).
    [InlineData("leaf", "intermediate", "0 0 1 leaf", TestPki.Host, "", "null", "PKIX-TA(0)")]
    [InlineData("leaf", "intermediate", "1 1 1 leaf", TestPki.Host, "", "null", "PKIX-EE(1)")]
    [InlineData("leaf", "intermediate", "3 7 1 leaf", TestPki.Host, "", "null", "unknown selector 7")]
    [InlineData("leaf", "intermediate", "4 1 1 leaf", TestPki.Host, "", "null", "unknown certificate usage 4")]
    [InlineData("leaf", "intermediate", "3 1 9 leaf", TestPki.Host, "", "null", "unknown matching type 9")]
    [InlineData("leaf", "intermediate", "3 1 1 bad31", TestPki.Host, "", "null", "not 32 bytes")]
    [InlineData("leaf", "intermediate", "0 0 1 leaf; 1 1 1 leaf; 3 7 1 leaf", TestPki.Host, "", "null", "no usable TLSA records")]
    // Mixed sets: unusable records are skipped, any usable match wins.
    [InlineData("leaf", "intermediate", "1 1 1 leaf; 3 1 1 leaf", TestPki.Host, "", "true", null)]
    [InlineData("leaf", "intermediate", "0 0 1 leaf; 3 1 1 wrongname", TestPki.Host, "", "false", "no DANE-EE record matches")]
    [InlineData("leaf", "intermediate", "3 1 1 wrongname; 2 1 1 intermediate", TestPki.Host, "", "true", null)]
    [InlineData("leaf", "intermediate", "3 1 1 wrongname; 2 1 1 otherroot", TestPki.Host, "", "false", "DANE-TA: no certificate")]
    [InlineData("leaf", "intermediate", "", TestPki.Host, "", "null", null)]
    public void Dane(string leaf, string sent, string records, string serverName, string daneNames, string expected, string? error)
    {
        var options = new ClientTlsOptions
        {
            ServerName = serverName,
            VerifyDane = true,
            Tlsa = pki.Tlsa(records),
            DaneNames = daneNames.Split(',', StringSplitOptions.RemoveEmptyEntries),
            CaBundlePath = pki.BundlePath,
        };
        using var presented = pki.Presented(sent);
        var r = TlsVerifier.Verify(pki[leaf], presented, options);
        bool? want = expected switch { "true" => true, "false" => false, _ => null };
        Assert.True(want == r.DaneValid, $"DaneValid {r.DaneValid}, error: {r.DaneError}");
        if (error is null)
            Assert.Null(r.DaneError);
        else
            Assert.Contains(error, r.DaneError, StringComparison.Ordinal);
        // VerifyDane alone: only a definite DANE failure refuses the handshake.
        Assert.Equal(want != false, r.Accepted);
    }
}
