using System.Net;
using Microsoft.Extensions.Logging;

namespace Tern.Dns;

/// <summary>The DNS library's log statements (source-generated: nothing is formatted when the level is off).</summary>
internal static partial class DnsLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "resolver {servers} {ad_trusted}")]
    public static partial void Configured(ILogger log, string servers, bool ad_trusted);

    [LoggerMessage(Level = LogLevel.Debug, Message = "lookup {name} {type} {status} {authentic} {ttl} {error}")]
    public static partial void Lookup(ILogger log, string name, string type, DnsStatus status, bool authentic, int ttl, string? error);

    [LoggerMessage(Level = LogLevel.Debug, Message = "server failed, trying the next {server} {name} {type} {error}")]
    public static partial void ServerFailed(ILogger log, IPEndPoint server, string name, string type, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "mx host name with underscore, accepted {domain} {host}")]
    public static partial void UnderscoreMx(ILogger log, string domain, string host);

    [LoggerMessage(Level = LogLevel.Warning, Message = "invalid mx host name, skipped {domain} {host}")]
    public static partial void InvalidMx(ILogger log, string domain, string host);

    [LoggerMessage(Level = LogLevel.Warning, Message = "null mx among other mx records, ignored {domain}")]
    public static partial void NullMxAmongOthers(ILogger log, string domain);
}
