namespace Tern.Dns;

/// <summary>
/// One TLSA record (RFC 6698 section 2.1), looked up at _25._tcp.HOST for DANE (RFC 7672). Named apart from
/// Tern.Smtp.Client.TlsaRecord, the verifier's input, so code using both namespaces needs no aliases.
/// </summary>
/// <param name="Usage">Certificate usage: 2 DANE-TA and 3 DANE-EE are the ones SMTP uses (RFC 7672 section 3.1).</param>
/// <param name="Selector">0 the full certificate, 1 the SubjectPublicKeyInfo.</param>
/// <param name="MatchingType">0 exact, 1 SHA-256, 2 SHA-512.</param>
/// <param name="Data">The certificate association data.</param>
public sealed record DnsTlsaRecord(byte Usage, byte Selector, byte MatchingType, byte[] Data)
{
    // Compared by content: two answers carrying the same record are equal.
    public bool Equals(DnsTlsaRecord? other) =>
        other is not null && Usage == other.Usage && Selector == other.Selector && MatchingType == other.MatchingType
        && Data.AsSpan().SequenceEqual(other.Data);

    public override int GetHashCode() => HashCode.Combine(Usage, Selector, MatchingType, Data.Length);
}
