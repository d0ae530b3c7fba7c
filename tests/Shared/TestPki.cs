using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Tern.Tests.Support;

/// <summary>
/// Certificates for policy hosts and SMTP servers, made in-process: a test root (written alone to a PEM bundle,
/// <see cref="BundlePath"/>), leaves it signs for any name, and an unrelated root for untrusted leaves.
/// </summary>
public sealed class TestPki : IDisposable
{
    private readonly X509Certificate2 _root;
    private readonly X509Certificate2 _otherRoot;
    private readonly List<IDisposable> _owned = [];
    private readonly Dictionary<string, X509Certificate2> _leaves = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public TestPki()
    {
        Dir = Directory.CreateTempSubdirectory("tern-test-pki-").FullName;
        _root = Root("CN=Tern MTA-STS Test Root");
        _otherRoot = Root("CN=Unrelated Root");
        BundlePath = Path.Combine(Dir, "bundle.pem");
        File.WriteAllText(BundlePath, "# test bundle\n" + _root.ExportCertificatePem() + "\n");
    }

    public string Dir { get; }

    /// <summary>The PEM bundle holding the test root only.</summary>
    public string BundlePath { get; }

    /// <summary>A leaf for <paramref name="name"/> signed by the test root (cached).</summary>
    public X509Certificate2 Leaf(string name) => Get("trusted:" + name, () => Issue(name, _root, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30)));

    /// <summary>A leaf for <paramref name="name"/> signed by a root no bundle holds.</summary>
    public X509Certificate2 Untrusted(string name) => Get("untrusted:" + name, () => Issue(name, _otherRoot, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30)));

    /// <summary>A leaf for <paramref name="name"/> by the test root that expired yesterday.</summary>
    public X509Certificate2 Expired(string name) => Get("expired:" + name, () => Issue(name, _root, DateTimeOffset.UtcNow.AddDays(-30), DateTimeOffset.UtcNow.AddDays(-1)));

    private X509Certificate2 Get(string key, Func<X509Certificate2> make)
    {
        lock (_gate)
        {
            if (!_leaves.TryGetValue(key, out var cert))
                _leaves[key] = cert = make();
            return cert;
        }
    }

    private X509Certificate2 Root(string subject)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        _owned.Add(key);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-365), DateTimeOffset.UtcNow.AddDays(365));
        _owned.Add(cert);
        return cert;
    }

    private X509Certificate2 Issue(string name, X509Certificate2 issuer, DateTimeOffset from, DateTimeOffset to)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + name, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] = (byte)((serial[0] & 0x7f) | 0x01);
        // The generator overload does not refuse a validity outside the issuer's (the expired leaf).
        using var issuerKey = issuer.GetECDsaPrivateKey()!;
        using var plain = request.Create(issuer.SubjectName, X509SignatureGenerator.CreateForECDsa(issuerKey), from, to, serial);
        var cert = plain.CopyWithPrivateKey(key);
        _owned.Add(cert);
        return cert;
    }

    public void Dispose()
    {
        foreach (var d in _owned)
            d.Dispose();
        Directory.Delete(Dir, recursive: true);
    }
}
