using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Tern.Smtp.Client.Tls;

/// <summary>
/// Verifies an SMTP server's certificate both ways, WebPKI (RFC 5280 chain, RFC 6125/9525 name)
/// and DANE (RFC 7672, RFC 7671, RFC 6698), and applies <see cref="ClientTlsOptions"/>. Call it from
/// SslStream's RemoteCertificateValidationCallback and return <see cref="TlsVerification.Accepted"/>;
/// the SslPolicyErrors argument of the callback is not used (this class redoes the work with the
/// client's own roots and name rules).
/// </summary>
public static class TlsVerifier
{
    /// <summary>id-kp-serverAuth (RFC 5280 section 4.2.1.12).</summary>
    private const string ServerAuthOid = "1.3.6.1.5.5.7.3.1";

    /// <summary>
    /// As <see cref="Verify(X509Certificate2, X509Chain?, ClientTlsOptions, TrustStore?)"/> without a
    /// <see cref="TrustStore"/>: a CA bundle is parsed on every call. Fine for tests and one-off
    /// connections; a delivery service should hold a <see cref="TrustStore"/>.
    /// </summary>
    public static TlsVerification Verify(X509Certificate2 leaf, X509Chain? presented, ClientTlsOptions options)
        => Verify(leaf, presented, options, null);

    /// <summary>
    /// Runs both verifications and decides.
    /// <para><paramref name="leaf"/>: the server's certificate. <paramref name="presented"/>: the chain
    /// object SslStream gives the validation callback; its ChainPolicy.ExtraStore holds the
    /// certificates the server sent and its ChainElements what the platform built from them. Both
    /// are only a source of intermediates/anchors: trust comes from <paramref name="options"/>.</para>
    /// <para><paramref name="trustStore"/>: cache of parsed CA bundles; null parses
    /// <see cref="ClientTlsOptions.CaBundlePath"/> on each call.</para>
    /// <para>Never throws for a bad certificate or an unreadable CA bundle: those are reported in
    /// <see cref="TlsVerification.PkixError"/>.</para>
    /// <para>DANE with TLSA records present but none usable (RFC 7672 section 2.2) gives
    /// <see cref="TlsVerification.DaneValid"/> null with the reason in <see cref="TlsVerification.DaneError"/>;
    /// it does not fail <see cref="TlsVerification.Accepted"/> even under <see cref="ClientTlsOptions.VerifyDane"/>.
    /// TLS was still mandatory for that host, which the caller enforces (it must not fall back to
    /// plaintext); the server is then unauthenticated unless PKIX is required and passes.</para>
    /// </summary>
    public static TlsVerification Verify(X509Certificate2 leaf, X509Chain? presented, ClientTlsOptions options, TrustStore? trustStore)
    {
        ArgumentNullException.ThrowIfNull(leaf);
        ArgumentNullException.ThrowIfNull(options);

        var sent = CollectPresented(leaf, presented);
        var (pkixValid, pkixError) = VerifyPkix(leaf, sent, options, trustStore);
        var (daneValid, daneError) = DaneVerifier.Verify(leaf, sent, options);

        // DaneValid == null (no records, or none usable: RFC 7672 section 2.2) never fails the
        // handshake here; whether TLS itself was mandatory is the caller's decision.
        bool accepted = options.IgnoreVerificationErrors
            || ((!options.VerifyPkix || pkixValid) && (!options.VerifyDane || daneValid != false));
        return new TlsVerification(pkixValid, pkixError, daneValid, daneError, accepted);
    }

    /// <summary>
    /// WebPKI: chain to a trusted root, validity periods, serverAuth EKU when present, then the name.
    /// Revocation is not checked: SMTP MTAs do not do OCSP/CRL (no stapling in SMTP practice,
    /// RFC 7672 and RFC 8461 require none), a fetch would add blocking network I/O to every handshake
    /// and leak the destination to the CA, and a soft-fail check would add nothing.
    /// AIA downloads are off too: a server must send its intermediates (RFC 8446 section 4.4.2,
    /// RFC 5246 section 7.4.2), and verification must not wait on the network.
    /// </summary>
    private static (bool Valid, string? Error) VerifyPkix(X509Certificate2 leaf, X509Certificate2Collection sent, ClientTlsOptions options, TrustStore? trustStore)
    {
        X509Certificate2Collection? roots = null;
        bool ownRoots = false;
        if (options.CaBundlePath is { } path)
        {
            try
            {
                if (trustStore is null)
                {
                    roots = TrustStore.Load(path);
                    ownRoots = true;
                }
                else
                {
                    roots = trustStore.Roots(path);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
            {
                return (false, $"cannot load CA bundle {path}: {e.Message}");
            }
            if (roots.Count == 0)
            {
                DisposeAll(roots, ownRoots);
                return (false, $"CA bundle {path} holds no certificates");
            }
        }

        try
        {
            var errors = new List<string>(2);
            using (var chain = new X509Chain())
            {
                var policy = chain.ChainPolicy;
                policy.RevocationMode = X509RevocationMode.NoCheck;
                policy.DisableCertificateDownloads = true;
                policy.VerificationFlags = X509VerificationFlags.NoFlag; // expiry and everything else checked
                policy.ApplicationPolicy.Add(new Oid(ServerAuthOid));
                policy.ExtraStore.AddRange(sent);
                if (roots is not null)
                {
                    // Only the bundle's certificates are trusted (not the system's).
                    policy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    policy.CustomTrustStore.AddRange(roots);
                }
                if (!chain.Build(leaf))
                {
                    var flags = new List<string>();
                    foreach (var s in chain.ChainStatus)
                        if (s.Status != X509ChainStatusFlags.NoError)
                            flags.Add(DescribeStatus(s));
                    errors.Add("certificate chain: " + (flags.Count > 0 ? string.Join(", ", flags) : "not valid"));
                }
            }
            if (!CertificateNames.MatchesAny(leaf, [options.ServerName]))
                errors.Add($"certificate names ({CertificateNames.Describe(leaf)}) do not match {options.ServerName}");
            return errors.Count == 0 ? (true, null) : (false, string.Join("; ", errors));
        }
        finally
        {
            DisposeAll(roots, ownRoots);
        }
    }

    /// <summary>"NotTimeValid (certificate has expired)".</summary>
    internal static string DescribeStatus(X509ChainStatus s)
    {
        var info = s.StatusInformation?.Trim().TrimEnd('.');
        return string.IsNullOrEmpty(info) ? s.Status.ToString() : $"{s.Status} ({info})";
    }

    /// <summary>The certificates the server sent plus the platform-built chain, without the leaf and without duplicates.</summary>
    private static X509Certificate2Collection CollectPresented(X509Certificate2 leaf, X509Chain? presented)
    {
        var result = new X509Certificate2Collection();
        if (presented is null)
            return result;
        foreach (var c in presented.ChainPolicy.ExtraStore)
            AddUnique(result, leaf, c);
        foreach (var e in presented.ChainElements)
            AddUnique(result, leaf, e.Certificate);
        return result;
    }

    private static void AddUnique(X509Certificate2Collection into, X509Certificate2 leaf, X509Certificate2 c)
    {
        var raw = c.RawDataMemory.Span;
        if (raw.SequenceEqual(leaf.RawDataMemory.Span))
            return;
        foreach (var existing in into)
            if (raw.SequenceEqual(existing.RawDataMemory.Span))
                return;
        into.Add(c);
    }

    private static void DisposeAll(X509Certificate2Collection? certs, bool owned)
    {
        if (!owned || certs is null)
            return;
        foreach (var c in certs)
            c.Dispose();
    }
}
