using System.Net;
using Microsoft.Extensions.Logging;
using Tern.Observability.Logging;

namespace Tern.Smtp.Server;

/// <summary>The SMTP server's log statements (source-generated: nothing is formatted when the level is off).</summary>
internal static partial class SmtpServerLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "listening {listener} {kind} {address}")]
    public static partial void Listening(ILogger log, string listener, string kind, IPEndPoint address);

    [LoggerMessage(Level = LogLevel.Debug, Message = "connection {cid} {listener} {remote}")]
    public static partial void Connected(ILogger log, string cid, string listener, IPEndPoint remote);

    [LoggerMessage(Level = LogLevel.Debug, Message = "connection closed {cid} {messages}")]
    public static partial void Closed(ILogger log, string cid, int messages);

    [LoggerMessage(Level = LogLevel.Information, Message = "connection refused {listener} {remote} {reason}")]
    public static partial void Refused(ILogger log, string listener, IPEndPoint remote, string reason);

    [LoggerMessage(Level = LogLevel.Trace, Message = "command {cid} {line}")]
    public static partial void Command(ILogger log, string cid, string line);

    [LoggerMessage(Level = LogLevel.Trace, Message = "command {cid} {verb} {secret}")]
    public static partial void SecretCommand(ILogger log, string cid, string verb, LogSecret secret);

    [LoggerMessage(Level = LogLevel.Trace, Message = "data {cid} {data}")]
    public static partial void Data(ILogger log, string cid, LogData data);

    [LoggerMessage(Level = LogLevel.Information, Message = "message accepted {cid} {id} {from} {recipients} {size} {tls}")]
    public static partial void Accepted(ILogger log, string cid, string id, string from, int recipients, long size, bool tls);

    [LoggerMessage(Level = LogLevel.Information, Message = "message refused {cid} {reason}")]
    public static partial void Rejected(ILogger log, string cid, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "relay denied {cid} {remote} {recipient}")]
    public static partial void RelayDenied(ILogger log, string cid, IPEndPoint remote, string recipient);

    [LoggerMessage(Level = LogLevel.Debug, Message = "tls established {cid} {version} {cipher}")]
    public static partial void TlsEstablished(ILogger log, string cid, string version, string cipher);

    [LoggerMessage(Level = LogLevel.Information, Message = "tls handshake failed {cid} {remote} {error}")]
    public static partial void TlsFailed(ILogger log, string cid, IPEndPoint remote, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "plaintext sent after STARTTLS discarded (command injection attempt) {cid} {remote} {bytes}")]
    public static partial void StartTlsInjection(ILogger log, string cid, IPEndPoint remote, long bytes);

    [LoggerMessage(Level = LogLevel.Information, Message = "closing {cid} {reason}")]
    public static partial void Closing(ILogger log, string cid, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "connection error {cid} {error}")]
    public static partial void ConnectionError(ILogger log, string cid, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "session failed {cid}")]
    public static partial void Panic(ILogger log, Exception e, string cid);

    [LoggerMessage(Level = LogLevel.Error, Message = "store commit failed {cid}")]
    public static partial void StoreFailed(ILogger log, Exception e, string cid);

    [LoggerMessage(Level = LogLevel.Information, Message = "authenticated {cid} {mechanism} {user}")]
    public static partial void Authenticated(ILogger log, string cid, string mechanism, string user);

    [LoggerMessage(Level = LogLevel.Information, Message = "authentication failed {cid} {remote} {mechanism} {user} {reason}")]
    public static partial void AuthFailed(ILogger log, string cid, IPEndPoint remote, string mechanism, string user, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "account refresh failed before AUTH {cid} {error}")]
    public static partial void AuthRefreshFailed(ILogger log, string cid, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "stopping {sessions} {grace}")]
    public static partial void Stopping(ILogger log, int sessions, TimeSpan grace);

    [LoggerMessage(Level = LogLevel.Warning, Message = "grace period over, closing sessions {sessions}")]
    public static partial void ForcedClose(ILogger log, int sessions);

    [LoggerMessage(Level = LogLevel.Information, Message = "certificate reloaded {listener} {path}")]
    public static partial void CertificateReloaded(ILogger log, string listener, string path);

    [LoggerMessage(Level = LogLevel.Error, Message = "certificate reload failed, keeping the old one {listener} {error}")]
    public static partial void CertificateReloadFailed(ILogger log, string listener, string error);
}
