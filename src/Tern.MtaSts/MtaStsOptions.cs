namespace Tern.MtaSts;

/// <summary>How <see cref="MtaStsPolicies"/> fetches and keeps policies. Built by the host from its configuration.</summary>
public sealed record MtaStsOptions
{
    /// <summary>
    /// Where the policy cache file (<see cref="MtaStsPolicies.CacheFileName"/>, mode 0600) lives; created
    /// (0700) when missing. Null: policies are kept in memory only and fetched again after a restart.
    /// </summary>
    public string? CacheDirectory { get; init; }

    /// <summary>
    /// PEM bundle of the roots trusted for the policy host's certificate (RFC 8461 section 3.3 requires
    /// a PKIX-valid one); null: the system's store. Usually the same bundle as the SMTP client's.
    /// </summary>
    public string? CaBundlePath { get; init; }

    /// <summary>The policy host's HTTPS port. 443 by RFC 8461 section 3.3; another value is for tests.</summary>
    public int Port { get; init; } = 443;

    /// <summary>
    /// The whole fetch (address lookup, connection, TLS, request and body) must finish within this
    /// (RFC 8461 section 3.3 suggests a timeout of one minute).
    /// </summary>
    public TimeSpan FetchTimeout { get; init; } = TimeSpan.FromMinutes(1);

    internal void Validate()
    {
        if (Port is < 1 or > 65535)
            throw new ArgumentOutOfRangeException(nameof(Port), Port, "the MTA-STS port must be from 1 to 65535");
        if (FetchTimeout <= TimeSpan.Zero || FetchTimeout > TimeSpan.FromMinutes(10))
            throw new ArgumentOutOfRangeException(nameof(FetchTimeout), FetchTimeout, "the MTA-STS fetch timeout must be positive and at most 10 minutes");
    }
}
