using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Tern.Observability.Logging;

/// <summary>
/// Creates one logfmt logger per component (the logger category is the component name, e.g.
/// <c>smtp</c>, <c>spool</c>). Levels come from <see cref="LogLevelSettings"/>.
/// </summary>
public sealed class LogfmtLoggerFactory(LogLevelSettings levels, LogSink sink, TimeProvider? clock = null) : ILoggerFactory
{
    private readonly ConcurrentDictionary<string, LogfmtLogger> _loggers = new(StringComparer.Ordinal);
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private readonly LogSink _sink = sink;

    public LogLevelSettings Levels { get; } = levels;

    public ILogger CreateLogger(string categoryName) =>
        _loggers.GetOrAdd(categoryName, static (name, self) => new LogfmtLogger(name, self.Levels, self._sink, self._clock), this);

    /// <summary>Tern writes its logs only as logfmt lines to its sink; other providers are refused.</summary>
    public void AddProvider(ILoggerProvider provider) =>
        throw new NotSupportedException("Tern logs only as logfmt lines to stderr; extra logging providers are not supported.");

    public void Dispose() => _sink.Dispose();
}
