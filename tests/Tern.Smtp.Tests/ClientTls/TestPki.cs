using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Tern.Smtp.Client;

namespace Tern.Smtp.Tests.ClientTls;

/// <summary>
/// A small PKI made in-process: root CA, intermediate, leaves of every shape the tests need, an
/// unrelated root, and a PEM bundle (the root only) in a temp directory. All keys P-256 except
/// "rsaleaf". Certificates are looked up by the names used in the test tables.
/// </summary>
public sealed class TestPki : IDisposable
{
    public const string Host = "mx.example.test";
    private static readonly string ServerAuth = "1.3.6.1.5.5.7.3.1";
    private static readonly string ClientAuth = "1.3.6.1.5.5.7.3.2";

    private readonly Dictionary<string, X509Certificate2> _certs = new(StringComparer.Ordinal);
    private readonly List<IDisposable> _keys = [];

    public string Dir { get; }
    public string BundlePath { get; }
    public string OtherBundlePath { get; }
    public DateTimeOffset Now { get; } = DateTimeOffset.UtcNow;

    public TestPki()
    {
        Dir = Directory.CreateTempSubdirectory("tern-clienttls-").FullName;
        var caFrom = Now.AddDays(-365);
        var caTo = Now.AddDays(365);
        var root = Ca("root", "CN=Tern Test Root", null, caFrom, caTo);
        var inter = Ca("intermediate", "CN=Tern Test Intermediate", root, caFrom, caTo);
        Leaf("leaf", $"CN={Host}", inter, [Host]);
        Leaf("wildcard", "CN=*.example.test", inter, ["*.example.test"]);
        Leaf("expired", $"CN={Host}", inter, [Host], from: Now.AddDays(-30), to: Now.AddDays(-1));
        // CN carries the host but the SAN does not: the CN must be ignored (RFC 6125 section 6.4.4).
        Leaf("wrongname", $"CN={Host}", inter, ["other.example.test"]);
        Leaf("cnonly", $"CN={Host}", inter, []);
        Leaf("idn", "CN=xn--bcher-kva.example.test", inter, ["xn--bcher-kva.example.test"]);
        Leaf("partialwild", "CN=mx*.example.test", inter, ["mx*.example.test"]);
        Leaf("ip", "CN=127.0.0.1", inter, [], ips: [IPAddress.Loopback]);
        Leaf("clientauth", $"CN={Host}", inter, [Host], eku: ClientAuth);
        Leaf("rsaleaf", $"CN={Host}", inter, [Host], rsa: true);
        Leaf("selfsigned", $"CN={Host}", null, [Host]);

        // An intermediate that expired yesterday, with a still-valid leaf under it (signed past the
        // issuer's validity on purpose, which CertificateRequest.Create(issuerCert) refuses).
        var expiredInter = Ca("expiredintermediate", "CN=Tern Expired Intermediate", root, Now.AddDays(-300), Now.AddDays(-1));
        Leaf("leafunderexpired", $"CN={Host}", expiredInter, [Host], bypassIssuerValidity: true);

        var other = Ca("otherroot", "CN=Other Root", null, caFrom, caTo);
        Leaf("otherleaf", $"CN={Host}", other, [Host]);

        // Names the intermediate as issuer (subject and key identifier) but is signed by another key:
        // only the signature check tells it apart.
        using (var otherKey = other.GetECDsaPrivateKey())
            Leaf("forged", $"CN={Host}", inter, [Host], signWith: otherKey);

        BundlePath = Path.Combine(Dir, "bundle.pem");
        File.WriteAllText(BundlePath, "# test bundle\n" + root.ExportCertificatePem() + "\n");
        OtherBundlePath = Path.Combine(Dir, "other.pem");
        File.WriteAllText(OtherBundlePath, other.ExportCertificatePem() + "\n");
    }

    public X509Certificate2 this[string name] => _certs[name];

    /// <summary>Certificates by name, e.g. "intermediate,root"; empty string: none.</summary>
    public X509Certificate2Collection Collection(string names)
    {
        var c = new X509Certificate2Collection();
        foreach (var n in names.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            c.Add(_certs[n]);
        return c;
    }

    /// <summary>
    /// A chain object shaped like the one SslStream hands the validation callback: the certificates the
    /// server sent in ChainPolicy.ExtraStore, not built. "null" gives no chain at all.
    /// </summary>
    public X509Chain? Presented(string? names)
    {
        if (names == "null")
            return null;
        var chain = new X509Chain();
        chain.ChainPolicy.ExtraStore.AddRange(Collection(names ?? ""));
        return chain;
    }

    /// <summary>
    /// TLSA records from "U S M cert[; ...]"; the data is computed from the named certificate
    /// (SPKI through the key object, independently of the verifier's PublicKey path). "bad31"
    /// as the name gives 31 zero bytes; unknown selectors hash the whole certificate.
    /// </summary>
    public List<TlsaRecord> Tlsa(string spec)
    {
        var list = new List<TlsaRecord>();
        foreach (var part in spec.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var f = part.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            byte u = byte.Parse(f[0]), s = byte.Parse(f[1]), m = byte.Parse(f[2]);
            if (f[3] == "bad31")
            {
                list.Add(new TlsaRecord(u, s, m, new byte[31]));
                continue;
            }
            var cert = _certs[f[3]];
            byte[] selected = s == 1 ? Spki(cert) : cert.RawData;
            byte[] data = m switch
            {
                0 => selected,
                2 => SHA512.HashData(selected),
                _ => SHA256.HashData(selected),
            };
            list.Add(new TlsaRecord(u, s, m, data));
        }
        return list;
    }

    private static byte[] Spki(X509Certificate2 cert)
    {
        using var ec = cert.GetECDsaPublicKey();
        if (ec is not null)
            return ec.ExportSubjectPublicKeyInfo();
        using var rsa = cert.GetRSAPublicKey() ?? throw new InvalidOperationException("no key");
        return rsa.ExportSubjectPublicKeyInfo();
    }

    private X509Certificate2 Ca(string name, string subject, X509Certificate2? issuer, DateTimeOffset from, DateTimeOffset to)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        _keys.Add(key);
        var req = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        var ski = new X509SubjectKeyIdentifierExtension(req.PublicKey, false);
        req.CertificateExtensions.Add(ski);
        X509Certificate2 cert;
        if (issuer is null)
        {
            cert = req.CreateSelfSigned(from, to);
        }
        else
        {
            req.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
            using var pub = req.Create(issuer, from, to, Serial());
            cert = pub.CopyWithPrivateKey(key);
        }
        _certs[name] = cert;
        return cert;
    }

    private void Leaf(string name, string subject, X509Certificate2? issuer, string[] dns, IPAddress[]? ips = null,
        DateTimeOffset? from = null, DateTimeOffset? to = null, string? eku = null, bool rsa = false, bool bypassIssuerValidity = false, ECDsa? signWith = null)
    {
        AsymmetricAlgorithm key = rsa ? RSA.Create(2048) : ECDsa.Create(ECCurve.NamedCurves.nistP256);
        _keys.Add(key);
        var req = key is RSA r
            ? new CertificateRequest(subject, r, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            : new CertificateRequest(subject, (ECDsa)key, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(eku ?? ServerAuth)], false));
        if (dns.Length > 0 || ips is { Length: > 0 })
        {
            var san = new SubjectAlternativeNameBuilder();
            foreach (var d in dns)
                san.AddDnsName(d);
            foreach (var ip in ips ?? [])
                san.AddIpAddress(ip);
            req.CertificateExtensions.Add(san.Build());
        }
        var nb = from ?? Now.AddDays(-1);
        var na = to ?? Now.AddDays(30);
        X509Certificate2 pub;
        if (issuer is null)
        {
            pub = req.CreateSelfSigned(nb, na);
            _certs[name] = pub;
            return;
        }
        req.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        if (bypassIssuerValidity || rsa || signWith is not null)
        {
            // The generator overload neither checks the issuer's validity period nor requires the
            // issuer's key algorithm to match the subject's (RSA leaf under an EC CA).
            var issuerKey = signWith ?? issuer.GetECDsaPrivateKey() ?? throw new InvalidOperationException("issuer key");
            if (signWith is null)
                _keys.Add(issuerKey);
            pub = req.Create(issuer.SubjectName, X509SignatureGenerator.CreateForECDsa(issuerKey), nb, na, Serial());
        }
        else
        {
            pub = req.Create(issuer, nb, na, Serial());
        }
        using (pub)
            _certs[name] = key is RSA rk ? pub.CopyWithPrivateKey(rk) : pub.CopyWithPrivateKey((ECDsa)key);
    }

    private static byte[] Serial()
    {
        var s = RandomNumberGenerator.GetBytes(16);
        s[0] &= 0x7F;
        s[0] |= 0x01;
        return s;
    }

    public void Dispose()
    {
        foreach (var c in _certs.Values)
            c.Dispose();
        foreach (var k in _keys)
            k.Dispose();
        Directory.Delete(Dir, true);
    }
}
