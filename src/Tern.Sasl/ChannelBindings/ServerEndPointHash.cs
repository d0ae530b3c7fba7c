using System.Diagnostics.CodeAnalysis;
using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Tern.Sasl.ChannelBindings;

/// <summary>
/// The tls-server-end-point hash (RFC 5929 section 4.1): the server certificate hashed with the
/// hash of its signature algorithm, except that MD5 and SHA-1 are replaced by SHA-256.
/// </summary>
internal static class ServerEndPointHash
{
    private static readonly Asn1Tag PssHashAlgorithmTag = new(TagClass.ContextSpecific, 0, isConstructed: true);

    public static bool TryCompute(X509Certificate2 certificate, [NotNullWhen(true)] out byte[]? hash)
    {
        var algorithm = SignatureHash(certificate);
        if (algorithm is not { } name)
        {
            hash = null;
            return false;
        }

        // RFC 5929 section 4.1: "if the certificate's signatureAlgorithm uses a single hash function
        // and that hash function is either MD5 or SHA-1, then use SHA-256".
        if (name == HashAlgorithmName.MD5 || name == HashAlgorithmName.SHA1)
        {
            name = HashAlgorithmName.SHA256;
        }

        var data = certificate.RawDataMemory.Span;
        if (name == HashAlgorithmName.SHA256)
        {
            hash = SHA256.HashData(data);
        }
        else if (name == HashAlgorithmName.SHA384)
        {
            hash = SHA384.HashData(data);
        }
        else if (name == HashAlgorithmName.SHA512)
        {
            hash = SHA512.HashData(data);
        }
        else if (name == HashAlgorithmName.SHA3_256 && SHA3_256.IsSupported)
        {
            hash = SHA3_256.HashData(data);
        }
        else if (name == HashAlgorithmName.SHA3_384 && SHA3_384.IsSupported)
        {
            hash = SHA3_384.HashData(data);
        }
        else if (name == HashAlgorithmName.SHA3_512 && SHA3_512.IsSupported)
        {
            hash = SHA3_512.HashData(data);
        }
        else
        {
            hash = null;
        }

        return hash is not null;
    }

    /// <summary>The single hash of the certificate's signature algorithm; null for none, several, or unknown.</summary>
    internal static HashAlgorithmName? SignatureHash(X509Certificate2 certificate) => certificate.SignatureAlgorithm.Value switch
    {
        "1.2.840.113549.1.1.4" => HashAlgorithmName.MD5, // md5WithRSAEncryption
        "1.2.840.113549.1.1.5" or "1.3.14.3.2.29" => HashAlgorithmName.SHA1, // sha1WithRSAEncryption (PKCS#1, OIW)
        "1.2.840.10045.4.1" => HashAlgorithmName.SHA1, // ecdsa-with-SHA1
        "1.2.840.10040.4.3" => HashAlgorithmName.SHA1, // dsa-with-sha1
        "1.2.840.113549.1.1.11" or "1.2.840.10045.4.3.2" or "2.16.840.1.101.3.4.3.2" => HashAlgorithmName.SHA256,
        "1.2.840.113549.1.1.12" or "1.2.840.10045.4.3.3" => HashAlgorithmName.SHA384,
        "1.2.840.113549.1.1.13" or "1.2.840.10045.4.3.4" => HashAlgorithmName.SHA512,
        "2.16.840.1.101.3.4.3.10" or "2.16.840.1.101.3.4.3.14" => HashAlgorithmName.SHA3_256, // ecdsa/rsa with SHA3-256
        "2.16.840.1.101.3.4.3.11" or "2.16.840.1.101.3.4.3.15" => HashAlgorithmName.SHA3_384,
        "2.16.840.1.101.3.4.3.12" or "2.16.840.1.101.3.4.3.16" => HashAlgorithmName.SHA3_512,
        "1.2.840.113549.1.1.10" => PssHash(certificate.RawDataMemory), // RSASSA-PSS: the hash is in the parameters
        _ => null, // Ed25519/Ed448 (no single hash: RFC 5929 leaves the binding undefined), SHA-224, unknown
    };

    /// <summary>
    /// The hashAlgorithm of RSASSA-PSS-params (RFC 4055 section 3.1), read from the certificate's
    /// outer signatureAlgorithm; absent means the default, SHA-1.
    /// </summary>
    private static HashAlgorithmName? PssHash(ReadOnlyMemory<byte> certificate)
    {
        try
        {
            var outer = new AsnReader(certificate, AsnEncodingRules.DER).ReadSequence();
            outer.ReadEncodedValue(); // tbsCertificate
            var algorithmIdentifier = outer.ReadSequence();
            algorithmIdentifier.ReadObjectIdentifier();
            if (!algorithmIdentifier.HasData)
            {
                return HashAlgorithmName.SHA1;
            }

            var parameters = algorithmIdentifier.ReadSequence();
            if (!parameters.HasData || !parameters.PeekTag().HasSameClassAndValue(PssHashAlgorithmTag))
            {
                return HashAlgorithmName.SHA1;
            }

            var hashAlgorithm = parameters.ReadSequence(PssHashAlgorithmTag).ReadSequence();
            return hashAlgorithm.ReadObjectIdentifier() switch
            {
                "1.3.14.3.2.26" => HashAlgorithmName.SHA1,
                "2.16.840.1.101.3.4.2.1" => HashAlgorithmName.SHA256,
                "2.16.840.1.101.3.4.2.2" => HashAlgorithmName.SHA384,
                "2.16.840.1.101.3.4.2.3" => HashAlgorithmName.SHA512,
                "2.16.840.1.101.3.4.2.8" => HashAlgorithmName.SHA3_256,
                "2.16.840.1.101.3.4.2.9" => HashAlgorithmName.SHA3_384,
                "2.16.840.1.101.3.4.2.10" => HashAlgorithmName.SHA3_512,
                _ => null,
            };
        }
        catch (AsnContentException)
        {
            return null;
        }
    }
}
