using Tern.Smtp.Client;
using Tern.Smtp.Client.Tls;

namespace Tern.Smtp.Tests.ClientTls;

/// <summary>WebPKI half of <see cref="TlsVerifier"/>: chain to the bundle's root, expiry, EKU, RFC 6125/9525 names.</summary>
public sealed class ClientTlsPkixTests(TestPki pki) : IClassFixture<TestPki>
{
    [Theory]
    // leaf, certificates the server sent, server name, trust ("bundle", "other", "system", "missing"), valid, error fragment
    [InlineData("leaf", "intermediate", TestPki.Host, "bundle", true, null)]
    [InlineData("leaf", "intermediate,root", TestPki.Host, "bundle", true, null)]
    [InlineData("leaf", "intermediate", "MX.Example.TEST.", "bundle", true, null)]
    [InlineData("leaf", "", TestPki.Host, "bundle", false, "certificate chain")]                 // intermediate missing
    [InlineData("leaf", "null", TestPki.Host, "bundle", false, "certificate chain")]             // no presented chain at all
    [InlineData("leaf", "intermediate", TestPki.Host, "other", false, "certificate chain")]      // unknown root
    [InlineData("leaf", "intermediate", TestPki.Host, "system", false, "certificate chain")]     // test root is not in /etc/ssl/certs
    [InlineData("leaf", "intermediate", TestPki.Host, "missing", false, "cannot load CA bundle")]
    [InlineData("otherleaf", "otherroot", TestPki.Host, "bundle", false, "certificate chain")]
    [InlineData("selfsigned", "", TestPki.Host, "bundle", false, "certificate chain")]
    [InlineData("forged", "intermediate", TestPki.Host, "bundle", false, "NotSignatureValid")]
    [InlineData("expired", "intermediate", TestPki.Host, "bundle", false, "NotTimeValid")]
    [InlineData("leafunderexpired", "expiredintermediate", TestPki.Host, "bundle", false, "NotTimeValid")]
    [InlineData("clientauth", "intermediate", TestPki.Host, "bundle", false, "NotValidForUsage")]
    [InlineData("wrongname", "intermediate", TestPki.Host, "bundle", false, "do not match mx.example.test")] // CN ignored: SAN present
    [InlineData("wrongname", "intermediate", "other.example.test", "bundle", true, null)]
    [InlineData("leaf", "intermediate", "mail.example.test", "bundle", false, "DNS:mx.example.test")]
    [InlineData("leaf", "intermediate", "mx.example.test.evil", "bundle", false, "do not match")]
    [InlineData("cnonly", "intermediate", TestPki.Host, "bundle", true, null)]                  // no DNS-ID: CN fallback
    [InlineData("wildcard", "intermediate", TestPki.Host, "bundle", true, null)]
    [InlineData("wildcard", "intermediate", "a.b.example.test", "bundle", false, "do not match")]
    [InlineData("wildcard", "intermediate", "example.test", "bundle", false, "do not match")]
    [InlineData("partialwild", "intermediate", "mx1.example.test", "bundle", false, "do not match")]
    [InlineData("idn", "intermediate", "b\u00fccher.example.test", "bundle", true, null)]       // U-label reference -> A-label
    [InlineData("idn", "intermediate", "xn--bcher-kva.example.test", "bundle", true, null)]
    [InlineData("wildcard", "intermediate", "b\u00fccher.example.test", "bundle", true, null)]
    [InlineData("ip", "intermediate", "127.0.0.1", "bundle", true, null)]
    [InlineData("ip", "intermediate", "[::1]", "bundle", false, "do not match")]
    [InlineData("rsaleaf", "intermediate", TestPki.Host, "bundle", true, null)]
    public void Pkix(string leaf, string sent, string serverName, string trust, bool valid, string? error)
    {
        var options = new ClientTlsOptions
        {
            ServerName = serverName,
            VerifyPkix = true,
            CaBundlePath = trust switch
            {
                "bundle" => pki.BundlePath,
                "other" => pki.OtherBundlePath,
                "missing" => Path.Combine(pki.Dir, "nope.pem"),
                _ => null,
            },
        };
        using var presented = pki.Presented(sent);
        var r = TlsVerifier.Verify(pki[leaf], presented, options);
        Assert.True(valid == r.PkixValid, $"PkixValid {r.PkixValid}, error: {r.PkixError}");
        Assert.Equal(valid, r.Accepted);
        if (error is null)
            Assert.Null(r.PkixError);
        else
            Assert.Contains(error, r.PkixError, StringComparison.Ordinal);
        Assert.Null(r.DaneValid);
        Assert.Null(r.DaneError);
    }

    [Fact]
    public void Pkix_reports_chain_and_name_errors_together()
    {
        using var presented = pki.Presented("intermediate");
        var r = TlsVerifier.Verify(pki["expired"], presented, new ClientTlsOptions { ServerName = "mail.example.test", CaBundlePath = pki.BundlePath });
        Assert.False(r.PkixValid);
        Assert.Contains("NotTimeValid", r.PkixError, StringComparison.Ordinal);
        Assert.Contains("do not match mail.example.test", r.PkixError, StringComparison.Ordinal);
    }

    [Fact]
    public void Intermediate_found_in_built_chain_elements_is_used()
    {
        // A presented chain that was built (as SslStream does) carries the intermediate in ChainElements.
        using var presented = new System.Security.Cryptography.X509Certificates.X509Chain();
        presented.ChainPolicy.TrustMode = System.Security.Cryptography.X509Certificates.X509ChainTrustMode.CustomRootTrust;
        presented.ChainPolicy.CustomTrustStore.Add(pki["root"]);
        presented.ChainPolicy.ExtraStore.Add(pki["intermediate"]);
        presented.ChainPolicy.RevocationMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck;
        Assert.True(presented.Build(pki["leaf"]));
        presented.ChainPolicy.ExtraStore.Clear();
        var r = TlsVerifier.Verify(pki["leaf"], presented, new ClientTlsOptions { ServerName = TestPki.Host, CaBundlePath = pki.BundlePath });
        Assert.True(r.PkixValid, r.PkixError);
    }

    [Fact]
    public void Trust_store_caches_per_path_and_reloads_a_changed_file()
    {
        using var store = new TrustStore();
        var path = Path.Combine(pki.Dir, "cached.pem");
        File.WriteAllText(path, pki["root"].ExportCertificatePem());
        var first = store.GetRoots(path);
        Assert.Single(first);
        Assert.Same(first[0], store.GetRoots(path)[0]); // parsed once

        File.WriteAllText(path, pki["root"].ExportCertificatePem() + "\n" + pki["otherroot"].ExportCertificatePem());
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(1));
        var second = store.GetRoots(path);
        Assert.NotSame(first[0], second[0]);
        Assert.Equal(2, second.Count);

        using var presented = pki.Presented("intermediate");
        var r = TlsVerifier.Verify(pki["leaf"], presented, new ClientTlsOptions { ServerName = TestPki.Host, CaBundlePath = path }, store);
        Assert.True(r.PkixValid, r.PkixError);
        Assert.Throws<FileNotFoundException>(() => store.GetRoots(Path.Combine(pki.Dir, "absent.pem")));
    }

    [Fact]
    public void Empty_bundle_is_reported()
    {
        var path = Path.Combine(pki.Dir, "empty.pem");
        File.WriteAllText(path, "# nothing here\n");
        using var presented = pki.Presented("intermediate");
        var r = TlsVerifier.Verify(pki["leaf"], presented, new ClientTlsOptions { ServerName = TestPki.Host, CaBundlePath = path });
        Assert.False(r.PkixValid);
        Assert.Contains("holds no certificates", r.PkixError, StringComparison.Ordinal);
    }
}
