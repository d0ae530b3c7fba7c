using Microsoft.Extensions.Logging;

namespace Tern.Observability.Logging;

/// <summary>
/// Tern's log levels, from least to most verbose. The three trace levels all map to
/// <see cref="LogLevel.Trace"/>; they differ only in what the formatter reveals:
/// at <see cref="Trace"/> credentials print as <c>***</c> and message data as <c>...</c> with its
/// size, <see cref="TraceAuth"/> also shows credentials, <see cref="TraceData"/> also shows data.
/// </summary>
public enum TernLogLevel
{
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
    Trace = 4,
    TraceAuth = 5,
    TraceData = 6,
}

/// <summary>Conversions between Tern's level names, its enum and Microsoft.Extensions.Logging levels.</summary>
public static class TernLogLevels
{
    /// <summary>The level names accepted in configuration, in order.</summary>
    public static readonly string[] Names = ["error", "warn", "info", "debug", "trace", "traceauth", "tracedata"];

    public static bool TryParse(string? name, out TernLogLevel level)
    {
        for (var i = 0; i < Names.Length; i++)
        {
            if (string.Equals(Names[i], name, StringComparison.OrdinalIgnoreCase))
            {
                level = (TernLogLevel)i;
                return true;
            }
        }

        level = TernLogLevel.Info;
        return false;
    }

    public static string ToName(this TernLogLevel level) => Names[(int)level];

    /// <summary>Whether a message at <paramref name="messageLevel"/> passes a logger configured at <paramref name="configured"/>.</summary>
    public static bool Allows(this TernLogLevel configured, LogLevel messageLevel) => messageLevel switch
    {
        LogLevel.None => false,
        LogLevel.Critical or LogLevel.Error => true,
        LogLevel.Warning => configured >= TernLogLevel.Warn,
        LogLevel.Information => configured >= TernLogLevel.Info,
        LogLevel.Debug => configured >= TernLogLevel.Debug,
        _ => configured >= TernLogLevel.Trace,
    };

    /// <summary>The short name written as <c>l=</c> for a message level.</summary>
    public static string ShortName(LogLevel level) => level switch
    {
        LogLevel.Critical or LogLevel.Error => "error",
        LogLevel.Warning => "warn",
        LogLevel.Information => "info",
        LogLevel.Debug => "debug",
        _ => "trace",
    };
}
