namespace Tern.Dns;

/// <summary>Whether delivery can go ahead, should retry later, or must give up (with the enhanced status code given).</summary>
public enum DestinationStatus
{
    Ok,
    TemporaryFailure,
    PermanentFailure,
}

/// <summary>Enhanced status codes (RFC 3463) for the DNS outcomes of destination resolution.</summary>
public static class DestinationCodes
{
    /// <summary>RFC 7505 section 4.2 (registered by RFC 7505 section 5): the domain publishes a null MX.</summary>
    public const string NullMx = "5.1.10";

    /// <summary>RFC 3463 X.1.2, bad destination system address: the domain does not exist.</summary>
    public const string NoSuchDomain = "5.1.2";

    /// <summary>RFC 3463 X.4.4, unable to route: no usable host or address.</summary>
    public const string NoRoute = "5.4.4";

    /// <summary>RFC 3463 X.4.3, directory server failure: DNS did not answer; try later.</summary>
    public const string DnsFailure = "4.4.3";
}
