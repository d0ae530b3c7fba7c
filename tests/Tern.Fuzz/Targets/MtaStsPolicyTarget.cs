using System.Text;
using Tern.Fuzz.Support;
using Tern.MtaSts;

namespace Tern.Fuzz.Targets;

/// <summary>
/// The MTA-STS policy file (RFC 8461 section 3.2) as fetched from https://mta-sts.DOMAIN: the input
/// as UTF-8 text through <see cref="MtaStsPolicy.TryParse"/>, then the MX matching delivery does
/// (section 4.1) against a few host names. Bad input may only come back as false with an error.
/// </summary>
internal static class MtaStsPolicyTarget
{
    private static readonly string[] Hosts = ["mx.example.com", "a.mx.example.com", "example.com", "MX.EXAMPLE.COM.", "xn--bcher-kva.example", ""];

    public static void Run(ReadOnlySpan<byte> input)
    {
        var text = Encoding.UTF8.GetString(input);
        var ok = MtaStsPolicy.TryParse(text, "20240101", out var policy, out var error);
        if (!ok)
        {
            FuzzInvariantException.Check(policy is null && !string.IsNullOrEmpty(error), "failure without an error");
            return;
        }

        FuzzInvariantException.Check(policy is not null, "success without a policy");
        FuzzInvariantException.Check(Enum.IsDefined(policy!.Mode), "unknown mode");
        FuzzInvariantException.Check(policy.MaxAgeSeconds is >= 0 and <= MtaStsPolicy.MaxMaxAgeSeconds, $"max_age {policy.MaxAgeSeconds}");
        _ = policy.ToString();
        foreach (var host in Hosts)
        {
            _ = policy.MatchesMx(host);
        }

        foreach (var mx in policy.Mx)
        {
            _ = policy.MatchesMx(mx.StartsWith("*.", StringComparison.Ordinal) ? "x" + mx[1..] : mx);
        }
    }
}
