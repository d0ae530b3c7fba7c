using Tern.Cli;
using Tern.Tests.Cli;

namespace Tern.Tests.Control;

/// <summary>The <c>tern queue</c> command tree without a server: help, and refusals before any connection.</summary>
public sealed class QueueCommandLineTests
{
    private static Task<(int Code, string Out, string Err)> Run(params string[] args) => InProcessTern.RunAsync(args);

    [Theory]
    [InlineData("queue")]
    [InlineData("queue", "list")]
    [InlineData("queue", "history")]
    [InlineData("queue", "show")]
    [InlineData("queue", "cat")]
    [InlineData("queue", "hold")]
    [InlineData("queue", "release")]
    [InlineData("queue", "retry")]
    [InlineData("queue", "fail")]
    [InlineData("queue", "drop")]
    [InlineData("queue", "set")]
    [InlineData("queue", "set", "transport")]
    [InlineData("queue", "set", "requiretls")]
    [InlineData("queue", "set", "max-retries")]
    [InlineData("queue", "holdrule")]
    [InlineData("queue", "holdrule", "list")]
    [InlineData("queue", "holdrule", "add")]
    [InlineData("queue", "holdrule", "remove")]
    [InlineData("queue", "pause")]
    [InlineData("queue", "resume")]
    [InlineData("queue", "status")]
    public async Task Every_queue_command_has_help(params string[] args)
    {
        var (code, output, _) = await Run([.. args, "--help"]);
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("Usage:", output, StringComparison.Ordinal);
        // In-process the root command is named after the test host; the path below it is ours.
        Assert.Contains(" " + string.Join(' ', args), output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Filters_are_documented_on_operations_and_listings()
    {
        foreach (var command in new[] { "list", "history", "hold", "release", "retry", "fail", "drop" })
        {
            var (_, output, _) = await Run("queue", command, "--help");
            foreach (var option in new[] { "--sender", "--recipient-domain", "--account", "--held", "--not-held", "--older-than", "--newer-than", "--due-before", "--due-after", "--transport", "--config" })
            {
                Assert.Contains(option, output, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task Usage_errors_come_before_any_connection()
    {
        // The embedded default's data directory (./data) has no server: a usage error still exits 2, not 69.
        var (code, _, error) = await Run("queue", "drop");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("tern queue drop: give message ids, a filter (see --help) or --all", error, StringComparison.Ordinal);

        (code, _, error) = await Run("queue", "retry", "--all", "--shift", "soon");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("--shift: bad duration \"soon\"", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("max-retries: expected a whole number from 0 to 100 (0: the configured delivery.max_retries), got \"101\"", "101", "--all")]
    [InlineData("max-retries: expected a whole number from 0 to 100 (0: the configured delivery.max_retries), got \"-1\"", "-1", "--all")]
    [InlineData("max-retries: expected a whole number from 0 to 100 (0: the configured delivery.max_retries), got \"2.5\"", "2.5", "--all")]
    [InlineData("max-retries: expected a whole number from 0 to 100 (0: the configured delivery.max_retries), got \"three\"", "three", "--all")]
    [InlineData("max-retries: expected a whole number from 0 to 100 (0: the configured delivery.max_retries), got \"99999999999\"", "99999999999", "--all")]
    [InlineData("\"01KB0000000000000000000000\" is a message id, but the number of retries comes first", "01KB0000000000000000000000", "3")]
    [InlineData("Required argument missing", "--all")]
    [InlineData("give message ids, a filter (see --help) or --all", "3")]
    [InlineData("not a message id: x", "3", "x")]
    public async Task Set_max_retries_refuses_bad_values_before_any_connection(string message, params string[] args)
    {
        var (code, _, error) = await Run(["queue", "set", "max-retries", .. args]);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains(message, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Set_max_retries_is_documented()
    {
        var (_, set, _) = await Run("queue", "set", "--help");
        Assert.Contains("max-retries", set, StringComparison.Ordinal);
        var (_, help, _) = await Run("queue", "set", "max-retries", "--help");
        foreach (var word in new[] { "<n>", "0 to 100", "delivery.max_retries", "--all", "--sender", "--config" })
        {
            Assert.Contains(word, help, StringComparison.Ordinal);
        }
    }
}
