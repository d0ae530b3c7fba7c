using Tern.Sasl.CramMd5;

namespace Tern.Sasl.Credentials;

/// <summary>
/// One account of the <see cref="AccountStore"/>. Public members show what an operator may see
/// (name, dates, settings); the derived keys are internal and never printed.
/// </summary>
public sealed class Account
{
    /// <param name="senders">Null: the default for the name (<see cref="SenderAddresses.DefaultFor"/>).</param>
    internal Account(string username, ScramCredential scramSha1, ScramCredential scramSha256, HmacMd5Precomputed? cramMd5, DateTimeOffset created, DateTimeOffset passwordChanged, SenderAddresses? senders = null)
    {
        Username = username;
        ScramSha1 = scramSha1;
        ScramSha256 = scramSha256;
        CramMd5 = cramMd5;
        Created = created;
        PasswordChanged = passwordChanged;
        Senders = senders ?? SenderAddresses.DefaultFor(username);
    }

    /// <summary>The name as given when the account was added; lookups are exact (case-sensitive).</summary>
    public string Username { get; }

    public DateTimeOffset Created { get; }

    public DateTimeOffset PasswordChanged { get; }

    /// <summary>The PBKDF2 iteration count of the SCRAM keys (also what PLAIN/LOGIN cost per attempt).</summary>
    public int Iterations => ScramSha256.Iterations;

    /// <summary>True when CRAM-MD5 may be used for this account.</summary>
    public bool CramMd5Enabled => CramMd5 is not null;

    /// <summary>
    /// The envelope senders this account may use, normalised: <c>local@domain</c>, <c>@domain</c>
    /// (exactly that domain) or <c>*</c> (any sender). Empty: it may authenticate but send from no
    /// address. See <see cref="MaySendAs"/>.
    /// </summary>
    public IReadOnlyList<string> Addresses => Senders.Patterns;

    internal ScramCredential ScramSha1 { get; }

    internal ScramCredential ScramSha256 { get; }

    internal HmacMd5Precomputed? CramMd5 { get; }

    internal SenderAddresses Senders { get; }

    /// <summary>
    /// True when this account may use <paramref name="address"/> as its envelope sender (else the
    /// SMTP server answers 553 5.7.1). <paramref name="address"/> is the MAIL FROM mailbox as the
    /// server parsed it: UTF-8 <c>local@domain</c> without angle brackets or source route; the
    /// null sender <c>&lt;&gt;</c> is an empty span and only <c>*</c> allows it. Compared ordinally
    /// except ASCII letters, which match case-insensitively (local part included); <c>@domain</c>
    /// does not match subdomains. Allocation-free.
    /// </summary>
    public bool MaySendAs(ReadOnlySpan<byte> address) => Senders.Allows(address);

    /// <summary>The same account (keys, dates, settings) with other sender addresses.</summary>
    internal Account WithSenders(SenderAddresses senders) =>
        new(Username, ScramSha1, ScramSha256, CramMd5, Created, PasswordChanged, senders);

    public override string ToString() => $"{Username} (iterations {Iterations}, CRAM-MD5 {(CramMd5Enabled ? "on" : "off")})";
}
