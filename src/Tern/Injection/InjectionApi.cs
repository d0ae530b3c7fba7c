using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Tern.Config;
using Tern.Http;
using Tern.Observability.Logging;
using Tern.Sasl.Credentials;
using Tern.Smtp.Protocol;
using Tern.Smtp.Server;
using Tern.Spool;

namespace Tern.Injection;

/// <summary>
/// <c>POST /api/v1/messages</c>: mail submitted over HTTP. The bearer token stands for an account,
/// and the account is held to what SMTP submission holds it to: its sender addresses for the
/// envelope sender, the size and recipient limits; it may send anywhere, as an authenticated
/// client may. The message goes into the spool like one received over SMTP (a Received header,
/// then Date and Message-ID when missing, as RFC 6409 8 lets a submission server add them), and
/// the answer is sent only once the spool says it is durable.
/// </summary>
internal sealed partial class InjectionApi
{
    public const string Path = "/api/v1/messages";

    /// <summary>How long a client should wait after a 503 (the spool retries a failed log every 2 s).</summary>
    private const int RetryAfterSeconds = 10;

    /// <summary>Room for JSON around the message: member names, escapes, and base64's 4/3.</summary>
    private const long JsonOverhead = 64 * 1024;

    private readonly InjectionConfig _options;
    private readonly byte[] _hostname;
    private readonly Spool.Spool _spool;
    private readonly AccountStore _accounts;
    private readonly ApiTokenStore _tokens;
    private readonly TimeProvider _clock;
    private readonly ILogger _log;

    private InjectionApi(InjectionConfig options, string hostname, Spool.Spool spool, AccountStore accounts, ApiTokenStore tokens, TimeProvider clock, ILogger log)
    {
        _options = options;
        _hostname = Encoding.ASCII.GetBytes(hostname);
        _spool = spool;
        _accounts = accounts;
        _tokens = tokens;
        _clock = clock;
        _log = log;
    }

    /// <summary>
    /// The request body limit: twice the message limit (JSON escapes of line ends, base64) plus
    /// room for the rest of the document. The message itself is then held to max_message_size.
    /// </summary>
    public long BodyLimit => (_options.MaxMessageSize * 2) + JsonOverhead;

    /// <summary>Adds the route when <c>[injection] enabled</c> (the default).</summary>
    /// <exception cref="AccountStoreException">The account file cannot be read.</exception>
    public static void Map(HttpEndpoint http, TernConfig config, Spool.Spool spool, ILoggerFactory loggers, TimeProvider? clock = null)
    {
        if (!config.Injection.Enabled)
        {
            return;
        }

        var api = new InjectionApi(
            config.Injection,
            config.Hostname,
            spool,
            AccountStore.Open(Cli.AccountCommands.StorePath(config)),
            ApiTokenStore.OpenDeferred(ApiTokenStore.PathIn(config.DataDirectory)),
            clock ?? TimeProvider.System,
            loggers.CreateLogger(LogComponents.Http));
        http.Map("POST", Path, api.HandleAsync);
    }

    private async Task HandleAsync(HttpListenerContext context, RouteValues route, CancellationToken cancel)
    {
        var request = context.Request;
        var response = context.Response;
        var client = request.RemoteEndPoint;

        // Who: before anything of the body is read.
        if (Authenticate(request) is not { } account)
        {
            // RFC 6750 3: the scheme, and invalid_token when a token was sent but is not (or no longer) good.
            response.AddHeader("WWW-Authenticate", request.Headers["Authorization"] is null ? "Bearer realm=\"tern\"" : "Bearer realm=\"tern\", error=\"invalid_token\"");
            await WriteErrorAsync(response, new Refusal(401, "unauthorized", "a valid bearer token is required (tern account token NAME)"));
            return;
        }

        if (!IsJson(request.ContentType))
        {
            await WriteErrorAsync(response, new Refusal(415, "unsupported_media_type", "the body must be JSON (Content-Type: application/json)"));
            return;
        }

        byte[] body;
        try
        {
            body = await HttpEndpoint.ReadBodyAsync(request, BodyLimit, cancel);
        }
        catch (HttpBodyTooLargeException e)
        {
            await WriteErrorAsync(response, new Refusal(413, "body_too_large", $"the request body is larger than {e.Limit} bytes (twice max_message_size, {_options.MaxMessageSize} bytes, plus room for JSON)"));
            return;
        }

        InjectionRequest? parsed;
        try
        {
            parsed = JsonSerializer.Deserialize(body, InjectionJsonContext.Default.InjectionRequest);
        }
        catch (JsonException e)
        {
            await WriteErrorAsync(response, JsonRefusal(e));
            return;
        }

        if (parsed is null)
        {
            await WriteErrorAsync(response, new Refusal(400, "invalid_request", "the body must be a JSON object"));
            return;
        }

        var (status, json) = await SubmitAsync(parsed, account, client);
        if (status == 503)
        {
            response.AddHeader("Retry-After", RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        await HttpEndpoint.WriteJsonAsync(response, status, json);
    }

    /// <summary>The account of the request's bearer token, or null (no token, unknown token, or its account is gone).</summary>
    private Account? Authenticate(HttpListenerRequest request)
    {
        if (HttpEndpoint.BearerToken(request) is not { } token)
        {
            return null;
        }

        // A running server sees `tern account ...` changes (tokens, addresses, removals) at the next
        // request; a file changed into something unreadable leaves the last good state in force.
        try
        {
            _accounts.ReloadIfChanged();
        }
        catch (AccountStoreException e)
        {
            LogStoreUnreadable(_log, e.Message);
        }

        string? name;
        try
        {
            name = _tokens.Authenticate(token);
        }
        catch (ApiTokenStoreException e)
        {
            LogStoreUnreadable(_log, e.Message);
            name = _tokens.Authenticate(token, reload: false);
        }

        return name is not null && _accounts.TryGet(name, out var account) ? account : null;
    }

    /// <summary>Checks the request against the account and the limits, stores the message and says how it went.</summary>
    private async Task<(int Status, byte[] Json)> SubmitAsync(InjectionRequest r, Account account, IPEndPoint client)
    {
        var contents = (r.Raw is null ? 0 : 1) + (r.RawBase64 is null ? 0 : 1) + (r.Message is null ? 0 : 1);
        if (contents != 1)
        {
            return Error(new Refusal(400, "invalid_request", "give exactly one of raw, raw_base64 or message"));
        }

        if (Envelope.Parse(r, client) is { } envelopeError)
        {
            return Error(envelopeError);
        }

        // The queue id comes first: the Received header and a missing Message-ID carry it.
        var writer = _spool.Begin();
        try
        {
            var id = Encoding.ASCII.GetString(writer.IdText);
            byte[] message;
            string? sender = r.From;
            List<string>? derivedRecipients = null;
            var international = false;
            if (r.Message is { } structured)
            {
                if (MessageContent.Assemble(structured, $"{id}@{Encoding.ASCII.GetString(_hostname)}", _clock.GetUtcNow(), out var assembled) is { } assembleError)
                {
                    return Error(assembleError);
                }

                sender ??= assembled.From;
                derivedRecipients = assembled.Recipients;
                international = assembled.International;
                message = assembled.Bytes;
            }
            else
            {
                byte[] raw;
                if (r.Raw is { } text)
                {
                    raw = Encoding.UTF8.GetBytes(text);
                }
                else
                {
                    try
                    {
                        raw = Convert.FromBase64String(r.RawBase64!);
                    }
                    catch (FormatException)
                    {
                        return Error(new Refusal(400, "invalid_request", "raw_base64 is not base64"));
                    }
                }

                message = raw;
            }

            if (MessageContent.Normalise(message, _options.MaxLineLength, out message) is { } lineError)
            {
                return Error(lineError);
            }

            if (message.Length > _options.MaxMessageSize)
            {
                return Error(new Refusal(413, "message_too_large", $"the message is {message.Length} bytes; the limit is {_options.MaxMessageSize} (max_message_size)"));
            }

            if (!_spool.HasRoom(message.Length))
            {
                // As SMTP's 452 4.3.1 at MAIL: the spool's disk is below its free-space reserve.
                return Error(new Refusal(503, "insufficient_storage", "the spool's disk is below its free-space reserve ([spool] min_free); try again later"));
            }

            if (MessageContent.ScanHeaders(message, out var facts) is { } headerError)
            {
                return Error(headerError);
            }

            if (sender is null)
            {
                return Error(new Refusal(400, "invalid_request", "from (the envelope sender) is required with raw content; \"\" is the null sender"));
            }

            if (!Envelope.TryParseAddress(sender, isSender: true, out var senderMailbox, out var senderNonAscii, out var senderWhy))
            {
                return Error(new Refusal(400, "invalid_sender", $"from \"{sender}\": {senderWhy}"));
            }

            // As on submission (553 5.7.1): the account's sender addresses; the null sender only with "*".
            if (!account.MaySendAs(senderMailbox))
            {
                return Error(new Refusal(422, "sender_not_allowed", $"account {account.Username} may not use the envelope sender <{sender}> (see tern account addresses)"));
            }

            IReadOnlyList<string>? given = r.To ?? (IReadOnlyList<string>?)derivedRecipients;
            if (given is null || given.Count == 0)
            {
                return Error(new Refusal(400, "no_recipients", r.Message is null ? "to (the envelope recipients) is required with raw content" : "no recipients: give to, or message.to, cc or bcc"));
            }

            if (given.Count > _options.MaxRecipients)
            {
                return Error(new Refusal(400, "too_many_recipients", $"{given.Count} recipients; the limit is {_options.MaxRecipients} per message (max_recipients): send the rest in another request"));
            }

            var results = new RecipientResult[given.Count];
            var accepted = new List<byte[]>(given.Count);
            var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            var smtpUtf8 = senderNonAscii || international || facts.EightBit;
            for (var i = 0; i < given.Count; i++)
            {
                var address = given[i];
                string? why = null;
                if (address is null || !Envelope.TryParseAddress(address, isSender: false, out var mailbox, out var nonAscii, out why))
                {
                    results[i] = Rejected(address ?? string.Empty, $"invalid address: {why ?? "null"}");
                    continue;
                }

                if (!seen.Add(Encoding.UTF8.GetString(mailbox)))
                {
                    results[i] = Rejected(address, "duplicate recipient");
                    continue;
                }

                smtpUtf8 |= nonAscii;
                accepted.Add(mailbox);
                results[i] = new RecipientResult { Address = address, Status = "accepted" };
            }

            if (accepted.Count == 0)
            {
                return Error(new Refusal(422, "no_valid_recipients", "no recipient was accepted"), results);
            }

            var e = writer.Envelope;
            e.SetSender(senderMailbox);
            foreach (var mailbox in accepted)
            {
                e.AddRecipient(mailbox, r.Notify is null ? StoredNotify.Unspecified : Envelope.Notify(r.Notify), default);
            }

            e.SetEnvelopeId(Envelope.EnvelopeIdXtext(r.Envid));
            e.SmtpUtf8 = smtpUtf8;
            e.RequireTls = r.Requiretls;
            e.EightBit = message.AsSpan().IndexOfAnyInRange((byte)0x80, (byte)0xFF) >= 0;
            e.BodyType = e.EightBit ? (byte)BodyType.EightBitMime : (byte)BodyType.Unspecified;
            e.Ret = (byte)Envelope.Ret(r.Ret);
            e.Tls = false;
            e.SetAuthenticatedUser(Encoding.UTF8.GetBytes(account.Username));
            e.SetClient(Encoding.ASCII.GetBytes(client.Address.ToString()));
            e.SetListener("http"u8);

            if (!writer.EnvelopeFits)
            {
                // As SMTP's 552 5.3.4 after DATA: the same envelope can never fit.
                return Error(new Refusal(413, "envelope_too_large", "the envelope (recipients and their addresses) is too large for a queue entry; send fewer recipients per request"), results);
            }

            bool stored;
            try
            {
                // A large message is appended to the log in chunks as it is written: that can fail too.
                WriteTraceHeaders(writer, id, accepted, facts, r.Requiretls, client);
                writer.Write(message);
                stored = await writer.CommitAsync(CancellationToken.None);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                LogStoreFailed(_log, ex);
                stored = false;
            }

            if (!stored)
            {
                // As SMTP's 452 4.3.1: the disk is full or failing; nothing was kept.
                return Error(new Refusal(503, "spool_unavailable", "the spool cannot store messages now (disk full or I/O error); try again later"));
            }

            LogAccepted(_log, id, account.Username, sender, accepted.Count, message.Length, client.Address.ToString());
            return (202, JsonSerializer.SerializeToUtf8Bytes(new InjectionResponse { Id = id, Recipients = results }, InjectionJsonContext.Default.InjectionResponse));
        }
        finally
        {
            writer.Dispose();
        }
    }

    /// <summary>The Received header as for SMTP (protocol HTTP, no HELO), then Date and Message-ID when the message lacks them.</summary>
    private void WriteTraceHeaders(SpoolWriter writer, string id, List<byte[]> recipients, HeaderFacts facts, bool requireTls, IPEndPoint client)
    {
        var now = _clock.GetUtcNow();
        var buffer = new byte[ReceivedHeader.MaxLength];
        var n = ReceivedHeader.Write(buffer, new ReceivedFields
        {
            Client = client.Address,
            Hostname = _hostname,
            Protocol = "HTTP"u8,
            RequireTls = requireTls,
            Id = writer.IdText,
            TlsVersion = string.Empty,
            TlsCipher = string.Empty,
            SingleRecipient = recipients.Count == 1 ? recipients[0] : default,
            Date = now,
        });
        writer.Write(buffer.AsSpan(0, n));
        if (!facts.HasDate)
        {
            writer.Write(Encoding.ASCII.GetBytes($"Date: {MimeKit.Utils.DateUtils.FormatDate(now)}\r\n"));
        }

        if (!facts.HasMessageId)
        {
            writer.Write(Encoding.ASCII.GetBytes($"Message-ID: <{id}@{Encoding.ASCII.GetString(_hostname)}>\r\n"));
        }
    }

    private static RecipientResult Rejected(string address, string reason) => new() { Address = address, Status = "rejected", Reason = reason };

    private static bool IsJson(string? contentType)
    {
        if (contentType is null)
        {
            return false;
        }

        var parts = contentType.Split(';', StringSplitOptions.TrimEntries);
        if (!parts[0].Equals("application/json", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        // JSON is UTF-8 (RFC 8259 8.1); a charset parameter, if any, must say so.
        foreach (var p in parts.Skip(1))
        {
            if (p.StartsWith("charset=", StringComparison.OrdinalIgnoreCase) && !p["charset=".Length..].Trim('"').Equals("utf-8", StringComparison.OrdinalIgnoreCase))
            {
                return false;
            }
        }

        return true;
    }

    private static Refusal JsonRefusal(JsonException e)
    {
        var where = e.Path is { Length: > 0 } path ? $" at {path}" : string.Empty;
        var position = e.LineNumber is { } line ? $" (line {line + 1}, byte {e.BytePositionInLine + 1})" : string.Empty;

        // "The JSON property 'x' could not be mapped to any .NET member contained in type 'T'."
        var message = e.Message;
        var quote = message.IndexOf('\'', StringComparison.Ordinal);
        var endQuote = quote < 0 ? -1 : message.IndexOf('\'', quote + 1);
        if (message.Contains("could not be mapped", StringComparison.Ordinal) && endQuote > quote)
        {
            return new Refusal(400, "unknown_member", $"unknown member \"{message[(quote + 1)..endQuote]}\"{where}");
        }

        if (message.Contains("Duplicate", StringComparison.OrdinalIgnoreCase))
        {
            return new Refusal(400, "bad_json", $"a member appears twice{where}{position}");
        }

        // The rest of the message names .NET types and repeats the position: keep the first sentence's gist.
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        var gist = (cut < 0 ? message : message[..cut]).Replace("System.", string.Empty, StringComparison.Ordinal);
        return new Refusal(400, "bad_json", $"not the expected JSON{where}{position}: {gist}");
    }

    private static (int, byte[]) Error(Refusal refusal, RecipientResult[]? recipients = null) =>
        (refusal.Status, JsonSerializer.SerializeToUtf8Bytes(
            new ErrorResponse { Error = new ErrorBody { Status = refusal.Status, Code = refusal.Code, Message = refusal.Message }, Recipients = recipients },
            InjectionJsonContext.Default.ErrorResponse));

    private static Task WriteErrorAsync(HttpListenerResponse response, Refusal refusal)
    {
        var (status, json) = Error(refusal);
        return HttpEndpoint.WriteJsonAsync(response, status, json);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "message accepted {id} {account} {from} {recipients} {size} {client}")]
    private static partial void LogAccepted(ILogger log, string id, string account, string from, int recipients, int size, string client);

    [LoggerMessage(Level = LogLevel.Error, Message = "spool commit failed")]
    private static partial void LogStoreFailed(ILogger log, Exception e);

    [LoggerMessage(Level = LogLevel.Warning, Message = "account or token file unreadable, keeping the last good one {reason}")]
    private static partial void LogStoreUnreadable(ILogger log, string reason);
}
