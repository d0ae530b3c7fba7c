using Tern.Dns;

namespace Tern.MtaSts;

/// <summary>
/// A valid MTA-STS policy (RFC 8461 section 3.2) as served by the policy host, with the TXT record
/// id it was fetched under. Immutable; made only by <see cref="TryParse"/>.
/// </summary>
public sealed class MtaStsPolicy
{
    /// <summary>The largest max_age (RFC 8461 section 3.2: "maximum value of 31557600", one year).</summary>
    public const int MaxMaxAgeSeconds = 31_557_600;

    internal MtaStsPolicy(string id, MtaStsMode mode, IReadOnlyList<string> mx, int maxAgeSeconds, string text)
    {
        Id = id;
        Mode = mode;
        Mx = mx;
        MaxAgeSeconds = maxAgeSeconds;
        Text = text;
    }

    /// <summary>The id of the <c>_mta-sts</c> TXT record the policy was fetched under (RFC 8461 section 3.1).</summary>
    public string Id { get; }

    public MtaStsMode Mode { get; }

    /// <summary>The "mx" patterns in the order served, lower case: host names or "*." and a domain. Empty only in mode none.</summary>
    public IReadOnlyList<string> Mx { get; }

    /// <summary>How long the policy may be cached after it was fetched, in seconds (0 to <see cref="MaxMaxAgeSeconds"/>).</summary>
    public int MaxAgeSeconds { get; }

    /// <summary>How long the policy may be cached after it was fetched.</summary>
    public TimeSpan MaxAge => TimeSpan.FromSeconds(MaxAgeSeconds);

    /// <summary>The policy as served (what the cache stores and parses again on load).</summary>
    public string Text { get; }

    /// <summary>
    /// Parses a policy body (RFC 8461 section 3.2). False with a short reason when it is not a valid
    /// policy; see <see cref="PolicyParser"/> for the rules.
    /// </summary>
    /// <param name="text">The body as served (LF or CRLF lines).</param>
    /// <param name="id">The TXT record id it was fetched under: 1 to 32 letters and digits.</param>
    public static bool TryParse(string text, string id, out MtaStsPolicy? policy, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(id);
        if (!MtaStsRecord.IsValidId(id))
        {
            policy = null;
            error = "policy id is not 1 to 32 letters and digits";
            return false;
        }
        return PolicyParser.TryParse(text, id, out policy, out error);
    }

    /// <summary>
    /// Whether an MX host name is one the policy allows (RFC 8461 section 4.1): equal to a pattern, or
    /// "*.DOMAIN" with exactly one more label in front of DOMAIN ("*.example.com" matches
    /// "mx.example.com", not "example.com" nor "a.b.example.com"). ASCII case is ignored, a trailing
    /// dot is tolerated, a U-label host is compared as its A-label.
    /// </summary>
    public bool MatchesMx(string host)
    {
        ArgumentNullException.ThrowIfNull(host);
        // Only host names are MX targets (a "*" label would otherwise match a wildcard pattern).
        if (!DomainName.TryNormalize(host, out var name, out _) || DomainName.CheckHostName(name) == HostNameSyntax.Invalid)
            return false;
        foreach (var pattern in Mx)
        {
            if (pattern.StartsWith("*.", StringComparison.Ordinal))
            {
                var dot = name.IndexOf('.', StringComparison.Ordinal);
                if (dot > 0 && name.AsSpan(dot + 1).SequenceEqual(pattern.AsSpan(2)))
                    return true;
            }
            else if (string.Equals(name, pattern, StringComparison.Ordinal))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>"enforce mx=mx1.example.com,*.example.net max_age=604800 id=20240101".</summary>
    public override string ToString() =>
        $"{ModeName(Mode)} mx={string.Join(',', Mx)} max_age={MaxAgeSeconds} id={Id}";

    /// <summary>The mode as written in a policy: "none", "testing", "enforce".</summary>
    public static string ModeName(MtaStsMode mode) => mode switch
    {
        MtaStsMode.Enforce => "enforce",
        MtaStsMode.Testing => "testing",
        _ => "none",
    };
}
