using System.CommandLine;
using System.Globalization;
using Tern.Load.Report;

namespace Tern.Load.Sink;

/// <summary>
/// <c>tern-load sink</c>: an SMTP server that accepts, counts and discards mail, with injected faults,
/// for measuring a sender (Tern's delivery, or <c>tern-load send</c>) against a known receiver.
/// </summary>
internal static class SinkCommand
{
    public static Command Build(TextWriter stdout, TextWriter stderr)
    {
        var listen = new Option<string>("--listen") { Description = "Address and port to listen on (port 0: any free port, printed first).", DefaultValueFactory = _ => "127.0.0.1:2525" };
        var maxConnections = new Option<int>("--max-connections") { Description = "Connections served at once; one more is answered 421 and closed.", DefaultValueFactory = _ => 1000 };
        var duration = new Option<string?>("--duration") { Description = "Stop after this long (e.g. 30s, 5m); default: until Ctrl-C or SIGTERM." };
        var messages = new Option<long?>("--messages") { Description = "Stop once this many messages were accepted." };
        var ids = new Option<string?>("--ids") { Description = "Write one line per accepted message: its Message-ID (between < and >) or '-', a TAB and the body digest." };
        var tls = new Option<bool>("--tls") { Description = "Offer STARTTLS (with a self-signed certificate unless --cert/--key)." };
        var cert = new Option<string?>("--cert") { Description = "PEM certificate (chain) for STARTTLS." };
        var key = new Option<string?>("--key") { Description = "PEM private key for STARTTLS." };
        var failMail = Probability("--fail-mail", "Probability that MAIL is refused with a --fail-code reply.");
        var failRcpt = Probability("--fail-rcpt", "Probability that each RCPT is refused with a --fail-code reply.");
        var failData = Probability("--fail-data", "Probability that a message's content (end of DATA, BDAT LAST) is refused with a --fail-code reply.");
        var failCode = new Option<string>("--fail-code") { Description = "Reply codes of injected failures, comma-separated (4xx/5xx, not 421); one is picked at random per failure.", DefaultValueFactory = _ => "451" };
        var disconnect = Probability("--disconnect", "Probability per message of closing the connection after its content, without a reply.");
        var goingAway = Probability("--421", "Probability per message of answering its content '421 4.3.2 going away' and closing.");
        var tlsFail = Probability("--tls-fail", "Probability that a STARTTLS handshake is aborted (closed after the 220).");
        var tlsAbort = Probability("--tls-abort", "Probability that a STARTTLS handshake fails in the middle (the ClientHello is answered with a fatal handshake_failure alert).");
        var delay = new Option<string?>("--delay") { Description = "Wait before each batch of replies (e.g. 100ms)." };
        var delayData = new Option<string?>("--delay-data") { Description = "Extra wait before the final reply to a message's content." };
        var seed = new Option<int>("--seed") { Description = "Seed of the fault draws (same seed, same client: same faults).", DefaultValueFactory = _ => 1 };
        var json = new Option<string?>("--json") { Description = "Write the run's report as JSON to this file." };
        var html = new Option<string?>("--html") { Description = "Write the run's report as a self-contained HTML page to this file." };
        var alloc = new Option<bool>("--alloc") { Description = "Print the bytes allocated per accepted message at the end.", Hidden = true };

        var command = new Command("sink", "Accept, count and discard SMTP mail, with injected faults (PIPELINING, CHUNKING, STARTTLS).")
        {
            listen, maxConnections, duration, messages, ids, tls, cert, key, failMail, failRcpt, failData, failCode,
            disconnect, goingAway, tlsFail, tlsAbort, delay, delayData, seed, json, html, alloc,
        };

        command.SetAction(async (result, cancel) =>
        {
            string? error = null;
            if (!SinkOptions.TryParseEndPoint(result.GetValue(listen), out var endPoint))
            {
                error = $"--listen: '{result.GetValue(listen)}' is not ADDRESS:PORT";
            }

            var codesOk = SinkOptions.TryParseCodes(result.GetValue(failCode), out var codes);
            error ??= codesOk ? null : $"--fail-code: '{result.GetValue(failCode)}' is not a list of 4xx/5xx codes (421 is --421's)";
            error ??= result.GetValue(maxConnections) < 1 ? "--max-connections must be at least 1" : null;
            error ??= result.GetValue(messages) is < 1 ? "--messages must be at least 1" : null;
            var durationError = ParseDuration(result.GetValue(duration), "--duration", positive: true, out var runFor);
            var delayError = ParseDuration(result.GetValue(delay), "--delay", positive: false, out var delayFor);
            var delayDataError = ParseDuration(result.GetValue(delayData), "--delay-data", positive: false, out var delayDataFor);
            error ??= durationError ?? delayError ?? delayDataError;
            foreach (var option in new[] { failMail, failRcpt, failData, disconnect, goingAway, tlsFail })
            {
                var p = result.GetValue(option);
                error ??= SinkOptions.IsProbability(p) ? null : $"{option.Name}: {p.ToString(CultureInfo.InvariantCulture)} is not a probability (0..1)";
            }

            var certPath = result.GetValue(cert);
            var keyPath = result.GetValue(key);
            error ??= (certPath is null) != (keyPath is null) ? "--cert and --key go together" : null;
            error ??= certPath is not null && !result.GetValue(tls) ? "--cert/--key need --tls" : null;
            error ??= result.GetValue(tlsFail) > 0 && !result.GetValue(tls) ? "--tls-fail needs --tls" : null;
            error ??= result.GetValue(tlsAbort) > 0 && !result.GetValue(tls) ? "--tls-abort needs --tls" : null;
            if (error is not null)
            {
                await stderr.WriteLineAsync("tern-load: " + error);
                return 2;
            }

            var options = new SinkOptions
            {
                Listen = endPoint,
                MaxConnections = result.GetValue(maxConnections),
                Duration = runFor,
                Messages = result.GetValue(messages),
                IdsPath = result.GetValue(ids),
                Tls = result.GetValue(tls),
                CertPath = certPath,
                KeyPath = keyPath,
                FailMail = result.GetValue(failMail),
                FailRcpt = result.GetValue(failRcpt),
                FailData = result.GetValue(failData),
                FailCodes = codes,
                Disconnect = result.GetValue(disconnect),
                GoingAway = result.GetValue(goingAway),
                TlsFail = result.GetValue(tlsFail),
                TlsAbort = result.GetValue(tlsAbort),
                Delay = delayFor ?? TimeSpan.Zero,
                DelayData = delayDataFor ?? TimeSpan.Zero,
                Seed = result.GetValue(seed),
            };
            return await SinkRun.RunAsync(options, result.GetValue(json), result.GetValue(html), result.GetValue(alloc), stdout, stderr, cancel);
        });
        return command;
    }

    private static Option<double> Probability(string name, string description) =>
        new(name) { Description = description + " 0..1, default 0." };

    /// <summary>Null when <paramref name="text"/> is absent or a valid duration, else the error text.</summary>
    private static string? ParseDuration(string? text, string name, bool positive, out TimeSpan? value)
    {
        value = null;
        if (text is null)
        {
            return null;
        }

        if (!Durations.TryParse(text, out var parsed) || (positive && parsed <= TimeSpan.Zero))
        {
            return $"{name}: '{text}' is not a duration (e.g. 500ms, 30s, 2m)";
        }

        value = parsed;
        return null;
    }
}
