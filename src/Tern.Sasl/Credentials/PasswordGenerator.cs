using System.Security.Cryptography;

namespace Tern.Sasl.Credentials;

/// <summary>Random passwords for new accounts (<c>tern account add</c> without a password).</summary>
public static class PasswordGenerator
{
    /// <summary>
    /// Letters and digits without look-alikes (0/O, 1/l/I): safe to read out, type, put in a
    /// config file or a URL, and unchanged by any SASLprep. 57 symbols: 24 of them give ~140 bits.
    /// </summary>
    public const string Alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

    public const int DefaultLength = 24;

    public static string Generate(int length = DefaultLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 12);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, 256);
        return RandomNumberGenerator.GetString(Alphabet, length);
    }
}
