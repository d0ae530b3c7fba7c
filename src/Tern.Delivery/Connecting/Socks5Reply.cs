namespace Tern.Delivery;

/// <summary>The REP field of a SOCKS5 reply (RFC 1928 section 6).</summary>
public enum Socks5Reply : byte
{
    Succeeded = 0,
    GeneralFailure = 1,
    NotAllowedByRuleset = 2,
    NetworkUnreachable = 3,
    HostUnreachable = 4,
    ConnectionRefused = 5,
    TtlExpired = 6,
    CommandNotSupported = 7,
    AddressTypeNotSupported = 8,
}

/// <summary>Meaning of each reply code and how a connector treats it.</summary>
internal static class Socks5Replies
{
    /// <summary>The RFC 1928 section 6 wording.</summary>
    public static string Describe(byte rep) => (Socks5Reply)rep switch
    {
        Socks5Reply.Succeeded => "succeeded",
        Socks5Reply.GeneralFailure => "general SOCKS server failure",
        Socks5Reply.NotAllowedByRuleset => "connection not allowed by ruleset",
        Socks5Reply.NetworkUnreachable => "network unreachable",
        Socks5Reply.HostUnreachable => "host unreachable",
        Socks5Reply.ConnectionRefused => "connection refused",
        Socks5Reply.TtlExpired => "TTL expired",
        Socks5Reply.CommandNotSupported => "command not supported",
        Socks5Reply.AddressTypeNotSupported => "address type not supported",
        _ => "unassigned reply code",
    };

    /// <summary>
    /// The error kind for a failure reply, and whether to stop (a proxy that cannot CONNECT at all);
    /// "address type not supported" is not fatal: the next address may be of the other family.
    /// </summary>
    public static (ConnectErrorKind Kind, bool Fatal) Classify(byte rep) => (Socks5Reply)rep switch
    {
        Socks5Reply.GeneralFailure => (ConnectErrorKind.Failed, false),
        Socks5Reply.NotAllowedByRuleset => (ConnectErrorKind.NotAllowed, false),
        Socks5Reply.NetworkUnreachable or Socks5Reply.HostUnreachable => (ConnectErrorKind.Unreachable, false),
        Socks5Reply.ConnectionRefused => (ConnectErrorKind.Refused, false),
        Socks5Reply.TtlExpired => (ConnectErrorKind.TimedOut, false),
        Socks5Reply.AddressTypeNotSupported => (ConnectErrorKind.ProxyProtocol, false),
        _ => (ConnectErrorKind.ProxyProtocol, true),
    };
}
