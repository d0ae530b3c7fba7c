using Microsoft.Extensions.Logging.Abstractions;
using Tern.Observability.Metrics;

namespace Tern.Benchmarks;

/// <summary>A spool with default options in a temporary directory of its own, removed with it: real files, as Tern has them.</summary>
internal sealed class BenchSpool : IDisposable
{
    private readonly string _dir;

    public BenchSpool(string prefix)
    {
        _dir = Directory.CreateTempSubdirectory(prefix).FullName;
        Spool = Tern.Spool.Spool.Open(new Tern.Spool.SpoolOptions { Directory = _dir }, NullLoggerFactory.Instance, NullMetrics.Instance);
    }

    public Tern.Spool.Spool Spool { get; }

    public void Dispose()
    {
        Spool.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_dir, true);
    }
}
