using Tern.Observability.Logging;
using Tern.Observability.Metrics;

namespace Tern.Metrics;

/// <summary>Metrics the host owns: build info and the panic counter of every component.</summary>
public sealed class ProcessMetrics
{
    public ProcessMetrics(IMetrics metrics, string version)
    {
        metrics.Gauge("tern_build_info", "Tern build: version label, value 1.", "version").Labels(version).Set(1);
        Panics = Tern.Observability.Metrics.Panics.Family(metrics);

        // Every label value exists from the start at 0, so that an increase() alert sees the first panic.
        foreach (var component in LogComponents.All)
        {
            Panics.Labels(component);
        }
    }

    public ICounterFamily Panics { get; }
}
