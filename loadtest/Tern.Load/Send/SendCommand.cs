using System.CommandLine;
using System.Globalization;
using Tern.Load.Report;

namespace Tern.Load.Send;

/// <summary>
/// <c>tern-load send</c>: drives SMTP load at a server (RFC 5321 with PIPELINING, CHUNKING,
/// STARTTLS and AUTH PLAIN as asked) and reports throughput, latency and failures. Every option is
/// checked before anything is sent; a mistake exits with 2 and says what is wrong.
/// </summary>
internal static class SendCommand
{
    /// <summary>The command; <paramref name="finished"/> sees each run's outcome (tests read the counters from it).</summary>
    public static Command Build(TextWriter stdout, TextWriter stderr, Action<SendResult>? finished = null)
    {
        var target = new Option<string>("--target") { Description = "The server, HOST:PORT (loopback only unless --allow-remote).", Required = true };
        var allowRemote = new Option<bool>("--allow-remote") { Description = "Allow a target that is not a loopback address." };
        var sessions = new Option<int>("--sessions") { Description = "Concurrent connections.", DefaultValueFactory = _ => 10 };
        var messages = new Option<long>("--messages") { Description = "Messages to send (the run ends at this count or --duration, whichever first).", DefaultValueFactory = _ => 10_000 };
        var duration = new Option<string>("--duration") { Description = "Longest run, e.g. 30s, 2m.", DefaultValueFactory = _ => "10m" };
        var size = new Option<string>("--size") { Description = "Message size in bytes (1024, 10k, 1m) or a weighted mix, e.g. 1k:70,10k:25,100k:5.", DefaultValueFactory = _ => "1k" };
        var recipients = new Option<int>("--recipients") { Description = "Recipients per message.", DefaultValueFactory = _ => 1 };
        var domains = new Option<string>("--rcpt-domains") { Description = "Recipient domains, weighted, e.g. example.test:3,other.test:1 (local parts are u<seq>).", DefaultValueFactory = _ => "example.test" };
        var from = new Option<string>("--from") { Description = "Envelope and header sender.", DefaultValueFactory = _ => "load@tern-load.test" };
        var pipelining = new Option<string?>("--pipelining") { Description = "on|off (RFC 2920); default: on when the server offers PIPELINING." };
        var chunking = new Option<string>("--chunking") { Description = "on|off: BDAT (RFC 3030) instead of DATA; the server must offer CHUNKING.", DefaultValueFactory = _ => "off" };
        var window = new Option<int>("--window") { Description = "Messages in flight per connection when pipelining (BDAT: any depth; DATA: at most 2).", DefaultValueFactory = _ => 1 };
        var perConnection = new Option<int>("--per-connection") { Description = "Messages per connection before QUIT and reconnect (0: unlimited).", DefaultValueFactory = _ => 100 };
        var startTls = new Option<bool>("--starttls") { Description = "STARTTLS (RFC 3207) before sending; the server's certificate is NOT checked (a load tool)." };
        var auth = new Option<string?>("--auth") { Description = "USER:PASS for AUTH PLAIN (RFC 4954); needs --starttls unless --allow-plain-auth." };
        var allowPlainAuth = new Option<bool>("--allow-plain-auth") { Description = "Allow --auth without TLS." };
        var rate = new Option<double?>("--rate") { Description = "Messages per second: a cap (closed model) or the arrival rate (open model)." };
        var model = new Option<string>("--model") { Description = "closed: sessions send when replies come (capped by --rate); open: messages due every 1/rate, latency from the due time.", DefaultValueFactory = _ => "closed" };
        var ids = new Option<string?>("--ids") { Description = "Write ID<TAB>REPLY<TAB>DIGEST (the body digest) for every accepted message to this file (for tern-load check)." };
        var json = new Option<string?>("--json") { Description = "Write the JSON report to this file." };
        var html = new Option<string?>("--html") { Description = "Write the HTML report to this file." };
        var failOnError = new Option<bool>("--fail-on-error") { Description = "Exit 1 when any message failed." };
        var timeout = new Option<string>("--timeout") { Description = "Longest wait for any reply (and for connect), e.g. 60s.", DefaultValueFactory = _ => "60s" };
        var retryConnect = new Option<string>("--retry-connect") { Description = "While the target is unreachable, retry connecting for up to this long (e.g. 30s) before a failed connect costs a message; 0: no retries.", DefaultValueFactory = _ => "0" };
        var helo = new Option<string>("--helo") { Description = "The EHLO name.", DefaultValueFactory = _ => "tern-load.test" };
        var alloc = new Option<bool>("--alloc") { Description = "Print the managed bytes allocated per message in the steady state.", Hidden = true };

        var command = new Command("send", "Drive SMTP load at a server and report throughput, latency and failures.")
        {
            target, allowRemote, sessions, messages, duration, size, recipients, domains, from, pipelining, chunking, window, perConnection,
            startTls, auth, allowPlainAuth, rate, model, ids, json, html, failOnError, timeout, retryConnect, helo, alloc,
        };
        command.SetAction(async (ParseResult r, CancellationToken cancel) =>
        {
            if (!TryRead(r, out var settings, out var error))
            {
                await stderr.WriteLineAsync("tern-load: " + error);
                return 2;
            }

            return await SendRun.RunAsync(settings!, new SendOutput(r.GetValue(failOnError), r.GetValue(json), r.GetValue(html), stdout, stderr, finished), cancel);
        });
        return command;

        bool TryRead(ParseResult r, out SendSettings? settings, out string error)
        {
            settings = null;
            if (!SendSettings.TryParseTarget(r.GetValue(target)!, r.GetValue(allowRemote), out var host, out var endPoint, out error))
            {
                return false;
            }

            if (!Weighted<int>.TryParse(r.GetValue(size), "--size", SendSettings.TryParseSize, out var sizes, out error)
                || !Weighted<string>.TryParse(r.GetValue(domains), "--rcpt-domains", SendSettings.TryParseDomain, out var rcptDomains, out error))
            {
                return false;
            }

            var durationText = r.GetValue(duration);
            var timeoutText = r.GetValue(timeout);
            var fromText = r.GetValue(from) ?? string.Empty;
            var heloText = r.GetValue(helo) ?? string.Empty;
            var authText = r.GetValue(auth);
            var rateValue = r.GetValue(rate);
            var modelText = r.GetValue(model);
            var chunkingText = r.GetValue(chunking);
            var pipeliningText = r.GetValue(pipelining);
            var durationOk = Durations.TryParse(durationText, out var runFor);
            var timeoutOk = Durations.TryParse(timeoutText, out var replyTimeout);
            var retryText = r.GetValue(retryConnect);
            var retryOk = retryText == "0" ? TryZero(out var retryFor) : Durations.TryParse(retryText, out retryFor);
            string? problem =
                r.GetValue(sessions) is < 1 or > 10_000 ? "--sessions must be from 1 to 10000"
                : r.GetValue(messages) < 1 ? "--messages must be at least 1"
                : !durationOk || runFor <= TimeSpan.Zero ? $"--duration \"{durationText}\" must be a positive duration (e.g. 30s, 2m)"
                : !timeoutOk || replyTimeout <= TimeSpan.Zero ? $"--timeout \"{timeoutText}\" must be a positive duration (e.g. 60s)"
                : !retryOk || retryFor < TimeSpan.Zero ? $"--retry-connect \"{retryText}\" must be 0 or a duration (e.g. 30s)"
                : r.GetValue(recipients) is < 1 or > 1000 ? "--recipients must be from 1 to 1000"
                : !IsMailbox(fromText) ? $"--from \"{fromText}\" must be an address local@domain (no spaces or angle brackets)"
                : heloText.Length == 0 || !heloText.All(c => c is > ' ' and < (char)0x7f) ? $"--helo \"{heloText}\" must be a name without spaces"
                : pipeliningText is not (null or "on" or "off") ? "--pipelining must be on or off"
                : chunkingText is not ("on" or "off") ? "--chunking must be on or off"
                : r.GetValue(window) is < 1 or > 1000 ? "--window must be from 1 to 1000"
                : r.GetValue(window) > 1 && pipeliningText == "off" ? "--window above 1 needs pipelining (--pipelining off sends one command at a time)"
                : r.GetValue(perConnection) < 0 ? "--per-connection must be 0 (unlimited) or more"
                : authText is not null && (authText.IndexOf(':') < 1 || authText.Any(char.IsControl)) ? "--auth must be USER:PASS"
                : authText is not null && !r.GetValue(startTls) && !r.GetValue(allowPlainAuth) ? "--auth sends the password: add --starttls (or --allow-plain-auth to send it in the clear)"
                : rateValue is { } rv && (!double.IsFinite(rv) || rv <= 0 || rv > 10_000_000) ? "--rate must be a positive number of messages per second"
                : modelText is not ("open" or "closed") ? "--model must be open or closed"
                : modelText == "open" && rateValue is null ? "--model open needs --rate (the arrival rate)"
                : null;
            if (problem is not null)
            {
                error = problem;
                return false;
            }

            var colon = authText?.IndexOf(':') ?? -1;
            settings = new SendSettings
            {
                Target = r.GetValue(target)!,
                Host = host,
                EndPoint = endPoint!,
                Sessions = r.GetValue(sessions),
                Messages = r.GetValue(messages),
                Duration = runFor,
                Sizes = sizes!,
                Recipients = r.GetValue(recipients),
                RcptDomains = rcptDomains!,
                From = fromText,
                Pipelining = pipeliningText switch { "on" => Toggle.On, "off" => Toggle.Off, _ => Toggle.Auto },
                Chunking = chunkingText == "on",
                Window = r.GetValue(window),
                PerConnection = r.GetValue(perConnection),
                StartTls = r.GetValue(startTls),
                AuthUser = colon > 0 ? authText![..colon] : null,
                AuthPassword = colon > 0 ? authText![(colon + 1)..] : null,
                Rate = rateValue ?? 0,
                Model = modelText == "open" ? LoadModel.Open : LoadModel.Closed,
                IdsPath = r.GetValue(ids),
                Timeout = replyTimeout,
                RetryConnect = retryFor,
                Helo = heloText,
                MeasureAllocation = r.GetValue(alloc),
            };
            return true;
        }
    }

    private static bool TryZero(out TimeSpan value)
    {
        value = TimeSpan.Zero;
        return true;
    }

    /// <summary>A plain local@domain (what MAIL FROM carries here): printable ASCII, no spaces, brackets or quotes.</summary>
    private static bool IsMailbox(string text)
    {
        var at = text.LastIndexOf('@');
        return at > 0 && at < text.Length - 1 && text.Length <= 254
            && text.All(c => c is > ' ' and < (char)0x7f and not ('<' or '>' or '"' or '(' or ')' or ',' or ';' or '\\'))
            && SendSettings.TryParseDomain(text[(at + 1)..], out _, out _);
    }
}
