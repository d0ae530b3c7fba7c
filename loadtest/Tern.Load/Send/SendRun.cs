using System.Diagnostics;
using System.Globalization;
using System.Text;
using Tern.Load.Report;

namespace Tern.Load.Send;

/// <summary>
/// One <c>tern-load send</c> run: what its sessions share (settings, stats, schedule, the prebuilt
/// messages and commands, the --ids file), the sessions themselves, a watchdog for --timeout, and
/// the report around them.
/// </summary>
internal sealed class SendRun : IDisposable
{
    private readonly CancellationTokenSource _stop;
    private readonly long _allocFrom;
    private readonly long _allocTo;
    private long _completed;
    private long _rcptRejected;
    private long _connectRetries;
    private long _allocAtFrom;
    private long _allocAtTo;
    private string? _fatal;
    private bool _everConnected;

    private SendRun(SendSettings settings, AckedIds? ids, MessageTemplates templates, CancellationToken cancel)
    {
        Settings = settings;
        _stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        Ids = ids;
        Templates = templates;
        Schedule = new MessageSchedule(settings.Messages, settings.Duration, settings.Rate, settings.Model, _stop.Token);
        DomainBytes = [.. settings.RcptDomains.Items.Select(Encoding.ASCII.GetBytes)];
        MaxDomainLength = DomainBytes.Max(d => d.Length);
        MailFromPrefix = Encoding.ASCII.GetBytes($"MAIL FROM:<{settings.From}>");
        EhloCommand = Encoding.ASCII.GetBytes($"EHLO {settings.Helo}\r\n");
        HeloCommand = Encoding.ASCII.GetBytes($"HELO {settings.Helo}\r\n");
        if (settings.AuthUser is { } user)
        {
            // RFC 4616: authzid (empty) NUL authcid NUL password, base64 as the initial response (RFC 4954 4).
            var plain = Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{user}\0{settings.AuthPassword}"));
            AuthCommand = Encoding.ASCII.GetBytes($"AUTH PLAIN {plain}\r\n");
        }

        // The steady state of the run for --alloc: from a fifth of the messages to four fifths.
        _allocFrom = Math.Max(1, settings.Messages / 5);
        _allocTo = Math.Max(_allocFrom + 1, settings.Messages * 4 / 5);
    }

    public SendSettings Settings { get; }

    public RunStats Stats { get; } = new();

    public MessageSchedule Schedule { get; }

    public MessageTemplates Templates { get; }

    public AckedIds? Ids { get; }

    public Weighted<int> Sizes => Settings.Sizes;

    public Weighted<string> Domains => Settings.RcptDomains;

    public byte[][] DomainBytes { get; }

    public int MaxDomainLength { get; }

    /// <summary>"MAIL FROM:&lt;from&gt;" without parameters or line end.</summary>
    public byte[] MailFromPrefix { get; }

    public byte[] EhloCommand { get; }

    public byte[] HeloCommand { get; }

    public byte[]? AuthCommand { get; }

    public byte[] DataCommand { get; } = "DATA\r\n"u8.ToArray();

    public byte[] RsetCommand { get; } = "RSET\r\n"u8.ToArray();

    /// <summary>Cancelled (Ctrl-C) or stopped by a fatal error: no new messages.</summary>
    public bool Stopping => _stop.IsCancellationRequested;

    /// <summary>Recipients refused in transactions whose MAIL was accepted.</summary>
    public long RecipientsRejected => Interlocked.Read(ref _rcptRejected);

    /// <summary>Runs <paramref name="settings"/> and reports; the process exit code.</summary>
    public static async Task<int> RunAsync(SendSettings settings, SendOutput output, CancellationToken cancel)
    {
        var (failOnError, jsonPath, htmlPath, stdout, stderr, finished) = output;
        var templates = new MessageTemplates(settings.Sizes.Items, settings.From, MessageTemplates.NewRunId());
        AckedIds? ids = null;
        if (settings.IdsPath is { } idsPath)
        {
            try
            {
                ids = new AckedIds(idsPath, templates.RunIdBytes);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                await stderr.WriteLineAsync($"tern-load: cannot write --ids {idsPath}: {e.Message}");
                return 2;
            }
        }

        using var run = new SendRun(settings, ids, templates, cancel);
        var parameters = run.Parameters();
        var options = new ReportOptions("send", settings.Target, parameters, jsonPath, htmlPath,
            Interactive: !Console.IsOutputRedirected && stdout == Console.Out, Interval: TimeSpan.FromSeconds(1));
        var reporter = RunReporter.Start(run.Stats, options, stdout, stderr);
        run.Stats.Start();
        await run.RunSessionsAsync();
        ids?.Dispose();

        parameters.Add(new("rcpt rejected", run.RecipientsRejected.ToString(CultureInfo.InvariantCulture)));
        var code = await reporter.FinishAsync();
        var retries = Interlocked.Read(ref run._connectRetries);
        if (retries > 0)
        {
            await stdout.WriteLineAsync($"connect retries (--retry-connect, target unreachable): {retries}");
        }

        if (run.RecipientsRejected > 0)
        {
            await stdout.WriteLineAsync($"recipients rejected (RCPT 4xx/5xx in transactions that went on): {run.RecipientsRejected}");
        }

        finished?.Invoke(new SendResult(run.Stats, run.RecipientsRejected, templates.RunId, run._fatal));
        if (settings.MeasureAllocation)
        {
            await stdout.WriteLineAsync(run.AllocationReport());
        }

        if (run._fatal is { } fatal)
        {
            await stderr.WriteLineAsync("tern-load: " + fatal);
            return 1;
        }

        return code != 0 ? code : failOnError && run.Stats.Failed > 0 ? 1 : 0;
    }

    /// <summary>Stops the run for a reason no reconnect fixes; the first reason is the one reported.</summary>
    public void SetFatal(string message)
    {
        Interlocked.CompareExchange(ref _fatal, message, null);
        _stop.Cancel();
    }

    /// <summary>Some connection of this run got through at least once.</summary>
    public bool EverConnected => Volatile.Read(ref _everConnected);

    public void ConnectionOpened()
    {
        Volatile.Write(ref _everConnected, true);
        Stats.ConnectionOpened();
    }

    public void RecipientRejected() => Interlocked.Increment(ref _rcptRejected);

    /// <summary>A connect failed and is retried under --retry-connect (no message counted).</summary>
    public void ConnectRetried() => Interlocked.Increment(ref _connectRetries);

    /// <summary>A message's outcome is recorded (ok or failed); marks the --alloc window.</summary>
    public void Completed()
    {
        var n = Interlocked.Increment(ref _completed);
        if (Settings.MeasureAllocation && (n == _allocFrom || n == _allocTo))
        {
            Interlocked.Exchange(ref n == _allocFrom ? ref _allocAtFrom : ref _allocAtTo, GC.GetTotalAllocatedBytes(precise: true));
        }
    }

    public void Dispose() => _stop.Dispose();

    private string AllocationReport()
    {
        var from = Interlocked.Read(ref _allocAtFrom);
        var to = Interlocked.Read(ref _allocAtTo);
        return from == 0 || to == 0
            ? "alloc: the run ended before its steady state (too few messages)"
            : string.Create(CultureInfo.InvariantCulture, $"alloc: {(double)(to - from) / (_allocTo - _allocFrom):0.0} bytes/message (GC.GetTotalAllocatedBytes, messages {_allocFrom}..{_allocTo}, all threads)");
    }

    private List<KeyValuePair<string, string>> Parameters()
    {
        var s = Settings;
        var list = new List<KeyValuePair<string, string>>
        {
            new("sessions", s.Sessions.ToString(CultureInfo.InvariantCulture)),
            new("messages", s.Messages.ToString(CultureInfo.InvariantCulture)),
            new("duration", Durations.Format(s.Duration)),
            new("size", s.Sizes.Describe(b => b.ToString(CultureInfo.InvariantCulture))),
            new("recipients", s.Recipients.ToString(CultureInfo.InvariantCulture)),
            new("rcpt-domains", s.RcptDomains.Describe(d => d)),
            new("from", s.From),
            new("pipelining", s.Pipelining.ToString().ToLowerInvariant()),
            new("chunking", s.Chunking ? "on" : "off"),
            new("window", s.Window.ToString(CultureInfo.InvariantCulture)),
            new("per-connection", s.PerConnection.ToString(CultureInfo.InvariantCulture)),
            new("starttls", s.StartTls ? "on" : "off"),
            new("auth", s.AuthUser ?? "-"),
            new("rate", s.Rate > 0 ? s.Rate.ToString("0.###", CultureInfo.InvariantCulture) + "/s" : "unlimited"),
            new("model", s.Model == LoadModel.Open ? "open" : "closed"),
            new("timeout", Durations.Format(s.Timeout)),
            new("retry-connect", s.RetryConnect > TimeSpan.Zero ? Durations.Format(s.RetryConnect) : "off"),
            new("helo", s.Helo),
            new("run id", Templates.RunId),
        };
        return list;
    }

    private async Task RunSessionsAsync()
    {
        var sessions = new SendConnection[Settings.Sessions];
        for (var i = 0; i < sessions.Length; i++)
        {
            sessions[i] = new SendConnection(this);
        }

        using var watchdogStop = new CancellationTokenSource();
        var watchdog = WatchdogAsync(sessions, watchdogStop.Token);
        try
        {
            await Task.WhenAll(sessions.Select(s => Task.Run(s.RunAsync)));
        }
        finally
        {
            await watchdogStop.CancelAsync();
            await watchdog;
            foreach (var session in sessions)
            {
                session.Dispose();
            }
        }
    }

    /// <summary>--timeout for every read and write: a reply that does not come aborts its connection.</summary>
    private async Task WatchdogAsync(SendConnection[] sessions, CancellationToken stop)
    {
        var timeoutTicks = (long)(Settings.Timeout.TotalSeconds * Stopwatch.Frequency);
        var period = TimeSpan.FromMilliseconds(Math.Clamp(Settings.Timeout.TotalMilliseconds / 10, 10, 250));
        using var timer = new PeriodicTimer(period);
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                var now = Stopwatch.GetTimestamp();
                foreach (var session in sessions)
                {
                    session.CheckTimeout(now, timeoutTicks);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}

/// <summary>Where a run reports: the report files, the console, and an observer of the outcome.</summary>
internal sealed record SendOutput(bool FailOnError, string? JsonPath, string? HtmlPath, TextWriter Stdout, TextWriter Stderr, Action<SendResult>? Finished);

/// <summary>A finished run's outcome: its counters, the recipients refused apart, its run id, and the fatal error that stopped it if any.</summary>
internal sealed record SendResult(RunStats Stats, long RecipientsRejected, string RunId, string? Fatal);
