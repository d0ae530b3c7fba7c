using Microsoft.Extensions.Logging;

namespace Tern.MtaSts;

/// <summary>Log declarations of the policy cache (source-generated: nothing is formatted when the level is off).</summary>
public sealed partial class MtaStsPolicies
{
    [LoggerMessage(Level = LogLevel.Information, Message = "mta-sts policy fetched {domain} {id} {mode} {max_age} {mx}")]
    private static partial void Fetched(ILogger log, string domain, string id, string mode, int max_age, string mx);

    [LoggerMessage(Level = LogLevel.Warning, Message = "mta-sts policy fetch failed {domain} {id} {result} {cached} {error}")]
    private static partial void FetchFailed(ILogger log, string domain, string id, string result, bool cached, string? error);

    [LoggerMessage(Level = LogLevel.Information, Message = "mta-sts policy removed {domain} {reason}")]
    private static partial void Removed(ILogger log, string domain, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "mta-sts lookup {domain} {source} {mode} {error}")]
    private static partial void Looked(ILogger log, string domain, string source, string mode, string? error);

    [LoggerMessage(Level = LogLevel.Information, Message = "mta-sts cache loaded {path} {entries}")]
    private static partial void Loaded(ILogger log, string path, int entries);

    [LoggerMessage(Level = LogLevel.Warning, Message = "mta-sts cache unreadable, starting empty {path} {error}")]
    private static partial void CacheUnreadable(ILogger log, string path, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "mta-sts cache entry skipped {path} {domain} {error}")]
    private static partial void EntrySkipped(ILogger log, string path, string? domain, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "mta-sts cache not written {path} {error}")]
    private static partial void WriteFailed(ILogger log, string path, string error);
}
