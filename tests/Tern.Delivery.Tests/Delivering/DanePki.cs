using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Tern.Delivery.Tests.Delivering;

/// <summary>
/// The certificates the DANE delivery tests present, made in-process (P-256): a self-signed end-entity
/// certificate for DANE-EE, and a test CA (root, intermediate) issuing leaves for DANE-TA. TLSA data is
/// computed here from the key objects, independently of the verifier.
/// </summary>
public sealed class DanePki : IDisposable
{
    private readonly List<IDisposable> _owned = [];

    public DanePki(string taHost, string wrongNameHost)
    {
        var now = DateTimeOffset.UtcNow;

        // DANE-EE checks the key only (RFC 7672 section 3.1.1): a name that is not the MX host's and a
        // certificate that expired yesterday must not matter.
        var eeKey = Own(ECDsa.Create(ECCurve.NamedCurves.nistP256));
        var ee = new CertificateRequest("CN=not-the-mx.example", eeKey, HashAlgorithmName.SHA256);
        ee.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        EndEntity = Own(ee.CreateSelfSigned(now.AddDays(-30), now.AddDays(-1)));
        EndEntitySpkiSha256 = SHA256.HashData(eeKey.ExportSubjectPublicKeyInfo());

        using (var other = ECDsa.Create(ECCurve.NamedCurves.nistP256))
        {
            OtherSpkiSha256 = SHA256.HashData(other.ExportSubjectPublicKeyInfo());
        }

        var (root, rootKey) = Ca("CN=Tern DANE Test Root", null, null, now);
        var (intermediate, intermediateKey) = Ca("CN=Tern DANE Test Issuing CA", root, rootKey, now);
        Intermediate = intermediate;
        IntermediateCertSha256 = SHA256.HashData(intermediate.RawData);
        TrustAnchorLeaf = Leaf(taHost, intermediate, intermediateKey, now);
        WrongNameLeaf = Leaf(wrongNameHost, intermediate, intermediateKey, now);
    }

    /// <summary>Self-signed, expired, named for another host: what a DANE-EE "3 1 1" record pins.</summary>
    public X509Certificate2 EndEntity { get; }

    public byte[] EndEntitySpkiSha256 { get; }

    /// <summary>SHA-256 of a key no certificate here has: a "3 1 1" record that matches nothing.</summary>
    public byte[] OtherSpkiSha256 { get; }

    /// <summary>The issuing CA the servers send with their leaf; DANE-TA records pin it ("2 0 1").</summary>
    public X509Certificate2 Intermediate { get; }

    public byte[] IntermediateCertSha256 { get; }

    /// <summary>Issued by <see cref="Intermediate"/> for the DANE-TA MX host.</summary>
    public X509Certificate2 TrustAnchorLeaf { get; }

    /// <summary>Issued by <see cref="Intermediate"/> for a name that is not the MX host's.</summary>
    public X509Certificate2 WrongNameLeaf { get; }

    /// <summary>What a server presents: the leaf alone (self-signed) or the leaf and the intermediate.</summary>
    public SslStreamCertificateContext Context(X509Certificate2 leaf) =>
        SslStreamCertificateContext.Create(leaf, ReferenceEquals(leaf, EndEntity) ? [] : [Intermediate], offline: true);

    public static string Hex(byte[] data) => Convert.ToHexStringLower(data);

    public void Dispose()
    {
        foreach (var o in _owned)
        {
            o.Dispose();
        }
    }

    private T Own<T>(T disposable)
        where T : IDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }

    private (X509Certificate2 Cert, ECDsa Key) Ca(string subject, X509Certificate2? issuer, ECDsa? issuerKey, DateTimeOffset now)
    {
        var key = Own(ECDsa.Create(ECCurve.NamedCurves.nistP256));
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        if (issuer is null)
        {
            return (Own(request.CreateSelfSigned(now.AddDays(-1), now.AddDays(365))), key);
        }

        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        using var signed = request.Create(issuer.SubjectName, X509SignatureGenerator.CreateForECDsa(issuerKey!), now.AddDays(-1), now.AddDays(300), Serial());
        return (Own(signed.CopyWithPrivateKey(key)), key);
    }

    private X509Certificate2 Leaf(string host, X509Certificate2 issuer, ECDsa issuerKey, DateTimeOffset now)
    {
        var key = Own(ECDsa.Create(ECCurve.NamedCurves.nistP256));
        var request = new CertificateRequest($"CN={host}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(host);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        using var signed = request.Create(issuer.SubjectName, X509SignatureGenerator.CreateForECDsa(issuerKey), now.AddDays(-1), now.AddDays(30), Serial());
        return Own(signed.CopyWithPrivateKey(key));
    }

    private static byte[] Serial()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] = (byte)((serial[0] & 0x7F) | 0x01);
        return serial;
    }
}
