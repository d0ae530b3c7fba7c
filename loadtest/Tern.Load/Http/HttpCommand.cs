using System.CommandLine;
using Tern.Load.Report;
using Tern.Load.Send;
using Tern.Load.Sink;

namespace Tern.Load.Http;

/// <summary>
/// <c>tern-load http</c>: drives Tern's injection API (<c>POST /api/v1/messages</c>, README "HTTP
/// APIs") with concurrent requests, each an RFC 5322 message (raw, or the structured form that
/// Tern assembles) carrying <c>Message-ID: &lt;RUNID.SEQ@tern-load.test&gt;</c> so that
/// <c>tern-load check</c> can match what the sink received against <c>--ids</c>.
/// </summary>
internal static class HttpCommand
{
    public static Command Build(TextWriter stdout, TextWriter stderr)
    {
        var url = new Option<string>("--url") { Description = "The HTTP listener of the server (its [http] listen), e.g. http://127.0.0.1:9464; the injection path /api/v1/messages is added when the URL has no path. Loopback only unless --allow-remote.", Required = true };
        var allowRemote = new Option<bool>("--allow-remote") { Description = "Allow a --url that is not a loopback address." };
        var token = new Option<string?>("--token") { Description = "The account's bearer token (tern account token NAME)." };
        var tokenFile = new Option<string?>("--token-file") { Description = "A file holding the bearer token (surrounding white space ignored)." };
        var sessions = new Option<int>("--sessions") { Description = "Concurrent requests (and the most connections kept open).", DefaultValueFactory = _ => 10 };
        var messages = new Option<long>("--messages") { Description = "Messages to send (the run ends at --messages or --duration, whichever first).", DefaultValueFactory = _ => 10_000 };
        var duration = new Option<string>("--duration") { Description = "Longest run: 30s, 2m, 1h ... (no message is started after it).", DefaultValueFactory = _ => "10m" };
        var size = new Option<string>("--size") { Description = "Message size in bytes (1k, 10k, 1m), or weighted sizes: 1k:70,10k:25,100k:5.", DefaultValueFactory = _ => "2k" };
        var structured = new Option<bool>("--structured") { Description = "Send the structured \"message\" form (Tern assembles the MIME message) instead of \"raw\"." };
        var rcptDomains = new Option<string>("--rcpt-domains") { Description = "Recipient domains, optionally weighted: example.test or a.test:3,b.test:1 (recipient rcpt@DOMAIN).", DefaultValueFactory = _ => "example.test" };
        var from = new Option<string>("--from") { Description = "Envelope sender and From address (one of the account's sender addresses).", DefaultValueFactory = _ => "load@tern-load.test" };
        var rate = new Option<double>("--rate") { Description = "Requests per second (0: as fast as the sessions go)." };
        var model = new Option<string>("--model") { Description = "closed: a session sends when its previous answer came (capped by --rate); open: request n is due at n/rate whatever the answers, latency measured from the due time.", DefaultValueFactory = _ => "closed" };
        model.AcceptOnlyFromAmong("closed", "open");
        var ids = new Option<string?>("--ids") { Description = "Write one line per 2xx answer: RUNID.SEQ@tern-load.test TAB status and the returned queue id." };
        var json = new Option<string?>("--json") { Description = "Write the machine-readable report to FILE." };
        var html = new Option<string?>("--html") { Description = "Write a self-contained HTML report (charts inline) to FILE." };
        var failOnError = new Option<bool>("--fail-on-error") { Description = "Exit with 1 when any request failed." };
        var timeout = new Option<string>("--timeout") { Description = "Longest wait for an answer (and for a connection).", DefaultValueFactory = _ => "60s" };
        var interval = new Option<string>("--interval") { Description = "Progress and time-series resolution.", DefaultValueFactory = _ => "1s" };
        var command = new Command("http", "Drive Tern's HTTP injection API (POST /api/v1/messages) with concurrent requests and report throughput and latency.")
        {
            url, allowRemote, token, tokenFile, sessions, messages, duration, size, structured, rcptDomains, from, rate, model, ids, json, html, failOnError, timeout, interval,
        };

        command.SetAction(async (ParseResult r, CancellationToken cancel) =>
        {
            int Usage(string what)
            {
                stderr.WriteLine("tern-load: " + what);
                return 2;
            }

            if (!HttpSettings.TryParseUrl(r.GetValue(url)!, r.GetValue(allowRemote), out var uri, out var error))
            {
                return Usage(error);
            }

            if (!HttpSettings.TryReadToken(r.GetValue(token), r.GetValue(tokenFile), out var bearer, out error))
            {
                return Usage(error);
            }

            if (r.GetValue(sessions) is < 1 or > 10_000)
            {
                return Usage("--sessions must be from 1 to 10000");
            }

            if (r.GetValue(messages) < 1)
            {
                return Usage("--messages must be at least 1");
            }

            if (!Durations.TryParse(r.GetValue(duration), out var runFor) || runFor <= TimeSpan.Zero)
            {
                return Usage($"--duration \"{r.GetValue(duration)}\" must be a duration such as 30s, 2m or 1h");
            }

            if (!Durations.TryParse(r.GetValue(timeout), out var wait) || wait <= TimeSpan.Zero)
            {
                return Usage($"--timeout \"{r.GetValue(timeout)}\" must be a duration such as 500ms or 30s");
            }

            if (!Durations.TryParse(r.GetValue(interval), out var every) || every < TimeSpan.FromMilliseconds(10))
            {
                return Usage($"--interval \"{r.GetValue(interval)}\" must be a duration of at least 10ms");
            }

            if (!Weighted<int>.TryParse(r.GetValue(size), "--size", SendSettings.TryParseSize, out var sizes, out error))
            {
                return Usage(error);
            }

            if (!Weighted<string>.TryParse(r.GetValue(rcptDomains), "--rcpt-domains", SendSettings.TryParseDomain, out var domains, out error))
            {
                return Usage(error);
            }

            var sender = r.GetValue(from)!.Trim();
            if (sender.Length == 0 || sender.Any(c => char.IsControl(c) || c is ' ' or '<' or '>') || !sender.Contains('@', StringComparison.Ordinal))
            {
                return Usage($"--from \"{sender}\" must be an address (local@domain)");
            }

            var perSecond = r.GetValue(rate);
            if (perSecond < 0 || !double.IsFinite(perSecond))
            {
                return Usage("--rate must be 0 (no cap) or a positive number of requests per second");
            }

            var open = r.GetValue(model) == "open";
            if (open && perSecond == 0)
            {
                return Usage("--model open needs --rate (the schedule the requests are due on)");
            }

            var settings = new HttpSettings
            {
                Url = uri!,
                Token = bearer,
                Sessions = r.GetValue(sessions),
                Messages = r.GetValue(messages),
                Duration = runFor,
                Sizes = sizes!,
                RcptDomains = domains!,
                From = sender,
                Structured = r.GetValue(structured),
                Rate = perSecond,
                Model = open ? LoadModel.Open : LoadModel.Closed,
                IdsPath = r.GetValue(ids),
                Timeout = wait,
            };
            return await RunAsync(settings, r.GetValue(json), r.GetValue(html), r.GetValue(failOnError), every, stdout, stderr, cancel);
        });
        return command;
    }

    /// <summary>Runs a validated configuration; the exit code (0, 1 with failures and --fail-on-error, 2 when a file cannot be written).</summary>
    internal static async Task<int> RunAsync(HttpSettings settings, string? jsonPath, string? htmlPath, bool failOnError, TimeSpan interval, TextWriter stdout, TextWriter stderr, CancellationToken cancel)
    {
        IdsWriter? ids = null;
        if (settings.IdsPath is { } path)
        {
            try
            {
                ids = new IdsWriter(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                await stderr.WriteLineAsync($"tern-load: cannot write --ids {path}: {e.Message}");
                return 2;
            }
        }

        try
        {
            var stats = new RunStats();
            var load = new HttpLoad(settings, stats, ids);
            var parameters = new List<KeyValuePair<string, string>>(settings.Describe()) { new("run id", load.RunId) };
            var interactive = ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected;
            var reporter = RunReporter.Start(stats, new ReportOptions("http", settings.Url.ToString(), parameters, jsonPath, htmlPath, interactive, interval), stdout, stderr);
            await load.RunAsync(cancel);
            ids?.Flush();
            var code = await reporter.FinishAsync();
            if (load.FirstFailure is { } first)
            {
                await stderr.WriteLineAsync("tern-load: first failure: " + first);
            }

            return code != 0 ? code : failOnError && stats.Failed != 0 ? 1 : 0;
        }
        finally
        {
            ids?.Dispose();
        }
    }
}
