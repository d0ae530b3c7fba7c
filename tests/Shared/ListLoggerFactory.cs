using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Tern.Tests.Support;

/// <summary>Keeps every log line (level and formatted message) so tests can look for warnings.</summary>
internal sealed class ListLoggerFactory : ILoggerFactory
{
    public ConcurrentQueue<(LogLevel Level, string Category, string Message)> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new ListLogger(this, categoryName);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class ListLogger(ListLoggerFactory factory, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            factory.Entries.Enqueue((logLevel, category, formatter(state, exception)));
    }
}
