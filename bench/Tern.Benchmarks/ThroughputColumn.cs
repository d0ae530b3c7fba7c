using System.Globalization;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Tern.Benchmarks;

/// <summary>MiB/s for benchmarks with a <c>SizeKiB</c> parameter (the bytes processed per operation).</summary>
internal sealed class ThroughputColumn : IColumn
{
    private const string SizeParameter = "SizeKiB";

    public string Id => nameof(ThroughputColumn);

    public string ColumnName => "MiB/s";

    public bool AlwaysShow => false;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => "Throughput: the message size divided by the mean time per operation";

    public bool IsAvailable(Summary summary) =>
        summary.BenchmarksCases.Any(b => b.Parameters.Items.Any(p => p.Name == SizeParameter));

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) =>
        GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var size = benchmarkCase.Parameters.Items.FirstOrDefault(p => p.Name == SizeParameter)?.Value;
        var mean = summary[benchmarkCase]?.ResultStatistics?.Mean;
        if (size is not int kib || mean is not > 0)
        {
            return "-";
        }

        var bytesPerSecond = kib * 1024.0 / (mean.Value / 1e9);
        return (bytesPerSecond / (1024 * 1024)).ToString("0", CultureInfo.InvariantCulture);
    }

    public override string ToString() => ColumnName;
}
