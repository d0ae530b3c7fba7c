namespace Tern.Sasl.Credentials;

/// <summary>Per-account choices when a password is set.</summary>
public sealed record AccountOptions
{
    /// <summary>
    /// Keep what CRAM-MD5 needs (HMAC-MD5 intermediate states). Off by default: those states are
    /// password-equivalent for CRAM-MD5, and MD5 is weak; enable only for clients that need it.
    /// </summary>
    public bool CramMd5 { get; init; }

    /// <summary>PBKDF2 iterations for the SCRAM keys; null: the store's default. 4096..1,000,000.</summary>
    public int? Iterations { get; init; }

    /// <summary>
    /// Envelope senders the account may use: <c>local@domain</c>, <c>@domain</c> (exactly that
    /// domain) or <c>*</c> (any sender, the null sender included: for trusted relaying
    /// applications only). Null: on <see cref="AccountStore.Add"/> the account's own name when it
    /// is an address, else none; on <see cref="AccountStore.SetPassword"/> the current list stays.
    /// An empty list lets the account authenticate but send from no address.
    /// </summary>
    public IReadOnlyList<string>? Addresses { get; init; }
}
