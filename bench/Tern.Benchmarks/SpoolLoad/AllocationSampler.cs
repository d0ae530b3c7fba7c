using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using System.Globalization;

namespace Tern.Benchmarks.SpoolLoad;

/// <summary>
/// Which types the allocations are, by the runtime's own sampling: the GC raises an AllocationTick
/// event about every 100 KB allocated, naming the type of the object that crossed the mark. Summed
/// over a run this is a statistical breakdown by type, in-process and without a profiler.
/// </summary>
internal sealed class AllocationSampler : EventListener
{
    private const EventKeywords GcKeyword = (EventKeywords)0x1;
    private readonly ConcurrentDictionary<string, long> _bytes = new(StringComparer.Ordinal);
    private volatile bool _recording;

    public void Start() => _recording = true;

    public void Stop() => _recording = false;

    /// <summary>The types with the largest sampled share, as "type share% ..." lines.</summary>
    public IEnumerable<string> Top(int count)
    {
        var total = Math.Max(1, _bytes.Values.Sum());
        return _bytes.OrderByDescending(p => p.Value).Take(count)
            .Select(p => $"{p.Value * 100.0 / total,5:0.0}%  {p.Key}".ToString(CultureInfo.InvariantCulture));
    }

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(source, EventLevel.Verbose, GcKeyword);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (!_recording || e.EventName is null || !e.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal) || e.PayloadNames is null)
        {
            return;
        }

        var name = e.PayloadNames.IndexOf("TypeName") is var t and >= 0 ? e.Payload![t] as string ?? "?" : "?";

        // AllocationKind: 0 small object heap, 1 large object heap, 2 pinned object heap.
        if (e.PayloadNames.IndexOf("AllocationKind") is var k and >= 0 && Convert.ToInt32(e.Payload![k], CultureInfo.InvariantCulture) is var kind and > 0)
        {
            name += kind == 1 ? " (large object heap)" : " (pinned object heap)";
        }

        var amountIndex = e.PayloadNames.IndexOf("AllocationAmount64");
        var amount = amountIndex >= 0 ? Convert.ToInt64(e.Payload![amountIndex], CultureInfo.InvariantCulture) : 100_000;
        _bytes.AddOrUpdate(name, amount, (_, v) => v + amount);
    }
}
