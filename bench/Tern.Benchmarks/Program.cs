using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;

namespace Tern.Benchmarks;

/// <summary>
/// Runs the suites (all of them unless <c>--filter</c> is given; any BenchmarkDotNet option passes
/// through), then checks each benchmark's allocations against <see cref="Budgets"/> and exits
/// non-zero when one is over budget, failed, or has no budget recorded. <c>spool-load ...</c> runs
/// the spool's load and recovery measurements instead (SpoolLoad/).
/// </summary>
internal static class Program
{
    public static int Main(string[] args)
    {
        // The spool load and recovery measurements are not BenchmarkDotNet suites (bench/README.md).
        if (args.Length > 0 && args[0] == SpoolLoad.SpoolLoadCommand.Verb)
        {
            return SpoolLoad.SpoolLoadCommand.Run(args[1..]);
        }

        // The injection API's load (bench/compare-injection.sh): against a running Tern, not a suite.
        if (args.Length > 0 && args[0] == Injection.InjectLoadCommand.Verb)
        {
            return Injection.InjectLoadCommand.Run(args[1..]);
        }

        // --check: what CI and the issue call it; every run already ends with the budget check (exit 1
        // on a budget exceeded), so it only says that this is the run's purpose. BenchmarkDotNet does
        // not know the flag, so it is taken out.
        args = [.. args.Where(a => a != "--check")];

        var config = DefaultConfig.Instance.AddColumn(new ThroughputColumn());

        // A short job by default (a few seconds per benchmark on 2 cores); --job picks another.
        if (!HasOption(args, "--job", "-j"))
        {
            config = config.AddJob(Job.Default
                .WithLaunchCount(1)
                .WithWarmupCount(3)
                .WithIterationCount(5)
                .WithId("Short"));
        }

        // Run everything rather than asking interactively which benchmark to run.
        if (!HasOption(args, "--filter", "-f"))
        {
            args = [.. args, "--filter", "*"];
        }

        var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config).ToArray();
        return BudgetCheck.Run(summaries, Console.Out) ? 0 : 1;
    }

    private static bool HasOption(string[] args, string longName, string shortName) =>
        args.Any(a => a == shortName || a.Equals(longName, StringComparison.OrdinalIgnoreCase) ||
            a.StartsWith(longName + "=", StringComparison.OrdinalIgnoreCase));
}
