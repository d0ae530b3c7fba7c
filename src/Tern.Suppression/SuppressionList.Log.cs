using Microsoft.Extensions.Logging;

namespace Tern.Suppression;

/// <summary>Log declarations of the suppression list.</summary>
public sealed partial class SuppressionList
{
    [LoggerMessage(Level = LogLevel.Information, Message = "address suppressed {address} {source} {code}")]
    private static partial void Suppressed(ILogger log, string address, string source, string code);

    [LoggerMessage(Level = LogLevel.Warning, Message = "suppression list torn last line dropped {path} {line} {bytes}")]
    private static partial void TornLine(ILogger log, string path, int line, int bytes);

    [LoggerMessage(Level = LogLevel.Information, Message = "suppression list compacted {path} {before} {after}")]
    private static partial void Compacted(ILogger log, string path, long before, long after);

    [LoggerMessage(Level = LogLevel.Warning, Message = "suppression list not fully written at close {path} {error}")]
    private static partial void CloseFailed(ILogger log, string path, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "suppression list compaction failed {path} {error}")]
    private static partial void CompactionFailed(ILogger log, string path, string error);
}
