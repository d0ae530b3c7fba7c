using Microsoft.Extensions.Logging;
using Tern.Observability.Logging;

namespace Tern.Smtp.Client;

/// <summary>
/// The SMTP client's log statements (source-generated: nothing is formatted when the level is
/// off). The conversation is logged at trace: AUTH lines as <see cref="LogSecret"/> (*** below
/// traceauth), message data as <see cref="LogData"/> (its size below tracedata), as the server does.
/// </summary>
internal static partial class SmtpClientLog
{
    [LoggerMessage(Level = LogLevel.Trace, Message = "client command {cid} {line}")]
    public static partial void Command(ILogger log, string cid, string line);

    [LoggerMessage(Level = LogLevel.Trace, Message = "client command {cid} {verb} {secret}")]
    public static partial void SecretCommand(ILogger log, string cid, string verb, LogSecret secret);

    [LoggerMessage(Level = LogLevel.Trace, Message = "client reply {cid} {line}")]
    public static partial void Reply(ILogger log, string cid, string line);

    [LoggerMessage(Level = LogLevel.Trace, Message = "client reply {cid} {code} {secret}")]
    public static partial void SecretReply(ILogger log, string cid, int code, LogSecret secret);

    [LoggerMessage(Level = LogLevel.Trace, Message = "client data {cid} {data}")]
    public static partial void Data(ILogger log, string cid, LogData data);

    [LoggerMessage(Level = LogLevel.Debug, Message = "client tls established {cid} {version} {cipher} {verified}")]
    public static partial void TlsEstablished(ILogger log, string cid, string version, string cipher, string verified);

    [LoggerMessage(Level = LogLevel.Information, Message = "client tls failed {cid} {error}")]
    public static partial void TlsFailed(ILogger log, string cid, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "client starttls refused, continuing without tls {cid} {code}")]
    public static partial void StartTlsRefused(ILogger log, string cid, int code);

    [LoggerMessage(Level = LogLevel.Debug, Message = "client helo fallback {cid} {code}")]
    public static partial void HeloFallback(ILogger log, string cid, int code);

    [LoggerMessage(Level = LogLevel.Debug, Message = "client authenticated {cid} {mechanism}")]
    public static partial void Authenticated(ILogger log, string cid, string mechanism);

    [LoggerMessage(Level = LogLevel.Debug, Message = "client session failed {cid} {stage} {kind} {reply}")]
    public static partial void Failed(ILogger log, string cid, SmtpStage stage, SmtpFailureKind kind, string reply);

    [LoggerMessage(Level = LogLevel.Debug, Message = "client recipients deferred to a new transaction {cid} {count} {code}")]
    public static partial void RecipientsDeferred(ILogger log, string cid, int count, int code);

    [LoggerMessage(Level = LogLevel.Warning, Message = "client message has bare CR or LF, line ends repaired {cid}")]
    public static partial void LineEndsRepaired(ILogger log, string cid);
}
