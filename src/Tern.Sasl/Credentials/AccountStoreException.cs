namespace Tern.Sasl.Credentials;

/// <summary>
/// An account store operation was refused or the file cannot be used. The message is meant for
/// the operator (it names the file or the account) and never contains a password or key.
/// </summary>
public sealed class AccountStoreException : Exception
{
    public AccountStoreException()
    {
    }

    public AccountStoreException(string message)
        : base(message)
    {
    }

    public AccountStoreException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
