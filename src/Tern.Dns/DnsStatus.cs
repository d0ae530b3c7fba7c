namespace Tern.Dns;

/// <summary>How a lookup ended. Delivery maps these to temporary or permanent failures.</summary>
public enum DnsStatus
{
    /// <summary>Records of the asked type exist (after following CNAMEs).</summary>
    Ok,

    /// <summary>The name exists but has no records of the asked type (NOERROR, empty answer; RFC 2308 section 2.2).</summary>
    NoData,

    /// <summary>The name does not exist (RCODE 3; RFC 2308 section 2.1). After a CNAME it is the target that does not exist (RFC 6604).</summary>
    NxDomain,

    /// <summary>SERVFAIL, REFUSED, timeout or a network error: worth retrying later.</summary>
    TemporaryFailure,

    /// <summary>FORMERR, NOTIMP and other answers that retrying will not change, or a name that cannot be queried.</summary>
    PermanentFailure,
}
