namespace Tern.Scheduler;

/// <summary>Which destinations a set of limits applies to: recipient domains or MX host names.</summary>
public enum DestinationMatch : byte
{
    /// <summary>The recipient domain; a leading "." also matches subdomains.</summary>
    Domain,

    /// <summary>Any MX host (or smarthost) name of the destination; a leading "." or "*." matches subdomains.</summary>
    Mx,
}

/// <summary>Limits for the destinations a pattern matches.</summary>
public sealed record DestinationRule(DestinationMatch Match, string Pattern, DestinationLimits Limits);

/// <summary>
/// The limits of every destination: the first rule that matches (in order), else <see cref="Default"/>.
/// Decided once per destination, when it is first seen.
/// </summary>
public sealed record DestinationPolicy
{
    public DestinationLimits Default { get; init; } = new();

    public IReadOnlyList<DestinationRule> Rules { get; init; } = [];

    public DestinationLimits For(string domain, IReadOnlyList<string> hosts)
    {
        foreach (var rule in Rules)
        {
            if (rule.Match == DestinationMatch.Domain ? Matches(rule.Pattern, domain) : hosts.Any(h => Matches(rule.Pattern, h)))
            {
                return rule.Limits;
            }
        }

        return Default;
    }

    /// <summary>"example.com" matches itself; ".example.com" and "*.example.com" also match every subdomain. ASCII, any case.</summary>
    public static bool Matches(string pattern, string name)
    {
        var p = pattern.StartsWith("*.", StringComparison.Ordinal) ? pattern[1..] : pattern;
        name = name.TrimEnd('.');
        if (p.StartsWith('.'))
        {
            return name.Equals(p[1..], StringComparison.OrdinalIgnoreCase) || name.EndsWith(p, StringComparison.OrdinalIgnoreCase);
        }

        return name.Equals(p, StringComparison.OrdinalIgnoreCase);
    }
}
