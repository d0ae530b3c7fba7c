using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Tern.Cli;
using Tern.Config;
using Tern.Control;
using Tern.Http;
using Tern.Metrics;
using Tern.Observability.Logging;
using Tern.Sasl;
using Tern.Sasl.Credentials;
using Tern.Smtp.Server;
using Tern.Delivery;
using Tern.MtaSts;
using Tern.Scheduler;
using Tern.Spool;
using Tern.Suppression;

namespace Tern.Hosting;

/// <summary>
/// <c>tern serve</c>: composes the components from the configuration, runs until SIGTERM/SIGINT,
/// then stops accepting, lets transactions in flight finish (bounded by <c>shutdown.grace</c>),
/// closes the store and returns 0. SIGHUP re-reads the configuration file's log levels.
/// </summary>
public static partial class TernHost
{
    private const string InlineSocketCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    public static async Task<int> RunAsync(TernConfig config, string? configPath, TextWriter stdout, TextWriter stderr, CancellationToken cancel)
    {
        // The thread pool keeps its default minimum (one worker per core). It was raised to 64 while the
        // log's writes completed on pool threads, which FASTER's commit and checkpoint managers block
        // on: the pool then grew one thread per half second and stalled commits at each index
        // checkpoint. Since the log writes on a thread of its own (LogDevice), a minimum of 64 only let
        // the pool run ~20 workers on 2 cores, woken and preempted in turn: alternated runs (20
        // sessions, 1 KiB) gave 0.179 -> 0.161 ms of CPU per relayed message with the default, and
        // the spool's latency benchmark with a checkpoint every 3 s p99 3.0 ms instead of 4.7 ms.

        // Socket completions run on the epoll threads instead of hopping to a pool thread: one thread
        // switch fewer per read and write. Tern's work after a completion is parsing and spool appends,
        // and every wait (commit, DNS, delivery) is asynchronous, so nothing blocks an epoll thread for
        // long. Measured with compare-postfix (20 sessions, 1 KiB): 0.204 -> 0.180-0.183 ms of CPU per
        // relayed message. The runtime reads the variable before the first socket exists, which is
        // here; a value the operator set (0 turns it off) is left alone.
        if (Environment.GetEnvironmentVariable(InlineSocketCompletions) is null)
        {
            Environment.SetEnvironmentVariable(InlineSocketCompletions, "1");
        }

        var levels = new LogLevelSettings(config.Log.Level, config.Log.Components);
        using var loggers = new LogfmtLoggerFactory(levels, new LogSink(Console.OpenStandardError()));
        var log = loggers.CreateLogger(LogComponents.Host);

        // Under nohup SIGHUP arrives ignored, and the reload below would never run: taken back first (the
        // process still survives a hang-up, which then reloads the log levels and certificates, as Go's
        // signal.Notify does it).
        var hangupWasIgnored = Tern.Platform.Posix.UnignoreSignal(SigHup);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => OnStopSignal(ctx, stop, log, "SIGTERM"));
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx => OnStopSignal(ctx, stop, log, "SIGINT"));
        Action? reloadCertificates = null;
        using var sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, ctx =>
        {
            ctx.Cancel = true;
            ReloadLevels(configPath, levels, log);
            reloadCertificates?.Invoke();
        });

        LogStarting(log, BuildInfo.Version, config.Source, config.Hostname, config.DataDirectory);
        if (hangupWasIgnored)
        {
            LogHangupUnignored(log);
        }

        DataDirectory data;
        try
        {
            data = DataDirectory.Open(config.DataDirectory);
        }
        catch (InvalidOperationException e)
        {
            LogFatal(log, e.Message);
            await stderr.WriteLineAsync("tern: " + e.Message);
            return ExitCodes.Failure;
        }

        using (data)
        {
            var metrics = new PrometheusMetrics();
            _ = new ProcessMetrics(metrics, BuildInfo.Version);

            var (certPath, keyPath, created) = SelfSignedCertificate.Ensure(data.Sub("tls"), config.Hostname);
            if (created)
            {
                LogSelfSigned(log, certPath);
            }

            var certificates = new Dictionary<(string, string), ServerCertificate>();
            Spool.Spool spool;
            try
            {
                spool = Spool.Spool.Open(SpoolOptionsFrom(config, data.Sub("spool")), loggers, metrics);
            }
            catch (SpoolException e)
            {
                LogFatal(log, e.Message);
                await stderr.WriteLineAsync("tern: " + e.Message);
                return ExitCodes.Failure;
            }

            await using var spoolLifetime = spool;
            SuppressionList suppression;
            try
            {
                suppression = SuppressionList.Open(SuppressionList.PathIn(data.Path), log: loggers.CreateLogger(LogComponents.Delivery));
            }
            catch (SuppressionStoreException e)
            {
                LogFatal(log, e.Message);
                await stderr.WriteLineAsync("tern: " + e.Message);
                return ExitCodes.Failure;
            }

            using var suppressionLifetime = suppression;

            // What each recipient domain's server offered on the last delivery (tern queue domains,
            // requiretls = "auto"); written lazily, and last at shutdown, after delivery has stopped.
            using var domainTls = DomainTlsHistory.Open(DomainTlsHistory.PathIn(data.Path), log: loggers.CreateLogger(LogComponents.Delivery));

            // The queue control socket (tern queue ...); disposed before the spool on every exit path.
            var control = new ControlServer(ControlServer.PathIn(data.Path), spool.Queue, loggers, metrics, suppression: suppression, domainTls: domainTls);
            try
            {
                control.Start();
            }
            catch (ControlServerException e)
            {
                await control.DisposeAsync();
                LogFatal(log, e.Message);
                await stderr.WriteLineAsync("tern: " + e.Message);
                return ExitCodes.Failure;
            }

            await using var controlLifetime = control;
            SmtpServer smtp;
            try
            {
                var accounts = OpenAccounts(config, stdout, log);
                smtp = new SmtpServer(BuildSmtpOptions(config, certificates, certPath, keyPath, accounts), new SpoolMessageStore(spool, AutoRequireTls.For(config.Listeners, domainTls)), loggers, metrics);
                smtp.Start();
            }
            catch (Exception e) when (e is SmtpListenerException or IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or AccountStoreException)
            {
                LogFatal(log, e.Message);
                await stderr.WriteLineAsync("tern: " + e.Message);
                DisposeAll(certificates.Values);
                return ExitCodes.Failure;
            }

            reloadCertificates = smtp.ReloadCertificates;

            var http = new HttpEndpoint(config.Http.Listen, loggers, metrics);
            http.Map("/metrics", (context, cancel) => ServeMetricsAsync(metrics, context, cancel));
            http.Map("/healthz", (context, _) => spool.Failing
                ? HttpEndpoint.WriteTextAsync(context.Response, 503, "spool: commits failing (disk full or I/O error)\n")
                : HttpEndpoint.WriteTextAsync(context.Response, 200, "ok\n"));
            Admin.Readiness.Map(http, Admin.Readiness.Probe(smtp, spool, stop.Token));
            Admin.AdminApi.Map(http, config, spool.Queue, suppression, loggers, metrics, domainTls);
            Injection.InjectionApi.Map(http, config, spool, loggers);
            try
            {
                http.Start();
            }
            catch (HttpEndpointException e)
            {
                LogFatal(log, e.Message);
                await stderr.WriteLineAsync("tern: " + e.Message);
                await smtp.StopAsync(TimeSpan.Zero);
                DisposeAll(certificates.Values);
                return ExitCodes.Failure;
            }

            // Delivery starts once everything that accepts mail is up; it stops before the spool closes.
            await using var delivery = config.Delivery.Enabled ? StartDelivery(config, spool, suppression, loggers, metrics, domainTls) : null;
            _ = new QueueMetrics(metrics, spool, delivery, suppression);
            try
            {
                await Task.Delay(Timeout.Infinite, stop.Token);
            }
            catch (OperationCanceledException)
            {
                // Normal shutdown.
            }

            // No queue operations during shutdown; then stop accepting, let transactions in flight
            // finish (bounded), then close the store.
            await control.DisposeAsync();

            // The HTTP APIs stop taking requests with the control socket and SMTP (requests under way finish).
            http.BeginClose();
            await smtp.StopAsync(config.ShutdownGrace);
            if (delivery is not null)
            {
                await delivery.DisposeAsync();
            }

            await http.DisposeAsync();
            DisposeAll(certificates.Values);
            LogStopped(log);
        }

        return ExitCodes.Ok;
    }

    /// <summary>DNS, routes and the deliverer from the configuration (validated when it was loaded), and the scheduler that feeds them.</summary>
    private static DeliveryScheduler StartDelivery(TernConfig config, Spool.Spool spool, SuppressionList suppression, ILoggerFactory loggers, Tern.Observability.Metrics.IMetrics metrics, DomainTlsHistory domainTls)
    {
        var dns = new Tern.Dns.DnsResolver(
            new Tern.Dns.DnsOptions
            {
                Servers = config.Dns.Servers,
                TrustAdBit = config.Dns.TrustAdBit,
                Timeout = config.Dns.Timeout,
                Attempts = config.Dns.Attempts,
                CacheMaxEntries = config.Dns.CacheEntries,
            },
            loggers);
        var d = config.Delivery;
        var deliverer = new Deliverer(RouteTable.Create(d.Routing), dns, BuildDelivererOptions(config, domainTls), loggers, metrics: metrics);
        var scheduler = new DeliveryScheduler(spool, deliverer, d.Scheduler, loggers, metrics, suppression, disposeDeliverer: true);
        scheduler.Start();
        return scheduler;
    }

    /// <summary>The deliverer's options from the <c>[delivery]</c> section.</summary>
    internal static DelivererOptions BuildDelivererOptions(TernConfig config, IDomainTlsObserver? domainTls)
    {
        var d = config.Delivery;
        return new DelivererOptions
        {
            EhloName = d.EhloName ?? config.Hostname,
            CaBundlePath = d.CaBundle,
            ConnectTimeout = d.ConnectTimeout,
            MaxRecipientsPerTransaction = d.MaxRecipientsPerTransaction,
            Strict8BitMime = d.Strict8BitMime,
            DirectPort = d.DirectPort,
            DomainTls = domainTls,
            IdleReuse = d.Scheduler.Destinations.Default.IdleReuse,

            // Policies are cached in the data directory (tern mta-sts list reads the file); the
            // policy host's certificate is checked against the same roots as the SMTP client's.
            MtaSts = d.MtaSts
                ? new MtaStsOptions { CacheDirectory = config.DataDirectory, CaBundlePath = d.CaBundle, Port = d.MtaStsPort }
                : null,

            // As many idle connections per host as the destination may run at once.
            MaxIdlePerHost = Math.Max(d.Scheduler.Destinations.Default.MaxConnections, d.Scheduler.Destinations.Rules.Select(r => r.Limits.MaxConnections).DefaultIfEmpty(0).Max()),
        };
    }

    /// <summary>Builds the SMTP server's options; listeners without their own certificate share the self-signed one.</summary>
    internal static SmtpServerOptions BuildSmtpOptions(TernConfig config, Dictionary<(string, string), ServerCertificate> certificates, string selfSignedCert, string selfSignedKey, AccountStore accounts)
    {
        ServerCertificate Certificate(string cert, string key)
        {
            if (!certificates.TryGetValue((cert, key), out var c))
            {
                c = new ServerCertificate(cert, key);
                certificates[(cert, key)] = c;
            }

            return c;
        }

        return new SmtpServerOptions
        {
            Hostname = config.Hostname,
            RelayNetworks = config.Relay.Networks,
            AcceptDomains = config.Relay.Domains,
            AllowAuthWithoutTls = config.Auth.AllowWithoutTls,
            Authentication = new SmtpAuthOptions
            {
                Mechanisms = new SaslServerFactory(accounts, new SaslServerOptions
                {
                    Mechanisms = config.Auth.Mechanisms,
                    AllowPasswordMechanismsWithoutTls = false,
                    Hostname = config.Hostname,
                }),
                BeforeAuthentication = () => accounts.ReloadIfChanged(),
                MaySendAs = (user, sender) => accounts.TryGet(user, out var account) && account.MaySendAs(sender),
                MaxFailuresPerIp = config.Auth.MaxFailuresPerIp,
                FailureWindow = config.Auth.FailureWindow,
                FailureDelay = config.Auth.FailureDelay,
                PlusOnTls13 = config.Auth.PlusOnTls13,
            },
            Listeners = config.Listeners.Select(l => new SmtpListenerOptions
            {
                Name = l.Name,
                Kind = l.Kind,
                Endpoint = l.Address,
                Certificate = l.TlsCertificate is { } cert && l.TlsKey is { } key ? Certificate(cert, key) : Certificate(selfSignedCert, selfSignedKey),
                Limits = l.Limits,
            }).ToList(),
        };
    }

    /// <summary>
    /// The account store. On the embedded default configuration with no account yet, one account is
    /// created and its password printed once on standard output (never logged).
    /// </summary>
    private static AccountStore OpenAccounts(TernConfig config, TextWriter stdout, ILogger log)
    {
        var accounts = AccountStore.Open(Cli.AccountCommands.StorePath(config));
        if (config.IsEmbeddedDefault && accounts.Count == 0)
        {
            var user = "postmaster@" + config.Hostname;
            var password = PasswordGenerator.Generate();
            accounts.Add(user, password, new AccountOptions { Iterations = config.Auth.Iterations });
            stdout.WriteLine($"Created submission account {user} with password: {password}");
            stdout.WriteLine($"(shown once; change it with: tern account passwd {user})");
            stdout.Flush();
            LogAccountCreated(log, user, accounts.FilePath);
        }

        return accounts;
    }

    /// <summary>Prometheus text exposition format 0.0.4.</summary>
    private static async Task ServeMetricsAsync(PrometheusMetrics metrics, System.Net.HttpListenerContext context, CancellationToken cancel)
    {
        using var buffer = new MemoryStream();
        await metrics.WriteAsync(buffer, cancel);
        var response = context.Response;
        response.StatusCode = 200;
        response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        response.ContentLength64 = buffer.Length;
        buffer.Position = 0;
        await buffer.CopyToAsync(response.OutputStream, cancel);
    }

    private static void DisposeAll(IEnumerable<IDisposable> items)
    {
        foreach (var i in items)
        {
            i.Dispose();
        }
    }

    private static void OnStopSignal(PosixSignalContext ctx, CancellationTokenSource stop, ILogger log, string name)
    {
        // Keep the process alive: the host shuts down in order and exits with 0.
        ctx.Cancel = true;
        LogSignal(log, name);
        stop.Cancel();
    }

    private static void ReloadLevels(string? configPath, LogLevelSettings levels, ILogger log)
    {
        if (configPath is null)
        {
            LogReloadSkipped(log);
            return;
        }

        try
        {
            var config = ConfigLoader.Load(configPath);
            var level = config.Log.Level.ToName();

            // Logged before the new levels apply, so that the line is written even when they are quieter.
            LogReloaded(log, configPath, level);
            levels.Set(config.Log.Level, config.Log.Components);
        }
        catch (ConfigException e)
        {
            LogReloadFailed(log, configPath, e.Message);
        }
    }

    /// <summary>SIGHUP's number on Linux.</summary>
    private const int SigHup = 1;

    [LoggerMessage(Level = LogLevel.Information, Message = "SIGHUP was inherited as ignored (nohup): taken back, it reloads the log levels")]
    private static partial void LogHangupUnignored(ILogger log);

    [LoggerMessage(Level = LogLevel.Information, Message = "starting {version} {config} {hostname} {data_dir}")]
    private static partial void LogStarting(ILogger log, string version, string config, string hostname, string data_dir);

    [LoggerMessage(Level = LogLevel.Warning, Message = "generated a self-signed certificate; configure tls_cert and tls_key for production {path}")]
    private static partial void LogSelfSigned(ILogger log, string path);

    [LoggerMessage(Level = LogLevel.Warning, Message = "created a submission account; its password was printed once on standard output {user} {file}")]
    private static partial void LogAccountCreated(ILogger log, string user, string file);

    [LoggerMessage(Level = LogLevel.Information, Message = "signal received, shutting down {signal}")]
    private static partial void LogSignal(ILogger log, string signal);

    [LoggerMessage(Level = LogLevel.Information, Message = "stopped")]
    private static partial void LogStopped(ILogger log);

    [LoggerMessage(Level = LogLevel.Error, Message = "cannot start {reason}")]
    private static partial void LogFatal(ILogger log, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "configuration reloaded {config} {level}")]
    private static partial void LogReloaded(ILogger log, string config, string level);

    [LoggerMessage(Level = LogLevel.Warning, Message = "SIGHUP ignored: running on the embedded default configuration")]
    private static partial void LogReloadSkipped(ILogger log);

    [LoggerMessage(Level = LogLevel.Error, Message = "configuration reload failed, keeping the running configuration {config} {errors}")]
    private static partial void LogReloadFailed(ILogger log, string config, string errors);

    internal static SpoolOptions SpoolOptionsFrom(TernConfig config, string directory) => new()
    {
        Directory = directory,
        ReportingMta = config.Hostname,
        CommitDelay = config.Spool.CommitDelay,
        CommitBatch = config.Spool.CommitBatch,
        CompressAbove = (int)Math.Min(config.Spool.CompressAbove, int.MaxValue),
        CompressionLevel = config.Spool.CompressionLevel,
        CheckpointInterval = config.Spool.CheckpointInterval,
        CheckpointBytes = config.Spool.CheckpointBytes,
        Retention = config.Spool.Retention,
        CompactAbove = config.Spool.CompactAbove,
        MemorySizeBits = (int)Math.Log2(config.Spool.LogMemory),
        IndexMemorySizeBits = (int)Math.Log2(config.Spool.IndexMemory),
        IndexBuckets = config.Spool.IndexTable / 64,
        MinFreeBytes = MinFree(config),
    };

    /// <summary>
    /// The spool's free-space reserve: [spool] min_free, else twice the largest message any listener
    /// (or the injection API) accepts, and at least <see cref="SpoolConfig.MinFreeFloor"/>. Twice: a
    /// message is written as it arrives, so several can be under way when the line is crossed (Postfix
    /// asks for 1.5 times message_size_limit); the floor keeps room for the index's checkpoints and the
    /// records and notices of delivery, which go on writing below the line.
    /// </summary>
    internal static long MinFree(TernConfig config)
    {
        if (config.Spool.MinFree >= 0)
        {
            return config.Spool.MinFree;
        }

        var largest = config.Listeners.Select(l => l.Limits.MaxMessageSize).DefaultIfEmpty(0).Max();
        if (config.Injection.Enabled)
        {
            largest = Math.Max(largest, config.Injection.MaxMessageSize);
        }

        return Math.Max(SpoolConfig.MinFreeFloor, 2 * largest);
    }
}
