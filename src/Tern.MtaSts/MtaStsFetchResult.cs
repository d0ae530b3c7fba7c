namespace Tern.MtaSts;

/// <summary>How one policy fetch ended (the <c>result</c> label of <c>tern_mtasts_fetches_total</c>).</summary>
public enum MtaStsFetchStatus
{
    /// <summary>HTTP 200 with a valid policy.</summary>
    Ok,

    /// <summary>Connection failure, HTTP status other than 200 and 3xx (404 included), or a broken response.</summary>
    HttpError,

    /// <summary>The TLS handshake failed or the certificate is not PKIX-valid for mta-sts.DOMAIN.</summary>
    TlsError,

    /// <summary>The body is not a valid policy (RFC 8461 section 3.2) or not UTF-8.</summary>
    Invalid,

    /// <summary>The body is larger than <see cref="MtaStsFetcher.MaxPolicyBytes"/>.</summary>
    TooLarge,

    /// <summary>The fetch took longer than <see cref="MtaStsOptions.FetchTimeout"/>.</summary>
    Timeout,

    /// <summary>An HTTP 3xx answer: redirects must not be followed (RFC 8461 section 3.3).</summary>
    Redirect,

    /// <summary>mta-sts.DOMAIN has no address, or its lookup failed.</summary>
    DnsError,
}

/// <summary>The outcome of <see cref="MtaStsFetcher.FetchAsync"/>: a policy, or why there is none.</summary>
public sealed record MtaStsFetchResult(MtaStsFetchStatus Status, MtaStsPolicy? Policy, string? Error)
{
    /// <summary>The result label of each <see cref="MtaStsFetchStatus"/>, by its value.</summary>
    public static readonly string[] StatusLabels = ["ok", "http_error", "tls_error", "invalid", "too_large", "timeout", "redirect", "dns_error"];

    public string StatusName => StatusLabels[(int)Status];
}
