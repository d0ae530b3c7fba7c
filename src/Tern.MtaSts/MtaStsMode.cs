namespace Tern.MtaSts;

/// <summary>The "mode" of a policy (RFC 8461 section 3.2 and section 5).</summary>
public enum MtaStsMode
{
    /// <summary>The domain has withdrawn MTA-STS (section 8.3): deliver as without a policy.</summary>
    None,

    /// <summary>Report failures (TLS-RPT, RFC 8460) but deliver anyway (section 5.2).</summary>
    Testing,

    /// <summary>Deliver only to an MX host the policy names, over TLS with a PKIX-valid certificate (section 5).</summary>
    Enforce,
}
