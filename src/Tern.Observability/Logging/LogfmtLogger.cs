using System.Text;
using Microsoft.Extensions.Logging;

namespace Tern.Observability.Logging;

/// <summary>A logger for one component, writing logfmt lines to a <see cref="LogSink"/>.</summary>
internal sealed class LogfmtLogger(string component, LogLevelSettings levels, LogSink sink, TimeProvider clock) : ILogger
{
    [ThreadStatic]
    private static StringBuilder? t_builder;

    private Cached? _cached;

    public string Component { get; } = component;

    public TernLogLevel Level
    {
        get
        {
            // Resolve the component's level once per settings version: IsEnabled is called for
            // every log statement, including those that are off, and must stay cheap. Level and
            // version are cached together in one object so that a reload can never leave a stale
            // level paired with a current version.
            var cached = _cached;
            if (cached is null || cached.Version != levels.Version)
            {
                var (version, level) = levels.Resolve(Component);
                cached = new Cached(version, level);
                _cached = cached;
            }

            return cached.Level;
        }
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => Level.Allows(logLevel);

    private sealed record Cached(int Version, TernLogLevel Level);

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var level = Level;
        if (!level.Allows(logLevel))
        {
            return;
        }

        var sb = t_builder ??= new StringBuilder(256);
        sb.Clear();
        LogfmtLine.Format(sb, clock.GetUtcNow().UtcDateTime, logLevel, Component, level, state, exception, formatter);
        sink.Write(sb);
        if (sb.Capacity > 64 * 1024)
        {
            // Do not keep a huge builder alive on this thread after one giant line.
            t_builder = null;
        }
    }
}
