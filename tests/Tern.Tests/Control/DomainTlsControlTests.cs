using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Tern.Cli;
using Tern.Control;
using Tern.Delivery;
using Tern.Observability.Metrics;

namespace Tern.Tests.Control;

/// <summary>
/// <c>tern queue domains</c> against a real control server serving a real domain TLS history on a
/// temporary unix socket, driven through the command line as an operator types it.
/// </summary>
public sealed class DomainTlsControlTests() : ControlFixture("tern-domains-control-")
{
    /// <summary>Replaces the fixture's server with one that serves a history holding these observations (the test disposes it).</summary>
    private async Task<DomainTlsHistory> ServeHistoryAsync(params (string Domain, bool StartTls, bool Verified, bool RequireTls, DateTimeOffset When)[] observed)
    {
        var history = DomainTlsHistory.Open(DomainTlsHistory.PathIn(DataDir));
        foreach (var o in observed)
        {
            history.Observed(o.Domain, o.StartTls, o.Verified, o.RequireTls, o.When);
        }

        await Server.DisposeAsync();
        Server = new ControlServer(SocketPath, Spool.Queue, NullLoggerFactory.Instance, NullMetrics.Instance, domainTls: history);
        Server.Start();
        return history;
    }

    /// <summary>The domains in the first column of a table (header and footer left out).</summary>
    private static string[] Domains(string table) =>
        [.. table.Split('\n').Skip(1).Select(l => l.Split(' ')[0]).Where(w => w.Contains('.', StringComparison.Ordinal))];

    [Fact]
    public async Task Domains_are_listed_with_their_flags_and_time_as_a_table_and_as_json()
    {
        var now = DateTimeOffset.UtcNow;
        using var history = await ServeHistoryAsync(
            ("secure.example", true, true, true, now.AddHours(-2)),
            ("Plain.Example", false, false, false, now.AddMinutes(-5)),
            ("tls.example", true, false, false, now.AddDays(-1)));

        var table = await Ok("queue", "domains");
        var lines = table.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Matches(@"^DOMAIN\s+LAST-DELIVERY\s+AGO\s+STARTTLS\s+VERIFIED\s+REQUIRETLS\s+AUTO$", lines[0]);
        Assert.Matches(@"^plain\.example\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+5m\s+no\s+no\s+no\s+no$", lines[1]);
        Assert.Matches(@"^secure\.example\s+\S+Z\s+2h\s+yes\s+yes\s+yes\s+yes$", lines[2]);
        Assert.Matches(@"^tls\.example\s+\S+Z\s+1d\s+yes\s+no\s+no\s+no$", lines[3]);
        Assert.Equal("3 of 3 domains", lines[4]);
        Assert.Equal(5, lines.Length);

        var json = JsonDocument.Parse(await Ok("queue", "domains", "--json")).RootElement;
        Assert.True(json.GetProperty("ok").GetBoolean());
        Assert.Equal(3, json.GetProperty("total").GetInt32());
        var secure = json.GetProperty("domains")[1];
        Assert.Equal("secure.example", secure.GetProperty("domain").GetString());
        Assert.Equal(now.AddHours(-2).ToUniversalTime(), secure.GetProperty("last_delivery").GetDateTimeOffset());
        Assert.True(secure.GetProperty("starttls").GetBoolean());
        Assert.True(secure.GetProperty("verified").GetBoolean());
        Assert.True(secure.GetProperty("requiretls").GetBoolean());
        Assert.True(secure.GetProperty("auto_requiretls").GetBoolean());
        Assert.False(json.GetProperty("domains")[2].GetProperty("auto_requiretls").GetBoolean());
    }

    [Fact]
    public async Task Domains_page_filter_and_print_the_next_command()
    {
        var now = DateTimeOffset.UtcNow;
        using var history = await ServeHistoryAsync([.. new[] { "e.example.net", "a.example.org", "c.example.net", "b.example.org", "d.example.org" }.Select(d => (d, true, false, false, now))]);

        var first = await Ok("queue", "domains", "--limit", "2");
        Assert.Equal(["a.example.org", "b.example.org"], Domains(first));
        Assert.Contains("2 of 5 domains\n", first, StringComparison.Ordinal);
        var next = first.Split('\n').Single(l => l.StartsWith("next page: ", StringComparison.Ordinal));
        Assert.Equal($"next page: tern queue domains --config {ConfigPath} --limit 2 --after b.example.org", next);
        Assert.Equal(["c.example.net", "d.example.org"], Domains(await OkAsPrinted(next["next page: ".Length..])));

        var filtered = await Ok("queue", "domains", "--contains", ".NET");
        Assert.Equal(["c.example.net", "e.example.net"], Domains(filtered));
        Assert.EndsWith("2 of 2 domains\n", filtered, StringComparison.Ordinal);
        Assert.Equal("0 of 0 domains\n", await Ok("queue", "domains", "--contains", "nothing"));

        Assert.Contains("--limit: expected 1 to", await Fails(ExitCodes.Usage, "queue", "domains", "--limit", "0"), StringComparison.Ordinal);
        var refused = await Raw("{\"op\":\"domains\",\"limit\":100001}");
        Assert.Equal((false, ControlErrorCodes.BadRequest), (refused.Ok, refused.Code));
    }

    [Fact]
    public async Task A_server_without_a_history_refuses_as_unavailable()
    {
        var refused = await Raw("{\"op\":\"domains\"}");
        Assert.Equal((false, ControlErrorCodes.Unavailable), (refused.Ok, refused.Code));
        Assert.Contains("keeps no domain TLS history", refused.Error, StringComparison.Ordinal);
        Assert.Contains("keeps no domain TLS history", await Fails(ExitCodes.Failure, "queue", "domains"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_empty_history_prints_only_the_count()
    {
        using var history = await ServeHistoryAsync();
        Assert.Equal("0 of 0 domains\n", await Ok("queue", "domains"));
    }
}
