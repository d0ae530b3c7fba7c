using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Tern.EndToEnd.Tests;

/// <summary>
/// /metrics of the published binary after mail went through it (accepted, delivered through a
/// smarthost to a second Tern, refused by a fail transport, a failure notice delivered back): every
/// family the README lists is there with samples and promtool accepts the scrape; a real Prometheus
/// (Debian package prometheus) scrapes it every second, answers a query for Tern's value and
/// evaluates the sample alert rules without errors. The sample scrape config and rules pass
/// promtool, and the rules' unit tests (promtool test rules) show the panic and queue-age alerts fire.
/// </summary>
public sealed class PrometheusTests
{
    /// <summary>Families that must have samples after the traffic of the test (name as it appears at the start of a sample line).</summary>
    private static readonly string[] Families =
    [
        "tern_build_info{", "tern_panic_total{", "process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
        "process_start_time_seconds", "tern_smtp_connections_total{", "tern_smtp_commands_total{", "tern_smtp_messages_accepted_total",
        "tern_smtp_messages_rejected_total{", "tern_smtp_received_bytes_total", "tern_smtp_tls_handshakes_total{", "tern_smtp_auth_total{",
        "tern_smtp_data_commit_seconds_bucket{", "tern_messages_accepted_total", "tern_spool_commits_total", "tern_spool_commit_failures_total",
        "tern_spool_commit_seconds_bucket{", "tern_spool_records_per_commit_bucket{", "tern_spool_messages", "tern_spool_log_bytes",
        "tern_spool_compaction_runs_total", "tern_spool_compressed_raw_bytes_total", "tern_queue_messages{", "tern_queue_oldest_message_age_seconds",
        "tern_queue_due_messages", "tern_delivery_attempts_total{", "tern_delivery_duration_seconds_bucket{", "tern_delivery_connections_opened_total",
        "tern_delivery_connections_reused_total", "tern_delivery_tls_sessions_total{", "tern_delivery_plaintext_fallbacks_total",
        "tern_delivery_requiretls_unsupported_total{", "tern_dsn_queued_total{", "tern_delivery_suppressed_recipients_total",
        "tern_delivery_expired_recipients_total", "tern_suppression_entries", "tern_destination_recipients_total{", "tern_destination_queued_batches{",
    ];

    [Fact]
    public async Task A_live_scrape_after_mail_passes_promtool_and_a_real_prometheus_scrapes_and_queries_it()
    {
        // The receiving Tern: relay for example.test, no delivery.
        using var rx = new TempDir();
        var rxConfig = rx.File("tern.toml", $"""
            hostname = "mx.example.test"
            data_dir = "data"
            [relay]
            domains = ["example.test"]
            [delivery]
            enabled = false
            [shutdown]
            grace = "2s"
            [http]
            listen = "127.0.0.1:{TestPorts.Free()}"
            [listeners.mx]
            kind = "relay"
            address = "127.0.0.1:0"
            """);
        await using var receiver = TernProcess.Start(rx.Path, "serve", "-c", rxConfig);
        var mx = await receiver.ListenerAsync("mx");

        // The Tern under test: everything through a smarthost (the receiver, STARTTLS unverified), refused.test refused.
        using var tx = new TempDir();
        var http = TestPorts.Free();
        var txConfig = tx.File("tern.toml", $"""
            hostname = "out.sender.test"
            data_dir = "data"
            [shutdown]
            grace = "2s"
            [http]
            listen = "127.0.0.1:{http}"
            [listeners.relay]
            kind = "relay"
            address = "127.0.0.1:0"
            [transports.hub]
            kind = "smtp"
            host = "127.0.0.1"
            port = {mx.Port}
            verify_tls = false
            [transports.refuse]
            kind = "fail"
            code = 550
            enhanced_code = "5.7.1"
            text = "refused by policy"
            [[routes]]
            recipient_domains = ["refused.test"]
            transport = "refuse"
            [[routes]]
            transport = "hub"
            """);
        await using var tern = TernProcess.Start(tx.Path, "serve", "-c", txConfig);
        var relay = await tern.ListenerAsync("relay");
        await tern.WaitForLogAsync(new Regex($"m=listening c=http address=127.0.0.1:{http}"));

        using (var client = new SmtpClient())
        {
            await client.ConnectAsync("127.0.0.1", relay.Port, SecureSocketOptions.None);
            foreach (var to in (string[])["bob@example.test", "carol@example.test", "nobody@refused.test"])
            {
                var message = new MimeMessage();
                message.From.Add(MailboxAddress.Parse("alice@example.test"));
                message.To.Add(MailboxAddress.Parse(to));
                message.Subject = "metrics";
                message.Body = new TextPart("plain") { Text = "counted" };
                await client.SendAsync(message);
            }

            await client.DisconnectAsync(true);
        }

        // Two delivered, one refused, and its failure notice delivered to alice through the smarthost.
        using var web = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{http}"), Timeout = TimeSpan.FromSeconds(10) };
        var text = await ScrapeUntilAsync(web, t =>
            Sample(t, "tern_delivery_attempts_total{result=\"delivered\",transport=\"smtp\"}") >= 3
            && Sample(t, "tern_delivery_attempts_total{result=\"failed\",transport=\"fail\"}") >= 1
            && Sample(t, "tern_queue_messages{state=\"delivering\"}") == 0);
        Assert.Equal(3, Sample(text, "tern_messages_accepted_total"));
        Assert.Equal(3, Sample(text, "tern_smtp_messages_accepted_total"));
        Assert.Equal(1, Sample(text, "tern_dsn_queued_total{kind=\"failure\"}"));
        Assert.Equal(0, Sample(text, "tern_dsn_queued_total{kind=\"delay\"}"));
        Assert.True(Sample(text, "tern_delivery_tls_sessions_total{mode=\"opportunistic\"}") >= 1, text);
        Assert.Equal(0, Sample(text, "tern_spool_messages"));
        Assert.Equal(0, Sample(text, "tern_queue_oldest_message_age_seconds"));
        Assert.Matches("tern_destination_recipients_total\\{destination=\"hub\\|127\\.0\\.0\\.1:\\d+\",result=\"delivered\"\\} 3", text);
        Assert.Matches("tern_build_info\\{version=\"[^\"]+\",revision=\"[^\"]+\"\\} 1", text);
        foreach (var component in (string[])["tern", "smtp", "sasl", "dns", "spool", "delivery", "http"])
        {
            Assert.Contains($"tern_panic_total{{component=\"{component}\"}} 0", text, StringComparison.Ordinal);
        }

        foreach (var family in Families)
        {
            Assert.True(Regex.IsMatch(text, "(?m)^" + Regex.Escape(family)), $"{family} has no sample:\n{text}");
        }

        await Promtool.AssertValidAsync(text);

        // A real Prometheus scrapes Tern every second and evaluates the sample rules.
        using var prom = new TempDir();
        var promPort = TestPorts.Free();
        var promConfig = prom.File("prometheus.yml", $"""
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            rule_files:
              - {Deploy("tern-alerts.yml")}
            scrape_configs:
              - job_name: tern
                static_configs:
                  - targets: ["127.0.0.1:{http}"]
            """);
        using var prometheus = Process.Start(new ProcessStartInfo("prometheus",
        [
            "--config.file=" + promConfig,
            "--storage.tsdb.path=" + Path.Combine(prom.Path, "data"),
            "--web.listen-address=127.0.0.1:" + promPort,
        ])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        })!;
        var promLog = new System.Text.StringBuilder();
        prometheus.ErrorDataReceived += (_, e) =>
        {
            lock (promLog)
            {
                promLog.AppendLine(e.Data);
            }
        };
        prometheus.BeginErrorReadLine();
        prometheus.BeginOutputReadLine();
        try
        {
            using var api = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{promPort}"), Timeout = TimeSpan.FromSeconds(5) };
            var value = await PollAsync(async () =>
            {
                using var doc = JsonDocument.Parse(await api.GetStringAsync("/api/v1/query?query=tern_messages_accepted_total"));
                var result = doc.RootElement.GetProperty("data").GetProperty("result");
                return result.GetArrayLength() == 1 ? result[0].GetProperty("value")[1].GetString() : null;
            }, () => Log(promLog));
            Assert.Equal("3", value);

            // Every sample rule evaluated against Tern's series without an error.
            var healths = await PollAsync(async () =>
            {
                using var doc = JsonDocument.Parse(await api.GetStringAsync("/api/v1/rules"));
                var rules = doc.RootElement.GetProperty("data").GetProperty("groups").EnumerateArray().SelectMany(g => g.GetProperty("rules").EnumerateArray())
                    .Select(r => (Name: r.GetProperty("name").GetString()!, Health: r.GetProperty("health").GetString()!, Error: r.TryGetProperty("lastError", out var e) ? e.GetString() : null)).ToList();
                return rules.Count > 0 && rules.All(r => r.Health != "unknown") ? rules : null;
            }, () => Log(promLog));
            Assert.All(healths, r => Assert.True(r.Health == "ok", $"{r.Name}: {r.Health} {r.Error}"));
            Assert.Contains(healths, r => r.Name == "TernPanic");
        }
        finally
        {
            prometheus.Kill(entireProcessTree: true);
            await prometheus.WaitForExitAsync();
        }

        tern.Signal(TernProcess.SIGTERM);
        Assert.Equal(0, await tern.WaitForExitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task The_sample_scrape_config_and_alert_rules_pass_promtool_and_their_unit_tests()
    {
        await AssertPromtoolAsync("check", "config", Deploy("prometheus.yml"));
        await AssertPromtoolAsync("check", "rules", Deploy("tern-alerts.yml"));

        // promtool's rule unit tests: the alerts fire on the series Tern exports, and stay quiet otherwise.
        using var dir = new TempDir();
        var tests = dir.File("tern-alerts.test.yml", $$"""
            rule_files:
              - {{Deploy("tern-alerts.yml")}}
            evaluation_interval: 1m
            tests:
              - interval: 1m
                input_series:
                  - series: 'tern_panic_total{component="smtp", instance="mx1", job="tern"}'
                    values: '0 0 0 1 1 1'
                  - series: 'tern_panic_total{component="spool", instance="mx1", job="tern"}'
                    values: '0 0 0 0 0 0'
                  - series: 'tern_queue_oldest_message_age_seconds{instance="mx1", job="tern"}'
                    values: '172000+60x60'
                  - series: 'tern_spool_commit_failures_total{instance="mx1", job="tern"}'
                    values: '0 0 0 0 2 2'
                alert_rule_test:
                  - eval_time: 2m
                    alertname: TernPanic
                    exp_alerts: []
                  - eval_time: 5m
                    alertname: TernPanic
                    exp_alerts:
                      - exp_labels: { severity: critical, component: smtp, instance: mx1, job: tern }
                        exp_annotations:
                          summary: "Tern mx1: unexpected exception in smtp"
                          description: "An exception was caught at the smtp boundary (the component kept running). See the log for the stack trace."
                  - eval_time: 5m
                    alertname: TernSpoolCommitFailures
                    exp_alerts:
                      - exp_labels: { severity: critical, instance: mx1, job: tern }
                        exp_annotations:
                          summary: "Tern mx1: spool commits are failing"
                          description: "2 commits failed in 5 minutes (disk full or I/O error); mail is refused with 4xx until the spool recovers."
                  - eval_time: 10m
                    alertname: TernOldQueuedMessage
                    exp_alerts: []
                  - eval_time: 50m
                    alertname: TernOldQueuedMessage
                    exp_alerts:
                      - exp_labels: { severity: warning, instance: mx1, job: tern }
                        exp_annotations:
                          summary: "Tern mx1: a message has been queued for 2d 0h 36m 40s"
            """);
        await AssertPromtoolAsync("test", "rules", tests);
    }

    /// <summary>A file of src/Tern/Deploy in the repository.</summary>
    private static string Deploy(string name)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "build.sh")))
        {
            dir = dir.Parent;
        }

        Assert.NotNull(dir);
        return Path.Combine(dir.FullName, "src", "Tern", "Deploy", name);
    }

    private static async Task AssertPromtoolAsync(params string[] args)
    {
        using var p = Process.Start(new ProcessStartInfo("promtool", args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = await p.StandardOutput.ReadToEndAsync() + await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.True(p.ExitCode == 0, $"promtool {string.Join(' ', args)}:\n{output}");
    }

    /// <summary>The value of the sample line that starts with <paramref name="series"/> (NaN when there is none).</summary>
    private static double Sample(string exposition, string series)
    {
        var m = Regex.Match(exposition, "(?m)^" + Regex.Escape(series) + " (\\S+)$");
        return m.Success ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : double.NaN;
    }

    private static async Task<string> ScrapeUntilAsync(HttpClient web, Func<string, bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        var text = string.Empty;
        while (DateTime.UtcNow < deadline)
        {
            text = await web.GetStringAsync("/metrics");
            if (done(text))
            {
                return text;
            }

            await Task.Delay(200);
        }

        throw new Xunit.Sdk.XunitException("the expected samples did not come within 30 s:\n" + text);
    }

    /// <summary>Polls (at most 30 s) until <paramref name="probe"/> gives a value; connection errors while Prometheus starts are retried.</summary>
    private static async Task<T> PollAsync<T>(Func<Task<T?>> probe, Func<string> log)
        where T : class
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (await probe() is { } value)
                {
                    return value;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(250);
        }

        throw new Xunit.Sdk.XunitException("Prometheus did not answer within 30 s; its log:\n" + log());
    }

    private static string Log(System.Text.StringBuilder log)
    {
        lock (log)
        {
            return log.ToString();
        }
    }
}
