using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Logging;
using Tern.Observability.Logging;

namespace Tern.Benchmarks;

/// <summary>
/// A source-generated debug log call on a logfmt logger: off (component at info), which is what
/// every disabled log statement on a hot path costs, and on, writing a whole line to a sink.
/// </summary>
[MemoryDiagnoser]
public partial class LoggingBenchmarks
{
    private LogfmtLoggerFactory _offFactory = null!;
    private LogfmtLoggerFactory _onFactory = null!;
    private ILogger _off = null!;
    private ILogger _on = null!;

    [GlobalSetup]
    public void Setup()
    {
        _offFactory = new LogfmtLoggerFactory(new LogLevelSettings(TernLogLevel.Info), new LogSink(Stream.Null));
        _onFactory = new LogfmtLoggerFactory(new LogLevelSettings(TernLogLevel.Debug), new LogSink(Stream.Null));
        _off = _offFactory.CreateLogger(LogComponents.Smtp);
        _on = _onFactory.CreateLogger(LogComponents.Smtp);
        if (_off.IsEnabled(LogLevel.Debug) || !_on.IsEnabled(LogLevel.Debug))
        {
            throw new InvalidOperationException("the loggers are not at the intended levels");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _offFactory.Dispose();
        _onFactory.Dispose();
    }

    [Benchmark]
    public void DebugOff() => ConnectionClosed(_off, "c7Hq2xK9", 3);

    [Benchmark]
    public void DebugOn() => ConnectionClosed(_on, "c7Hq2xK9", 3);

    // Shaped like SmtpServerLog.Closed: a string and a value-type argument.
    [LoggerMessage(Level = LogLevel.Debug, Message = "connection closed {cid} {messages}")]
    private static partial void ConnectionClosed(ILogger log, string cid, int messages);
}
