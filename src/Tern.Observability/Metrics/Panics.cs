namespace Tern.Observability.Metrics;

/// <summary>
/// <c>tern_panic_total{component}</c>: unhandled exceptions caught at a component boundary (the
/// component kept running). Every component resolves its own child through here, so the metric is
/// defined once.
/// </summary>
public static class Panics
{
    public const string Name = "tern_panic_total";
    public const string Help = "Unhandled exceptions caught at a component boundary (the component kept running).";

    public static ICounterFamily Family(IMetrics metrics) => metrics.Counter(Name, Help, "component");

    public static ICounter For(IMetrics metrics, string component) => Family(metrics).Labels(component);
}
