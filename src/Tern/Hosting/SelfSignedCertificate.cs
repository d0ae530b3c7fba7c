using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Tern.Hosting;

/// <summary>
/// The certificate used by listeners that have none configured: ECDSA P-256, self-signed for the
/// host name, valid 10 years, generated once into <c>DATA/tls/</c> (key file mode 0600). Clients
/// cannot verify it; it exists so that STARTTLS and AUTH work out of the box on a test install.
/// </summary>
public static class SelfSignedCertificate
{
    public const string CertificateFile = "selfsigned.crt";
    public const string KeyFile = "selfsigned.key";

    /// <summary>Returns the (certificate, key) PEM paths, generating them if missing.</summary>
    public static (string Certificate, string Key, bool Created) Ensure(string directory, string hostname)
    {
        var certPath = Path.Combine(directory, CertificateFile);
        var keyPath = Path.Combine(directory, KeyFile);
        if (File.Exists(certPath) && File.Exists(keyPath))
        {
            return (certPath, keyPath, false);
        }

        Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={hostname}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(hostname);
        if (hostname != "localhost")
        {
            san.AddDnsName("localhost");
        }

        san.AddIpAddress(System.Net.IPAddress.Loopback);
        san.AddIpAddress(System.Net.IPAddress.IPv6Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var now = DateTimeOffset.UtcNow;
        using var cert = request.CreateSelfSigned(now.AddMinutes(-5), now.AddYears(10));

        // Write the key first with restrictive permissions, then publish both by rename.
        var keyTemp = keyPath + ".tmp";
        using (var stream = new FileStream(keyTemp, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(key.ExportPkcs8PrivateKeyPem());
        }

        var certTemp = certPath + ".tmp";
        File.WriteAllText(certTemp, cert.ExportCertificatePem());
        File.Move(keyTemp, keyPath, overwrite: true);
        File.Move(certTemp, certPath, overwrite: true);
        return (certPath, keyPath, true);
    }
}
