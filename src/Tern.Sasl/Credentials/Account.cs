using Tern.Sasl.CramMd5;

namespace Tern.Sasl.Credentials;

/// <summary>
/// One account of the <see cref="AccountStore"/>. Public members show what an operator may see
/// (name, dates, settings); the derived keys are internal and never printed.
/// </summary>
public sealed class Account
{
    internal Account(string username, ScramCredential scramSha1, ScramCredential scramSha256, HmacMd5Precomputed? cramMd5, DateTimeOffset created, DateTimeOffset passwordChanged)
    {
        Username = username;
        ScramSha1 = scramSha1;
        ScramSha256 = scramSha256;
        CramMd5 = cramMd5;
        Created = created;
        PasswordChanged = passwordChanged;
    }

    /// <summary>The name as given when the account was added; lookups are exact (case-sensitive).</summary>
    public string Username { get; }

    public DateTimeOffset Created { get; }

    public DateTimeOffset PasswordChanged { get; }

    /// <summary>The PBKDF2 iteration count of the SCRAM keys (also what PLAIN/LOGIN cost per attempt).</summary>
    public int Iterations => ScramSha256.Iterations;

    /// <summary>True when CRAM-MD5 may be used for this account.</summary>
    public bool CramMd5Enabled => CramMd5 is not null;

    internal ScramCredential ScramSha1 { get; }

    internal ScramCredential ScramSha256 { get; }

    internal HmacMd5Precomputed? CramMd5 { get; }

    public override string ToString() => $"{Username} (iterations {Iterations}, CRAM-MD5 {(CramMd5Enabled ? "on" : "off")})";
}
