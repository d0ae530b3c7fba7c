using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Tern.Load.Sink;

/// <summary>
/// The certificate of <c>--tls</c> without <c>--cert</c>: a fresh self-signed ECDSA P-256 one for
/// localhost and 127.0.0.1, valid for a month. Senders under test must not verify it (a load test
/// measures throughput, not PKI).
/// </summary>
internal static class SelfSignedCertificate
{
    public static SslStreamCertificateContext Create()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=tern-load sink", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());

        var now = DateTimeOffset.UtcNow;
        using var created = request.CreateSelfSigned(now.AddDays(-1), now.AddDays(30));

        // Re-import as PKCS#12 so that SslStream can use the private key (as Tern's ServerCertificate does).
        var leaf = X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pkcs12), null);
        return SslStreamCertificateContext.Create(leaf, additionalCertificates: null, offline: true);
    }
}
