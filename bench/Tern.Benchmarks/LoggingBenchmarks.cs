using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Logging;
using Tern.Observability.Logging;

namespace Tern.Benchmarks;

/// <summary>
/// A source-generated debug log call on a logfmt logger: off (component at info), which is what
/// every disabled log statement on a hot path costs, and on, writing a whole line to a sink; and
/// the two info lines every relayed message writes (accepted, delivered).
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

    [Benchmark]
    public void MessageLines()
    {
        MessageAccepted(_on, "1a24e839f79-4", "01M97877Z9TZA47GYZFTMY5YA6", "alice@example.org", 1, 1151, false);
        Delivery(_on, "01M97877Z9TZA47GYZFTMY5YA6", "bob@example.net", "direct", "mx.example.net", "delivered", "250 2.0.0 Ok: queued as 4QxYz");
    }

    // Shaped like SmtpServerLog.Accepted and the scheduler's delivery line.
    [LoggerMessage(Level = LogLevel.Information, Message = "message accepted {cid} {id} {from} {recipients} {size} {tls}")]
    private static partial void MessageAccepted(ILogger log, string cid, string id, string from, int recipients, long size, bool tls);

    [LoggerMessage(Level = LogLevel.Information, Message = "delivery {id} {rcpt} {transport} {host} {result} {reply}")]
    private static partial void Delivery(ILogger log, string id, string rcpt, string transport, string host, string result, string reply);

    // Shaped like SmtpServerLog.Closed: a string and a value-type argument.
    [LoggerMessage(Level = LogLevel.Debug, Message = "connection closed {cid} {messages}")]
    private static partial void ConnectionClosed(ILogger log, string cid, int messages);
}
