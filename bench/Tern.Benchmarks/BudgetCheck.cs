using System.Globalization;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Reports;

namespace Tern.Benchmarks;

/// <summary>Compares measured allocations with <see cref="Budgets"/> and prints one table for the whole run.</summary>
internal static class BudgetCheck
{
    /// <summary>
    /// True when every benchmark that ran is within its budget (or has none, null). Budgets are
    /// steady-state figures: in a cold-start job (<c>--job dry</c>: one invocation, no warmup) the
    /// JIT's one-off allocations on the benchmark thread (tiering, on-stack replacement) can land in
    /// the single measured operation, so there an excess is reported but does not fail the run.
    /// </summary>
    public static bool Run(IReadOnlyList<Summary> summaries, TextWriter output)
    {
        var rows = new List<string[]>();
        var failures = new List<string>();
        var coldExcesses = 0;
        foreach (var summary in summaries)
        {
            if (summary.HasCriticalValidationErrors)
            {
                failures.Add($"{summary.Title}: critical validation errors (see above)");
            }

            foreach (var benchmark in summary.BenchmarksCases)
            {
                var descriptor = benchmark.Descriptor;
                var key = $"{descriptor.Type.Name}.{descriptor.WorkloadMethod.Name}";
                var name = benchmark.Parameters.Count == 0
                    ? key
                    : $"{key}({benchmark.Parameters.PrintInfo})";
                var report = summary[benchmark];
                var hasBudget = Budgets.BytesPerOperation.TryGetValue(key, out var budget);
                var budgetText = !hasBudget ? "missing" : budget is { } b ? b.ToString(CultureInfo.InvariantCulture) : "-";

                if (report is null || !report.Success || report.ResultStatistics is null)
                {
                    rows.Add([name, "-", "-", budgetText, "FAILED"]);
                    failures.Add($"{name}: did not run to completion");
                    continue;
                }

                var nanoseconds = report.ResultStatistics.Mean.ToString("#,0.0", CultureInfo.InvariantCulture);
                var allocated = report.GcStats.GetBytesAllocatedPerOperation(benchmark);
                var allocatedText = allocated is { } a ? a.ToString(CultureInfo.InvariantCulture) : "?";
                string status;
                if (!hasBudget)
                {
                    status = "NO BUDGET";
                    failures.Add($"{name}: no entry in Budgets.cs (use null to measure without a budget)");
                }
                else if (budget is null)
                {
                    status = "measured";
                }
                else if (allocated is null)
                {
                    status = "FAILED";
                    failures.Add($"{name}: allocations were not measured (MemoryDiagnoser missing?)");
                }
                else if (allocated > budget && benchmark.Job.Run.RunStrategy == RunStrategy.ColdStart)
                {
                    status = "over (cold start, not enforced)";
                    coldExcesses++;
                }
                else if (allocated > budget)
                {
                    status = "OVER";
                    failures.Add($"{name}: {allocated} B/op allocated, budget {budget} B/op");
                }
                else
                {
                    status = "ok";
                }

                rows.Add([name, nanoseconds, allocatedText, budgetText, status]);
            }
        }

        if (rows.Count == 0 && failures.Count == 0)
        {
            // --list, --help, a filter that matched nothing: nothing to check.
            return true;
        }

        output.WriteLine();
        output.WriteLine("// * Allocation budgets (Tern.Benchmarks/Budgets.cs) *");
        Print(output, ["Benchmark", "ns/op", "Allocated B/op", "Budget B/op", "Status"], rows);
        output.WriteLine();
        if (coldExcesses > 0)
        {
            output.WriteLine($"Allocation budgets: {coldExcesses} excess(es) in a cold-start job, not enforced; run without --job dry to check them.");
        }

        if (failures.Count == 0)
        {
            output.WriteLine(coldExcesses == 0
                ? $"Allocation budgets: all {rows.Count} benchmarks within budget."
                : "Allocation budgets: no enforced budget exceeded.");
            return true;
        }

        output.WriteLine($"Allocation budgets: {failures.Count} problem(s):");
        foreach (var failure in failures)
        {
            output.WriteLine("  " + failure);
        }

        return false;
    }

    private static void Print(TextWriter output, string[] header, List<string[]> rows)
    {
        var widths = new int[header.Length];
        foreach (var row in rows.Prepend(header))
        {
            for (var i = 0; i < row.Length; i++)
            {
                widths[i] = Math.Max(widths[i], row[i].Length);
            }
        }

        // Names and statuses left-aligned, numbers right-aligned (a Markdown table, like BenchmarkDotNet's).
        bool Left(int column) => column == 0 || column == header.Length - 1;
        void Line(string[] cells) => output.WriteLine("| " + string.Join(" | ", cells.Select((c, i) => Left(i) ? c.PadRight(widths[i]) : c.PadLeft(widths[i]))) + " |");
        Line(header);
        output.WriteLine("|" + string.Join("|", widths.Select((w, i) => Left(i) ? new string('-', w + 2) : new string('-', w + 1) + ":")) + "|");
        foreach (var row in rows)
        {
            Line(row);
        }
    }
}
