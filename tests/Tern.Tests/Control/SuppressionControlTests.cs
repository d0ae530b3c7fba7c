using System.Text;
using Tern.Cli;
using Tern.Control;
using Tern.Suppression;

namespace Tern.Tests.Control;

/// <summary>
/// <c>tern suppression list|add|remove</c> against a real control server with a real suppression
/// list on a temporary unix socket, driven through the command line as an operator types it.
/// </summary>
public sealed class SuppressionControlTests() : ControlFixture("tern-suppression-control-", withSuppression: true)
{
    private const string NoSuchUser = "550-5.1.1 The email account that you tried to reach does not exist.\r\n550 5.1.1 Please check the address.";

    private SuppressionList List => Suppression!;

    /// <summary>The addresses in the first column of a table (header and footer left out).</summary>
    private static string[] Addresses(string table) =>
        [.. table.Split('\n').Select(l => l.Split(' ')[0]).Where(w => w.Contains('@', StringComparison.Ordinal))];

    [Fact]
    public async Task Add_list_and_remove_round_trip()
    {
        Assert.Equal("0 of 0 suppressed addresses\n", await Ok("suppression", "list"));

        Assert.Equal("bob@example.net suppressed\n", await Ok("suppression", "add", "bob@example.net", "--reason", "asked to be removed"));
        Assert.True(List.TryGet("BOB@example.net", out var entry));
        Assert.Equal(SuppressionSource.Operator, entry.Source);
        Assert.Equal("asked to be removed", entry.Reason);
        Assert.Equal("carol@example.org suppressed\n", await Ok("suppression", "add", "carol@example.org"));

        // What a delivery recorded shows too, its multi-line reply on one row.
        Assert.NotNull(List.RecordPermanentFailure("alice@example.com", NoSuchUser));

        var table = await Ok("suppression", "list");
        var lines = table.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Matches(@"^ADDRESS\s+SINCE\s+SOURCE\s+REASON$", lines[0]);
        Assert.Matches(@"^alice@example.com\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+bounce\s+550-5\.1\.1 The email account that you tried to reach does not exist\. / 550 5\.1\.1 Please check the address\.$", lines[1]);
        Assert.Matches(@"^bob@example.net\s+\S+\s+operator\s+asked to be removed$", lines[2]);
        Assert.Matches(@"^carol@example.org\s+\S+\s+operator\s+suppressed by the operator$", lines[3]);
        Assert.Equal("3 of 3 suppressed addresses", lines[4]);
        Assert.Equal(5, lines.Length);

        Assert.Equal("bob@example.net removed from the suppression list\n", await Ok("suppression", "remove", "Bob@Example.NET"));
        Assert.False(List.TryGet("bob@example.net", out _));
        Assert.Equal(["alice@example.com", "carol@example.org"], Addresses(await Ok("suppression", "list")));

        // Durable: the file has every change before the command returned.
        File.Copy(SuppressionList.PathIn(DataDir), Path.Combine(Dir, "copy.tsv"));
        using var copy = SuppressionList.Open(Path.Combine(Dir, "copy.tsv"));
        Assert.Equal(2, copy.Count);
        Assert.True(copy.TryGet("carol@example.org", out _));
        Assert.False(copy.TryGet("bob@example.net", out _));
    }

    [Fact]
    public async Task List_pages_filters_and_prints_the_next_command()
    {
        foreach (var a in new[] { "e@b.example", "a@a.example", "c@b.example", "b@a.example", "d@a.example" })
        {
            Assert.True(List.Add(a, "x"));
        }

        var first = await Ok("suppression", "list", "--limit", "2");
        Assert.Equal(["a@a.example", "b@a.example"], Addresses(first));
        Assert.Contains("2 of 5 suppressed addresses\n", first, StringComparison.Ordinal);
        var next = first.Split('\n').Single(l => l.StartsWith("next page: ", StringComparison.Ordinal));
        Assert.Equal($"next page: tern suppression list --config {ConfigPath} --limit 2 --after b@a.example", next);

        // The printed command, run as printed, gives the next page.
        Assert.Equal(["c@b.example", "d@a.example"], Addresses(await OkAsPrinted(next["next page: ".Length..])));

        var filtered = await Ok("suppression", "list", "--contains", "@A.example", "--limit", "2");
        Assert.Equal(["a@a.example", "b@a.example"], Addresses(filtered));
        Assert.Contains("2 of 3 suppressed addresses\n", filtered, StringComparison.Ordinal);
        Assert.Contains($"next page: tern suppression list --config {ConfigPath} --contains @A.example --limit 2 --after b@a.example", filtered, StringComparison.Ordinal);
        Assert.Equal(["d@a.example"], Addresses(await Ok("suppression", "list", "--contains", "@a.example", "--after", "b@a.example")));
        Assert.Equal("0 of 0 suppressed addresses\n", await Ok("suppression", "list", "--contains", "nobody"));
    }

    [Fact]
    public async Task List_json_is_the_servers_response()
    {
        Assert.NotNull(List.RecordPermanentFailure("alice@example.com", NoSuchUser));
        List.Add("bob@example.net", "tab\there");

        var json = await Ok("suppression", "list", "--json", "--limit", "1");
        Assert.EndsWith("}\n", json, StringComparison.Ordinal);
        Assert.Contains("\"suppressions\":[{\"address\":\"alice@example.com\",", json, StringComparison.Ordinal);
        Assert.Contains("\"source\":\"bounce\"", json, StringComparison.Ordinal);
        var response = ControlJson.DecodeResponse(Encoding.UTF8.GetBytes(json.TrimEnd('\n')));
        Assert.True(response.Ok);
        Assert.Equal(2, response.Total);
        Assert.Equal("alice@example.com", response.Next);
        var s = Assert.Single(response.Suppressions!);
        Assert.Equal(NoSuchUser, s.Reason);
        Assert.Equal(TimeSpan.Zero, s.Since.Offset);
        Assert.True(List.TryGet("alice@example.com", out var entry));
        Assert.Equal(entry.Since, s.Since);
    }

    [Fact]
    public async Task Refusals_are_clear_with_exit_codes()
    {
        List.Add("bob@example.net", "first");

        var error = await Fails(ExitCodes.Failure, "suppression", "add", "BOB@example.net", "--reason", "again");
        Assert.Matches(@"^tern: bob@example.net is already suppressed \(since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, operator\)\n$", error);
        Assert.True(List.TryGet("bob@example.net", out var entry));
        Assert.Equal("first", entry.Reason);

        Assert.Equal("tern: carol@example.org is not on the suppression list\n", await Fails(ExitCodes.Failure, "suppression", "remove", "carol@example.org"));

        // Bad addresses never reach the server.
        Assert.Contains("\"carol\" is not an address: expected local-part@domain", await Fails(ExitCodes.Usage, "suppression", "add", "carol"), StringComparison.Ordinal);
        Assert.Contains("contains white space", await Fails(ExitCodes.Usage, "suppression", "add", "carol @example.org"), StringComparison.Ordinal);
        Assert.Contains("contains a control character", await Fails(ExitCodes.Usage, "suppression", "add", "carol\n@example.org"), StringComparison.Ordinal);
        Assert.Contains("at most 254 are allowed", await Fails(ExitCodes.Usage, "suppression", "add", new string('a', 250) + "@example.org"), StringComparison.Ordinal);
        Assert.Contains("expected local-part@domain", await Fails(ExitCodes.Usage, "suppression", "remove", "carol"), StringComparison.Ordinal);
        Assert.Contains("--limit: expected 1 to 100000, got 0", await Fails(ExitCodes.Usage, "suppression", "list", "--limit", "0"), StringComparison.Ordinal);
        Assert.Equal(1, List.Count);
    }

    [Fact]
    public async Task Remove_accepts_a_quoted_local_part_with_a_space()
    {
        // A delivery may record such an address; the operator must be able to take it off.
        Assert.NotNull(List.RecordPermanentFailure("\"john doe\"@example.org", "550 5.1.1 unknown"));
        Assert.Contains("\"john doe\"@example.org", await Ok("suppression", "list"), StringComparison.Ordinal);
        Assert.Equal("\"john doe\"@example.org removed from the suppression list\n", await Ok("suppression", "remove", "\"john doe\"@example.org"));
        Assert.Equal(0, List.Count);
    }

    [Fact]
    public async Task The_protocol_checks_what_the_command_line_checks()
    {
        var r = await Raw("""{"op":"suppression-add","address":"a b@example.org"}""");
        Assert.False(r.Ok);
        Assert.Equal("suppression-add: \"a b@example.org\" is not an address: it contains white space", r.Error);

        r = await Raw("""{"op":"suppression-add"}""");
        Assert.Equal("suppression-add: address is missing", r.Error);
        r = await Raw("""{"op":"suppression-remove","address":""}""");
        Assert.Equal("suppression-remove: the address is empty", r.Error);
        r = await Raw("""{"op":"suppression-list","limit":100001}""");
        Assert.Equal("limit: expected 1 to 100000, got 100001", r.Error);
        r = await Raw("""{"op":"suppression-list","contain":"x"}""");
        Assert.False(r.Ok);
        Assert.StartsWith("malformed request: ", r.Error, StringComparison.Ordinal);

        r = await Raw("""{"op":"suppression-add","address":"dave@example.org","reason":"line one\nline two"}""");
        Assert.True(r.Ok);
        Assert.Equal("dave@example.org", r.Suppression!.Address);
        Assert.Equal("operator", r.Suppression.Source);
        Assert.Equal("line one\nline two", r.Suppression.Reason);

        r = await Raw("""{"op":"suppression-list","contains":"DAVE"}""");
        Assert.True(r.Ok);
        Assert.Equal(1, r.Total);
        Assert.Null(r.Next);
        Assert.Equal("dave@example.org", Assert.Single(r.Suppressions!).Address);

        r = await Raw("""{"op":"suppression-remove","address":"Dave@Example.org"}""");
        Assert.True(r.Ok);
        r = await Raw("""{"op":"suppression-list"}""");
        Assert.Equal(0, r.Total);
        Assert.Empty(r.Suppressions!);
    }

    [Fact]
    public async Task A_server_without_a_suppression_list_refuses_clearly()
    {
        await RestartServerWithoutSuppressionAsync();

        Assert.Equal("tern: suppression-list: this server has no suppression list\n", await Fails(ExitCodes.Failure, "suppression", "list"));
        Assert.Equal("tern: suppression-add: this server has no suppression list\n", await Fails(ExitCodes.Failure, "suppression", "add", "a@example.org"));
        Assert.Equal("tern: suppression-remove: this server has no suppression list\n", await Fails(ExitCodes.Failure, "suppression", "remove", "a@example.org"));

        // The queue is still served.
        Assert.StartsWith("delivery: running", await Ok("queue", "status"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task No_server_exits_69()
    {
        await Server.DisposeAsync();
        var error = await Fails(ExitCodes.Unavailable, "suppression", "list");
        Assert.Equal($"tern is not running (no control socket at {SocketPath})\n", error);
        await Fails(ExitCodes.Unavailable, "suppression", "add", "a@example.org");
        await Fails(ExitCodes.Unavailable, "suppression", "remove", "a@example.org");
    }
}
