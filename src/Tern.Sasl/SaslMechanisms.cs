namespace Tern.Sasl;

/// <summary>The mechanism names this library implements, as registered with IANA.</summary>
public static class SaslMechanisms
{
    public const string Plain = "PLAIN";
    public const string Login = "LOGIN";
    public const string CramMd5 = "CRAM-MD5";
    public const string ScramSha1 = "SCRAM-SHA-1";
    public const string ScramSha256 = "SCRAM-SHA-256";
    public const string ScramSha1Plus = "SCRAM-SHA-1-PLUS";
    public const string ScramSha256Plus = "SCRAM-SHA-256-PLUS";

    /// <summary>
    /// Every mechanism, strongest first: the default list a server advertises (subject to TLS and
    /// channel binding being available) and the order a client prefers.
    /// </summary>
    public static IReadOnlyList<string> All { get; } =
    [
        ScramSha256Plus, ScramSha256, ScramSha1Plus, ScramSha1, CramMd5, Plain, Login,
    ];

    /// <summary>True for the -PLUS (channel binding) variants.</summary>
    public static bool IsPlus(string mechanism) => mechanism.EndsWith("-PLUS", StringComparison.OrdinalIgnoreCase);

    /// <summary>True for mechanisms that send the password itself (PLAIN, LOGIN): only over TLS by default.</summary>
    public static bool SendsPassword(string mechanism) =>
        string.Equals(mechanism, Plain, StringComparison.OrdinalIgnoreCase) || string.Equals(mechanism, Login, StringComparison.OrdinalIgnoreCase);

    /// <summary>The canonical (upper-case) spelling of a known mechanism, or null. SMTP clients may send "auth plain".</summary>
    public static string? Canonical(string mechanism)
    {
        foreach (var name in All)
        {
            if (string.Equals(name, mechanism, StringComparison.OrdinalIgnoreCase))
            {
                return name;
            }
        }

        return null;
    }
}
