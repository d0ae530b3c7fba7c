using System.Text;
using Tern.Cli;
using Tern.Control;
using Tern.Suppression;
using Tern.Tests.Cli;

namespace Tern.Tests.Control;

/// <summary>The <c>tern suppression</c> command tree without a server (help, refusals before any connection) and its wire types.</summary>
public sealed class SuppressionCommandLineTests
{
    private static Task<(int Code, string Out, string Err)> Run(params string[] args) => InProcessTern.RunAsync(args);

    [Theory]
    [InlineData("suppression")]
    [InlineData("suppression", "list")]
    [InlineData("suppression", "add")]
    [InlineData("suppression", "remove")]
    public async Task Every_suppression_command_has_help(params string[] args)
    {
        var (code, output, _) = await Run([.. args, "--help"]);
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("Usage:", output, StringComparison.Ordinal);
        Assert.Contains(" " + string.Join(' ', args), output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Options_are_documented()
    {
        var (_, list, _) = await Run("suppression", "list", "--help");
        foreach (var option in new[] { "--contains", "--limit", "--after", "--json", "--config" })
        {
            Assert.Contains(option, list, StringComparison.Ordinal);
        }

        var (_, add, _) = await Run("suppression", "add", "--help");
        Assert.Contains("--reason", add, StringComparison.Ordinal);
        Assert.Contains("<address>", add, StringComparison.Ordinal);

        var (_, root, _) = await Run("--help");
        Assert.Contains("suppression", root, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Required argument missing", "suppression", "add")]
    [InlineData("Required argument missing", "suppression", "remove")]
    [InlineData("\"bob\" is not an address: expected local-part@domain", "suppression", "add", "bob")]
    [InlineData("\"bob@\" is not an address: expected local-part@domain", "suppression", "add", "bob@")]
    [InlineData("\"@example.org\" is not an address: expected local-part@domain", "suppression", "remove", "@example.org")]
    [InlineData("\"bob smith@example.org\" is not an address: it contains white space", "suppression", "add", "bob smith@example.org")]
    [InlineData("\"bob\\t@example.org\" is not an address: it contains a control character", "suppression", "remove", "bob\t@example.org")]
    [InlineData("the address is empty", "suppression", "add", "")]
    [InlineData("--limit: expected 1 to 100000, got 100001", "suppression", "list", "--limit", "100001")]
    [InlineData("Unrecognized command or argument 'extra'", "suppression", "add", "a@example.org", "extra")]
    public async Task Usage_errors_come_before_any_connection(string message, params string[] args)
    {
        // The embedded default's data directory (./data) has no server: a usage error still exits 2, not 69.
        var (code, _, error) = await Run(args);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains(message, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Request_and_response_round_trip_as_snake_case_lines()
    {
        var request = new ControlRequest
        {
            Op = ControlOps.SuppressionList,
            Address = "bob@example.net",
            Contains = "@example.net",
            Limit = 50,
            After = "alice@example.net",
            Reason = "line one\nline two",
        };
        var line = ControlJson.Encode(request);
        var text = Encoding.UTF8.GetString(line);
        Assert.Equal(
            """{"op":"suppression-list","reason":"line one\nline two","address":"bob@example.net","contains":"@example.net","limit":50,"after":"alice@example.net"}""" + "\n",
            text);
        var back = ControlJson.DecodeRequest(line.AsSpan(0, line.Length - 1));
        Assert.Equal(text, Encoding.UTF8.GetString(ControlJson.Encode(back)));

        var since = new DateTimeOffset(2026, 11, 28, 19, 8, 48, 46, TimeSpan.Zero);
        var response = new ControlResponse
        {
            Ok = true,
            Suppressions = [ControlMapping.ToSuppression(new SuppressionEntry("bob@example.net", "550-5.1.1 a\r\n550 5.1.1 b", since, SuppressionSource.RepeatedFailures))],
            Total = 7,
            Next = "bob@example.net",
        };
        text = Encoding.UTF8.GetString(ControlJson.Encode(response));
        Assert.Equal(
            """{"ok":true,"total":7,"next":"bob@example.net","suppressions":[{"address":"bob@example.net","reason":"550-5.1.1 a\r\n550 5.1.1 b","since":"2026-11-28T19:08:48.046+00:00","source":"repeated-failures"}]}""" + "\n",
            text);
        var decoded = ControlJson.DecodeResponse(Encoding.UTF8.GetBytes(text.TrimEnd('\n')));
        Assert.Equal("550-5.1.1 a\r\n550 5.1.1 b", Assert.Single(decoded.Suppressions!).Reason);
        Assert.Equal(since, decoded.Suppressions![0].Since);
    }

    [Theory]
    [InlineData(SuppressionSource.Bounce, "bounce")]
    [InlineData(SuppressionSource.RepeatedFailures, "repeated-failures")]
    [InlineData(SuppressionSource.Operator, "operator")]
    public void Sources_have_names(SuppressionSource source, string name)
    {
        Assert.Equal(name, ControlMapping.Name(source));
    }
}
