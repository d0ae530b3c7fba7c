using Microsoft.Extensions.Logging.Abstractions;
using Tern.Observability.Metrics;
using Tern.Spool;

namespace Tern.Tests.Support;

/// <summary>
/// Spool options for tests: a spool in the given directory with small FASTER pages, segments and index,
/// so that a test opens it fast and crosses page boundaries with little mail. Shared by the spool and
/// scheduler tests; a test changes what it needs with <c>with</c>.
/// </summary>
internal static class TestSpoolOptions
{
    public static SpoolOptions Small(string directory) => new()
    {
        Directory = directory,
        PageSizeBits = 16,
        MemorySizeBits = 20,
        SegmentSizeBits = 20,
        IndexBuckets = 1 << 12,
        IndexPageSizeBits = 14,
        IndexMemorySizeBits = 20,
        IndexSegmentSizeBits = 22,
    };

    /// <summary>Opens a spool with these options on <paramref name="clock"/>, without logs or metrics.</summary>
    public static Tern.Spool.Spool Open(this SpoolOptions options, TimeProvider clock) =>
        Tern.Spool.Spool.Open(options, NullLoggerFactory.Instance, NullMetrics.Instance, clock);
}
