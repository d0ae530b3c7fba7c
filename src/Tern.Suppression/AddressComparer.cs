namespace Tern.Suppression;

/// <summary>
/// Addresses compared as whole strings with ASCII letters folded to lower case; every other
/// character (including non-ASCII SMTPUTF8 text) must match exactly. Strictly the local part is
/// case-sensitive (RFC 5321 section 2.4), but no real mailbox system relies on that, and treating
/// Bob@ and bob@ as two mailboxes would let a dead address come back under another spelling
/// (Postfix and mox fold the same way). The order is the ordinal order of the folded text: the
/// order of <see cref="SuppressionList.Page"/>.
/// </summary>
internal sealed class AddressComparer : IEqualityComparer<string>, IComparer<string>
{
    public static readonly AddressComparer Instance = new();

    private AddressComparer()
    {
    }

    public bool Equals(string? x, string? y)
    {
        if (ReferenceEquals(x, y))
        {
            return true;
        }

        if (x is null || y is null || x.Length != y.Length)
        {
            return false;
        }

        for (var i = 0; i < x.Length; i++)
        {
            if (x[i] != y[i] && Fold(x[i]) != Fold(y[i]))
            {
                return false;
            }
        }

        return true;
    }

    public int GetHashCode(string obj)
    {
        // HashCode is seeded per process: no precomputed collisions from remote addresses.
        var hash = default(HashCode);
        foreach (var c in obj)
        {
            hash.Add(Fold(c));
        }

        return hash.ToHashCode();
    }

    public int Compare(string? x, string? y)
    {
        if (x is null || y is null)
        {
            return x is null ? (y is null ? 0 : -1) : 1;
        }

        var n = Math.Min(x.Length, y.Length);
        for (var i = 0; i < n; i++)
        {
            var d = Fold(x[i]) - Fold(y[i]);
            if (d != 0)
            {
                return d;
            }
        }

        return x.Length - y.Length;
    }

    private static char Fold(char c) => c is >= 'A' and <= 'Z' ? (char)(c | 0x20) : c;
}
