using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using System.Globalization;

namespace Tern.Benchmarks.SpoolLoad;

/// <summary>
/// Every garbage collection of a run with its generation, its reason and how long it stopped the
/// process (suspension to restart), from the runtime's own GC events: a stall in the latency
/// timeline is then either a collection or something else.
/// </summary>
internal sealed class GcLog : EventListener
{
    private const EventKeywords GcKeyword = (EventKeywords)0x1;

    // GCStart_V2's Reason field (the runtime's gc_reason enumeration).
    private static readonly string[] Reasons =
    [
        "alloc_soh", "induced", "low_memory", "empty", "alloc_loh", "oos_soh", "oos_loh", "induced_noforce",
        "internal", "induced_low_memory", "induced_compacting", "low_memory_host", "pm_full_gc", "low_memory_host_blocking",
    ];

    private readonly ConcurrentQueue<string> _lines = new();
    private readonly DateTime _start = DateTime.UtcNow;
    private DateTime _suspended;
    private int _depth;
    private string _reason = "?";

    /// <summary>The collections of generation 1 and 2, and any that stopped the process for at least <paramref name="minPause"/>.</summary>
    public IEnumerable<string> Lines => _lines;

    public TimeSpan MinPause { get; init; } = TimeSpan.FromMilliseconds(5);

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(source, EventLevel.Informational, GcKeyword);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        switch (e.EventName)
        {
            case { } n when n.StartsWith("GCSuspendEEBegin", StringComparison.Ordinal):
                _suspended = e.TimeStamp;
                break;
            case { } n when n.StartsWith("GCStart", StringComparison.Ordinal):
                _depth = Field(e, "Depth");
                var reason = Field(e, "Reason");
                _reason = reason >= 0 && reason < Reasons.Length ? Reasons[reason] : reason.ToString(CultureInfo.InvariantCulture);
                break;
            case { } n when n.StartsWith("GCRestartEEEnd", StringComparison.Ordinal) && _suspended != default:
                var pause = e.TimeStamp - _suspended;
                if (_depth >= 1 || pause >= MinPause)
                {
                    _lines.Enqueue(string.Create(CultureInfo.InvariantCulture,
                        $"GC at_s={(_suspended - _start).TotalSeconds:0.000} gen={_depth} reason={_reason} pause_ms={pause.TotalMilliseconds:0.0}"));
                }

                _suspended = default;
                break;
        }
    }

    private static int Field(EventWrittenEventArgs e, string name) =>
        e.PayloadNames?.IndexOf(name) is { } i and >= 0 ? Convert.ToInt32(e.Payload![i], CultureInfo.InvariantCulture) : -1;
}
