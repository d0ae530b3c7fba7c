using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Tern.Hosting;

/// <summary>
/// The certificate used by listeners that have none configured: ECDSA P-256, self-signed for the
/// host name, valid 10 years, generated once into <c>DATA/tls/</c> (key file mode 0600). Clients
/// cannot verify it with PKIX; it exists so that STARTTLS and AUTH work out of the box, and a DANE-EE
/// record (<c>tern dane tlsa</c>) can authenticate it. That record pins the key, so the key is kept:
/// a certificate that is missing, unreadable or within <see cref="RenewBefore"/> of its expiry is made
/// again for the same key (RFC 7672 section 3.1.1: a "3 1 1" record need not change across renewals
/// with the same key; a new key would need its record published first).
/// </summary>
public static class SelfSignedCertificate
{
    public const string CertificateFile = "selfsigned.crt";
    public const string KeyFile = "selfsigned.key";

    /// <summary>How long before its expiry the certificate is made again.</summary>
    public static readonly TimeSpan RenewBefore = TimeSpan.FromDays(30);

    /// <summary>
    /// Returns the (certificate, key) PEM paths, generating what is missing or due; Created is true
    /// when the certificate was written (with a new key only when there was no usable one).
    /// </summary>
    public static (string Certificate, string Key, bool Created) Ensure(string directory, string hostname, TimeProvider? clock = null)
    {
        var certPath = Path.Combine(directory, CertificateFile);
        var keyPath = Path.Combine(directory, KeyFile);
        var now = (clock ?? TimeProvider.System).GetUtcNow();
        if (File.Exists(keyPath) && Current(certPath, now))
        {
            return (certPath, keyPath, false);
        }

        Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var existing = ExistingKey(keyPath);
        using var key = existing ?? ECDsa.Create(ECCurve.NamedCurves.nistP256);
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
        using var cert = request.CreateSelfSigned(now.AddMinutes(-5), now.AddYears(10));

        // Write a new key first with restrictive permissions, then publish both by rename.
        if (existing is null)
        {
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

            File.Move(keyTemp, keyPath, overwrite: true);
        }

        var certTemp = certPath + ".tmp";
        File.WriteAllText(certTemp, cert.ExportCertificatePem());
        File.Move(certTemp, certPath, overwrite: true);
        return (certPath, keyPath, true);
    }

    /// <summary>Whether the certificate file holds a certificate that is not yet due for renewal.</summary>
    private static bool Current(string certPath, DateTimeOffset now)
    {
        if (!File.Exists(certPath))
        {
            return false;
        }

        try
        {
            using var cert = X509CertificateLoader.LoadCertificateFromFile(certPath);
            return cert.NotAfter.ToUniversalTime() - RenewBefore > now.UtcDateTime;
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    /// <summary>The P-256 key already in <paramref name="keyPath"/>, or null when there is none usable (then a new one is made).</summary>
    private static ECDsa? ExistingKey(string keyPath)
    {
        if (!File.Exists(keyPath))
        {
            return null;
        }

        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(File.ReadAllText(keyPath));
            if (key.KeySize == 256)
            {
                return key;
            }
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            // Not a usable key: replaced below, as if missing.
        }

        key.Dispose();
        return null;
    }
}
