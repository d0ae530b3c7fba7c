namespace Tern.Delivery;

/// <summary>Size and write rhythm of the <see cref="DomainTlsHistory"/>.</summary>
public sealed record DomainTlsHistoryOptions
{
    /// <summary>
    /// Domains remembered; beyond it the least recently delivered to are forgotten (a tenth of the
    /// cap at once, so that a stream of new domains does not sort the table on every delivery).
    /// 10,000 entries are about 1 MiB of file.
    /// </summary>
    public int MaxDomains { get; init; } = 10_000;

    /// <summary>The file is rewritten at most this often, and only after a change; once more at shutdown.</summary>
    public TimeSpan WriteInterval { get; init; } = TimeSpan.FromSeconds(5);
}
