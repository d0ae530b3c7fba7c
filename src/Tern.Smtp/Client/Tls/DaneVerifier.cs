using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Tern.Smtp.Client.Tls;

/// <summary>
/// DANE verification for SMTP (RFC 7672, with the operational rules of RFC 7671 and the record
/// format of RFC 6698). The records are taken as given: the caller supplies them only when the
/// whole DNS chain was DNSSEC-authentic (RFC 7672 section 2.1).
/// </summary>
internal static class DaneVerifier
{
    // RFC 6698 section 2.1.1 / RFC 7218 mnemonics.
    internal const byte PkixTa = 0, PkixEe = 1, DaneTa = 2, DaneEe = 3;
    // RFC 6698 section 2.1.2.
    internal const byte SelectorCert = 0, SelectorSpki = 1;
    // RFC 6698 section 2.1.3.
    internal const byte MatchFull = 0, MatchSha256 = 1, MatchSha512 = 2;

    /// <summary>
    /// Returns (null, null) when there are no records, (null, reason) when records exist but none is
    /// usable (RFC 7672 section 2.2: DANE does not authenticate the server then, though TLS stays
    /// mandatory), else (true, null) or (false, reason).
    /// </summary>
    internal static (bool? Valid, string? Error) Verify(X509Certificate2 leaf, X509Certificate2Collection presented, ClientTlsOptions options)
    {
        if (options.Tlsa.Count == 0)
            return (null, null);

        var usable = new List<TlsaRecord>();
        var unusable = new List<string>();
        foreach (var r in options.Tlsa)
        {
            if (WhyUnusable(r) is { } why)
                unusable.Add($"{Describe(r)}: {why}");
            else
                usable.Add(r);
        }
        if (usable.Count == 0)
            return (null, "no usable TLSA records (" + string.Join("; ", unusable) + ")");

        // DANE-EE(3): the leaf's certificate or key is the whole story; no name check and no
        // validity-period check (RFC 7672 section 3.1.1, RFC 7671 section 5.1).
        bool anyEe = false;
        foreach (var r in usable)
        {
            if (r.Usage != DaneEe)
                continue;
            anyEe = true;
            if (Matches(r, leaf))
                return (true, null);
        }

        var taRecords = usable.FindAll(r => r.Usage == DaneTa);
        var reasons = new List<string>(2);
        if (anyEe)
            reasons.Add("no DANE-EE record matches the server certificate");
        if (taRecords.Count > 0)
        {
            var taError = VerifyTrustAnchor(leaf, presented, taRecords, options);
            if (taError is null)
                return (true, null);
            reasons.Add("DANE-TA: " + taError);
        }
        return (false, string.Join("; ", reasons));
    }

    /// <summary>
    /// DANE-TA(2) (RFC 7672 section 3.1.2, RFC 7671 section 5.2): a certificate of the chain built from
    /// the leaf upward must match a DANE-TA record; every certificate below it must be valid
    /// (signatures, CA constraints, validity period); the leaf must carry one of the reference
    /// identifiers (RFC 7672 sections 3.2.2 and 3.2.3). Returns null when valid, else the reason.
    /// </summary>
    private static string? VerifyTrustAnchor(X509Certificate2 leaf, X509Certificate2Collection presented, List<TlsaRecord> taRecords, ClientTlsOptions options)
    {
        // The server must send the TA certificate, unless the record holds the whole certificate
        // (RFC 7671 section 5.2.2; RFC 7672 section 3.1.2). "2 1 0" (a bare public key not sent by the
        // server) cannot be turned into a certificate to build a chain to, so it only matches a
        // presented certificate.
        var owned = new List<X509Certificate2>();
        try
        {
            var pool = new X509Certificate2Collection(presented);
            foreach (var r in taRecords)
            {
                if (r.Selector != SelectorCert || r.MatchingType != MatchFull)
                    continue;
                try
                {
                    var ta = X509CertificateLoader.LoadCertificate(r.Data);
                    owned.Add(ta);
                    pool.Add(ta);
                }
                catch (CryptographicException)
                {
                    // Not a certificate: it cannot match any certificate either.
                }
            }

            var anchors = new X509Certificate2Collection();
            foreach (var c in pool)
                if (MatchesAny(taRecords, c))
                    anchors.Add(c);
            // A leaf that is itself the anchor (e.g. self-signed, "2 x x" on it) needs no chain;
            // the name check below still applies.
            if (!MatchesAny(taRecords, leaf))
            {
                if (anchors.Count == 0)
                    return "no certificate in the server's chain matches a DANE-TA record";
                if (ChainToAnchor(leaf, pool, anchors, taRecords) is { } chainError)
                    return chainError;
            }

            var names = new List<string>(1 + options.DaneNames.Count) { options.ServerName };
            names.AddRange(options.DaneNames);
            if (!CertificateNames.MatchesAny(leaf, names))
                return $"server certificate names ({CertificateNames.Describe(leaf)}) match none of {string.Join(", ", names)}";
            return null;
        }
        finally
        {
            foreach (var c in owned)
                c.Dispose();
        }
    }

    /// <summary>
    /// Builds the chain from <paramref name="leaf"/> with the matching anchors as custom roots and
    /// walks it upward to the first certificate that matches a DANE-TA record. Certificates below
    /// that point must have no chain errors; the anchor and anything above it are not examined:
    /// a trust anchor is a name and a key (RFC 5280 section 6.1.1 (d)), so its own validity period,
    /// signature and issuer do not count (RFC 7671 section 5.2). The walk does not rely on how the
    /// platform treats a non-self-signed certificate in CustomTrustStore (on Linux it may report
    /// PartialChain/UntrustedRoot at or above the anchor; those flags are ignored there).
    /// </summary>
    private static string? ChainToAnchor(X509Certificate2 leaf, X509Certificate2Collection pool, X509Certificate2Collection anchors, List<TlsaRecord> taRecords)
    {
        using var chain = new X509Chain();
        var policy = chain.ChainPolicy;
        policy.RevocationMode = X509RevocationMode.NoCheck; // see TlsVerifier: no OCSP/CRL for SMTP
        policy.DisableCertificateDownloads = true;
        policy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        policy.CustomTrustStore.AddRange(anchors);
        policy.ExtraStore.AddRange(pool);
        policy.VerificationFlags = X509VerificationFlags.NoFlag;
        chain.Build(leaf);

        var problems = new List<string>();
        var elements = chain.ChainElements;
        for (int i = 0; i < elements.Count; i++)
        {
            var element = elements[i];
            if (i > 0 && MatchesAny(taRecords, element.Certificate))
            {
                if (problems.Count > 0)
                    return "certificate below the trust anchor is invalid: " + string.Join("; ", problems);
                return null;
            }
            var flags = ErrorFlags(element.ChainElementStatus);
            if (flags.Length > 0)
                problems.Add($"{element.Certificate.Subject}: {flags}");
        }
        return "the server certificate does not chain to the certificate matched by the DANE-TA record"
            + (problems.Count > 0 ? " (" + string.Join("; ", problems) + ")" : "");
    }

    /// <summary>Chain status flags that invalidate a certificate issued below a trust anchor.</summary>
    private static string ErrorFlags(X509ChainStatus[] statuses)
    {
        var parts = new List<string>();
        foreach (var s in statuses)
        {
            if (s.Status is X509ChainStatusFlags.NoError or X509ChainStatusFlags.UntrustedRoot or X509ChainStatusFlags.PartialChain)
                continue;
            parts.Add(TlsVerifier.DescribeStatus(s));
        }
        return string.Join(", ", parts);
    }

    private static bool MatchesAny(List<TlsaRecord> records, X509Certificate2 cert)
    {
        foreach (var r in records)
            if (Matches(r, cert))
                return true;
        return false;
    }

    /// <summary>RFC 6698 section 2.1.2 (selector) and 2.1.3 (matching type) applied to one certificate.</summary>
    internal static bool Matches(TlsaRecord r, X509Certificate2 cert)
    {
        byte[] selected = r.Selector == SelectorCert ? cert.RawData : cert.PublicKey.ExportSubjectPublicKeyInfo();
        return r.MatchingType switch
        {
            MatchFull => selected.AsSpan().SequenceEqual(r.Data),
            MatchSha256 => SHA256.HashData(selected).AsSpan().SequenceEqual(r.Data),
            MatchSha512 => SHA512.HashData(selected).AsSpan().SequenceEqual(r.Data),
            _ => false,
        };
    }

    /// <summary>
    /// Why a record cannot be used for SMTP (RFC 7672 section 2.2 and 3.1.3; RFC 7671 section 4):
    /// PKIX-TA(0)/PKIX-EE(1) are not used by SMTP clients, unknown field values and association data
    /// of the wrong length are unusable. Null when usable.
    /// </summary>
    internal static string? WhyUnusable(TlsaRecord r)
    {
        switch (r.Usage)
        {
            case PkixTa: return "usage PKIX-TA(0) is unusable for SMTP (RFC 7672 section 3.1.3)";
            case PkixEe: return "usage PKIX-EE(1) is unusable for SMTP (RFC 7672 section 3.1.3)";
            case DaneTa or DaneEe: break;
            default: return $"unknown certificate usage {r.Usage}";
        }
        if (r.Selector is not (SelectorCert or SelectorSpki))
            return $"unknown selector {r.Selector}";
        return r.MatchingType switch
        {
            MatchFull when r.Data is null || r.Data.Length == 0 => "empty association data",
            MatchFull => null,
            MatchSha256 when r.Data is null || r.Data.Length != 32 => "SHA-256 association data is not 32 bytes",
            MatchSha512 when r.Data is null || r.Data.Length != 64 => "SHA-512 association data is not 64 bytes",
            MatchSha256 or MatchSha512 => null,
            _ => $"unknown matching type {r.MatchingType}",
        };
    }

    /// <summary>"3 1 1 a1b2c3d4..." for messages.</summary>
    internal static string Describe(TlsaRecord r)
    {
        var data = r.Data ?? [];
        var hex = Convert.ToHexStringLower(data.AsSpan(0, Math.Min(data.Length, 8)));
        return $"{r.Usage} {r.Selector} {r.MatchingType} {hex}{(data.Length > 8 ? "..." : "")}";
    }
}
