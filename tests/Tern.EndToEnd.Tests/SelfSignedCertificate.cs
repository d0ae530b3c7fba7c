using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Tern.EndToEnd.Tests;

/// <summary>A listener certificate for tests whose clients do not verify it (swaks, smtptest): self-signed, P-256.</summary>
internal static class SelfSignedCertificate
{
    /// <summary>
    /// Writes a certificate for mx.tern.test, valid from five minutes ago for 30 days, and its key to
    /// <paramref name="directory"/>/mx.crt and mx.key (PEM); returns both paths and the key's PEM.
    /// </summary>
    public static (string CertPath, string KeyPath, string KeyPem) Write(string directory)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest("CN=mx.tern.test", key, HashAlgorithmName.SHA256);
        using var cert = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(30));
        var certPath = Path.Combine(directory, "mx.crt");
        var keyPath = Path.Combine(directory, "mx.key");
        var keyPem = key.ExportPkcs8PrivateKeyPem();
        File.WriteAllText(certPath, cert.ExportCertificatePem());
        File.WriteAllText(keyPath, keyPem);
        return (certPath, keyPath, keyPem);
    }
}
