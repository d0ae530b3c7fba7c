using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Tern.Smtp.Client.Tls;

/// <summary>
/// Server identity check (RFC 6125 section 6, RFC 9525 section 6) for the SMTP client:
/// <list type="bullet">
/// <item>Reference identifiers are DNS names (converted to A-labels, RFC 9525 section 6.1 / RFC 5890)
/// or IP addresses (RFC 9525 section 6.2, for smarthosts given as literals).</item>
/// <item>Presented DNS-IDs are the subjectAltName dNSName entries; comparison is ASCII
/// case-insensitive, a single trailing dot is ignored on both sides.</item>
/// <item>Wildcards (RFC 9525 section 6.3, RFC 6125 section 6.4.3, RFC 7672 section 3.2.3): only
/// "*" as the complete left-most label, matching exactly one non-empty label; at least two labels
/// must follow it ("*.test" never matches). Partial-label wildcards ("mx*.example.test") never match.</item>
/// <item>The subject CN is consulted only when the certificate has no dNSName at all (RFC 6125
/// section 6.4.4; RFC 9525 drops even this fallback, RFC 7672 predates it). With any DNS-ID in
/// the subjectAltName the CN is ignored.</item>
/// </list>
/// </summary>
internal static class CertificateNames
{
    private const string SubjectAltNameOid = "2.5.29.17";
    private const string CommonNameOid = "2.5.4.3";

    /// <summary>Whether <paramref name="cert"/> carries an identifier matching one of <paramref name="references"/>.</summary>
    internal static bool MatchesAny(X509Certificate2 cert, IEnumerable<string> references)
    {
        var presented = Presented(cert);
        foreach (var reference in references)
        {
            if (TryParseIp(reference, out var ip))
            {
                // IP-ID: only subjectAltName iPAddress entries, never DNS names or CN (RFC 9525 section 6.2).
                foreach (var p in presented.Ips)
                    if (p.Equals(ip))
                        return true;
                continue;
            }
            var name = NormaliseReference(reference);
            if (name is null)
                continue;
            foreach (var p in presented.DnsNames)
                if (MatchDns(p, name))
                    return true;
        }
        return false;
    }

    /// <summary>The identifiers as a short text for error messages ("DNS:a.example, IP:192.0.2.1" or "CN:a.example").</summary>
    internal static string Describe(X509Certificate2 cert)
    {
        var p = Presented(cert);
        var parts = new List<string>();
        foreach (var n in p.DnsNames)
            parts.Add((p.FromCommonName ? "CN:" : "DNS:") + n);
        foreach (var ip in p.Ips)
            parts.Add("IP:" + ip);
        return parts.Count == 0 ? "no DNS or IP identifiers" : string.Join(", ", parts);
    }

    private sealed record PresentedIds(List<string> DnsNames, List<IPAddress> Ips, bool FromCommonName);

    private static PresentedIds Presented(X509Certificate2 cert)
    {
        var dns = new List<string>();
        var ips = new List<IPAddress>();
        bool anyDnsId = false;
        foreach (var ext in cert.Extensions)
        {
            if (ext.Oid?.Value != SubjectAltNameOid)
                continue;
            var san = ext as X509SubjectAlternativeNameExtension ?? new X509SubjectAlternativeNameExtension(ext.RawData, ext.Critical);
            try
            {
                foreach (var n in san.EnumerateDnsNames())
                {
                    anyDnsId = true;
                    if (NormalisePresented(n) is { } norm)
                        dns.Add(norm);
                }
                foreach (var ip in san.EnumerateIPAddresses())
                    ips.Add(ip);
            }
            catch (CryptographicException)
            {
                // A malformed subjectAltName presents nothing (and still suppresses the CN fallback).
                anyDnsId = true;
            }
        }
        if (anyDnsId)
            return new PresentedIds(dns, ips, false);

        // RFC 6125 section 6.4.4: CN-ID only when no DNS-ID is presented.
        foreach (var rdn in cert.SubjectName.EnumerateRelativeDistinguishedNames())
        {
            if (rdn.HasMultipleElements || rdn.GetSingleElementType().Value != CommonNameOid)
                continue;
            if (rdn.GetSingleElementValue() is { } cn && NormalisePresented(cn) is { } norm)
                dns.Add(norm);
        }
        return new PresentedIds(dns, ips, dns.Count > 0);
    }

    /// <summary>Presented names must be ASCII host names (A-labels), optionally with a wildcard label.</summary>
    private static string? NormalisePresented(string name)
    {
        if (name.EndsWith('.'))
            name = name[..^1];
        if (name.Length == 0 || name.Length > 253)
            return null;
        foreach (char c in name)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '*' or '_'))
                return null;
        return name.ToLowerInvariant();
    }

    /// <summary>Reference names go to A-labels (RFC 9525 section 6.1, RFC 5891); null when not a valid name.</summary>
    internal static string? NormaliseReference(string name)
    {
        name = name.Trim();
        if (name.EndsWith('.'))
            name = name[..^1];
        if (name.Length == 0 || name.Contains('*', StringComparison.Ordinal))
            return null;
        try
        {
            // Lower-case first: IdnMapping does not fold upper-case U-labels under InvariantGlobalization.
            name = new IdnMapping().GetAscii(name.ToLowerInvariant());
        }
        catch (ArgumentException)
        {
            return null;
        }
        return name.ToLowerInvariant();
    }

    /// <summary>RFC 9525 section 6.3 / RFC 6125 section 6.4.3: exact match, or "*." + the reference without its first label.</summary>
    private static bool MatchDns(string presented, string reference)
    {
        if (!presented.Contains('*', StringComparison.Ordinal))
            return string.Equals(presented, reference, StringComparison.Ordinal);
        if (!presented.StartsWith("*.", StringComparison.Ordinal))
            return false; // partial-label or non-left-most wildcard
        var rest = presented[2..];
        if (rest.Contains('*', StringComparison.Ordinal) || !rest.Contains('.', StringComparison.Ordinal) || rest.StartsWith('.') || rest.EndsWith('.'))
            return false;
        int dot = reference.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0)
            return false; // the wildcard must match exactly one non-empty label
        return string.Equals(reference[(dot + 1)..], rest, StringComparison.Ordinal);
    }

    /// <summary>Strict IP literal detection: "[v6]", a v6 address, or a dotted quad (not "1" or "1.2", which IPAddress also parses).</summary>
    private static bool TryParseIp(string reference, out IPAddress ip)
    {
        var s = reference.Trim();
        if (s.StartsWith('[') && s.EndsWith(']'))
            s = s[1..^1];
        if (s.Contains(':', StringComparison.Ordinal))
            return IPAddress.TryParse(s, out ip!) && ip.AddressFamily == AddressFamily.InterNetworkV6;
        int dots = 0;
        foreach (char c in s)
        {
            if (c == '.')
                dots++;
            else if (!char.IsAsciiDigit(c))
            {
                ip = IPAddress.None;
                return false;
            }
        }
        if (dots == 3 && IPAddress.TryParse(s, out ip!))
            return true;
        ip = IPAddress.None;
        return false;
    }
}
