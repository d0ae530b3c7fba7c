namespace Tern.Suppression;

/// <summary>One suppressed address: why, since when, and who put it there.</summary>
/// <param name="Address">The address as first recorded (lookups ignore ASCII case).</param>
/// <param name="Reason">
/// Why: the remote server's reply (every line, CRLF-separated) for <see cref="SuppressionSource.Bounce"/>
/// and <see cref="SuppressionSource.RepeatedFailures"/>, the operator's text for <see cref="SuppressionSource.Operator"/>.
/// At most <see cref="SuppressionList.MaxReasonLength"/> characters.
/// </param>
/// <param name="Since">When the address was suppressed (UTC).</param>
/// <param name="Source">What suppressed it.</param>
public sealed record SuppressionEntry(string Address, string Reason, DateTimeOffset Since, SuppressionSource Source);

/// <summary>What put an address on the suppression list.</summary>
public enum SuppressionSource : byte
{
    /// <summary>One permanent failure that says the mailbox does not exist or refuses the sender (<see cref="SuppressionRules.SuppressesAtOnce"/>).</summary>
    Bounce = 1,

    /// <summary>Consecutive permanent failures reached the threshold (default 3).</summary>
    RepeatedFailures = 2,

    /// <summary><c>tern suppression add</c>.</summary>
    Operator = 3,
}

/// <summary>One page of <see cref="SuppressionList.Page"/>.</summary>
/// <param name="Entries">The entries in address order.</param>
/// <param name="Total">How many entries match the filter in all (every page).</param>
/// <param name="Next">The cursor for the next page (the last address of this one), or null on the last page.</param>
public sealed record SuppressionPage(IReadOnlyList<SuppressionEntry> Entries, int Total, string? Next);

/// <summary>The suppression file cannot be read or written; the message names the file (and the line, for a corrupt file).</summary>
public sealed class SuppressionStoreException(string message, Exception? inner = null) : Exception(message, inner);
