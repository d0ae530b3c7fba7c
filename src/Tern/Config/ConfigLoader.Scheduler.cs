using Tern.Scheduler;

namespace Tern.Config;

/// <summary>Binding of the scheduler's keys in <c>[delivery]</c> and of <c>[[destinations]]</c>.</summary>
public static partial class ConfigLoader
{
    private static SchedulerOptions BindScheduler(ConfigTable delivery, SchedulerOptions d)
    {
        var r = d.Retry;
        return d with
        {
            Concurrency = (int)delivery.Integer("concurrency", d.Concurrency, 1, 10_000),
            MetricsDestinations = (int)delivery.Integer("metrics_destinations", d.MetricsDestinations, 0, 1000),
            Retry = new RetryPolicy
            {
                FirstRetry = delivery.Duration("first_retry", r.FirstRetry, TimeSpan.FromSeconds(1), TimeSpan.FromDays(1)),
                MaxRetries = (int)delivery.Integer("max_retries", r.MaxRetries, 0, 100),
                Jitter = delivery.Number("retry_jitter", r.Jitter, 0, 1),
                DelayNoticeAfter = (int)delivery.Integer("delay_notice_after", r.DelayNoticeAfter, 0, 100),
            },
            Destinations = new DestinationPolicy { Default = BindLimits(delivery, d.Destinations.Default) },
        };
    }

    /// <summary>The per-destination keys, in <c>[delivery]</c> (defaults) and in each <c>[[destinations]]</c> (overrides).</summary>
    private static DestinationLimits BindLimits(ConfigTable t, DestinationLimits d) => new()
    {
        MaxConnections = (int)t.Integer("max_connections", d.MaxConnections, 1, 10_000),
        MaxMessagesPerConnection = (int)t.Integer("max_messages_per_connection", d.MaxMessagesPerConnection, 0, 1_000_000),
        MessagesPerSecond = t.Number("rate", d.MessagesPerSecond, 0, 1_000_000),
        Burst = (int)t.Integer("burst", d.Burst, 1, 1_000_000),
        MaxRecipientsPerTransaction = (int)t.Integer("max_recipients", d.MaxRecipientsPerTransaction, 1, 100_000),
        IdleReuse = t.Duration("idle_reuse", d.IdleReuse, TimeSpan.Zero, TimeSpan.FromMinutes(5)),
        PipelineNext = t.Bool("pipeline_next", d.PipelineNext),
        SuspendAfter = (int)t.Integer("suspend_after", d.SuspendAfter, 1, 1000),
        SuspendFor = t.Duration("suspend_for", d.SuspendFor, TimeSpan.Zero, TimeSpan.FromDays(1)),
    };

    private static DestinationPolicy BindDestinations(IReadOnlyList<ConfigTable> tables, DestinationLimits defaults)
    {
        var rules = new List<DestinationRule>();
        foreach (var t in tables)
        {
            var domain = t.OptionalString("domain");
            var mx = t.OptionalString("mx");
            if ((domain is null) == (mx is null))
            {
                t.Error(domain is null ? "domain" : "mx", "a destination names either a recipient domain (domain = \"example.com\") or MX hosts (mx = \"*.example.net\"), one of them");
            }

            var pattern = domain ?? mx ?? string.Empty;
            var name = pattern.StartsWith("*.", StringComparison.Ordinal) ? pattern[2..] : pattern.TrimStart('.');
            if (pattern.Length > 0 && !IsDomainName(name))
            {
                t.Error(domain is null ? "mx" : "domain", $"\"{pattern}\" is not a domain name or pattern (\"example.com\", \".example.com\", \"*.example.com\")");
            }

            var limits = BindLimits(t, defaults);
            t.Finish();
            rules.Add(new DestinationRule(domain is null ? DestinationMatch.Mx : DestinationMatch.Domain, pattern, limits));
        }

        return new DestinationPolicy { Default = defaults, Rules = rules };
    }
}
