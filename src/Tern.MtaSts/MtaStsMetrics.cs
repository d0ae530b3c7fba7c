using Tern.Observability.Metrics;

namespace Tern.MtaSts;

/// <summary>
/// The MTA-STS instruments. Labels are closed sets (fetch result, lookup source, policy mode); the
/// domain is never a label. Every series exists from the start and its child is resolved once.
/// </summary>
internal sealed class MtaStsMetrics
{
    private static readonly string[] Modes = ["none", "testing", "enforce"];

    private readonly ICounter[] _fetches;
    private readonly ICounter[] _lookups;

    public MtaStsMetrics(IMetrics metrics, Func<int[]> countByMode)
    {
        var fetches = metrics.Counter("tern_mtasts_fetches_total", "MTA-STS policy fetches by result: ok, http_error, tls_error, invalid, too_large, timeout, redirect, dns_error.", "result");
        _fetches = [.. MtaStsFetchResult.StatusLabels.Select(l => fetches.Labels(l))];
        var lookups = metrics.Counter("tern_mtasts_lookups_total", "MTA-STS policy lookups by how the answer was obtained: none, fresh, cached, cached_after_failure, backoff.", "source");
        _lookups = [.. MtaStsLookup.SourceLabels.Select(l => lookups.Labels(l))];
        var policies = metrics.Gauge("tern_mtasts_policies", "Cached MTA-STS policies (expired ones included until removed) by mode: none, testing, enforce.", "mode");
        var gauges = Modes.Select(m => policies.Labels(m)).ToArray();
        metrics.OnCollect(() =>
        {
            var counts = countByMode();
            for (var i = 0; i < gauges.Length; i++)
                gauges[i].Set(counts[i]);
        });
    }

    public void Fetch(MtaStsFetchStatus status) => _fetches[(int)status].Inc();

    public void Lookup(MtaStsSource source) => _lookups[(int)source].Inc();
}
