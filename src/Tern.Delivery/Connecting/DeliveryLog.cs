using System.Net;
using Microsoft.Extensions.Logging;

namespace Tern.Delivery;

/// <summary>The delivery component's log statements (source-generated: nothing is formatted when the level is off).</summary>
internal static partial class DeliveryLog
{
    [LoggerMessage(Level = LogLevel.Debug, Message = "connected {host} {remote} {local} {via}")]
    public static partial void Connected(ILogger log, string host, string remote, IPEndPoint? local, string via);

    [LoggerMessage(Level = LogLevel.Debug, Message = "connect failed {host} {target} {port} {kind} {error} {via}")]
    public static partial void ConnectFailed(ILogger log, string host, string target, int port, ConnectErrorKind kind, string error, string via);

    [LoggerMessage(Level = LogLevel.Debug, Message = "no connection {host} {port} {tried} {timedout} {via}")]
    public static partial void NoConnection(ILogger log, string host, int port, int tried, bool timedout, string via);
}
