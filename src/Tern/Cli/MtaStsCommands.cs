using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Tern.Config;
using Tern.MtaSts;

namespace Tern.Cli;

/// <summary>
/// <c>tern mta-sts list</c>: the MTA-STS policies (RFC 8461) that direct delivery cached in
/// <c>DATA/mta-sts.json</c>. Reads the file (<see cref="MtaStsPolicies.ReadCache"/>), not the running
/// server, so it works whether or not the server runs.
/// </summary>
internal static class MtaStsCommands
{
    public static Command Build(TextWriter stdout, TextWriter stderr, Func<Option<FileInfo>> configOption)
    {
        var config = configOption();
        var json = new Option<bool>("--json") { Description = "Print the entries as JSON (times in UTC)." };
        var list = new Command(
            "list",
            $"List the cached MTA-STS policies by domain: mode, policy id, MX patterns, when fetched, when they expire, the last "
            + $"lookup, and the last failed fetch (no new fetch for {(int)MtaStsPolicies.FailureBackoff.TotalMinutes} minutes after one). "
            + $"Reads DATA/{MtaStsPolicies.CacheFileName}, whether or not the server runs; the running server writes it within "
            + "seconds of fetching a policy or failing to.")
        {
            config, json,
        };
        list.SetAction(r =>
        {
            var loaded = TernCommandLine.LoadOrReport(r.GetValue(config), stderr);
            return loaded is null ? ExitCodes.Config : List(loaded, r.GetValue(json), DateTimeOffset.UtcNow, stdout, stderr);
        });
        return new Command("mta-sts", "MTA-STS (RFC 8461): the policies of recipient domains that direct delivery looked up and applies.") { list };
    }

    private static int List(TernConfig config, bool json, DateTimeOffset now, TextWriter stdout, TextWriter stderr)
    {
        var path = Path.Combine(config.DataDirectory, MtaStsPolicies.CacheFileName);
        var exists = File.Exists(path);
        IReadOnlyList<MtaStsCacheEntry> entries;
        try
        {
            entries = MtaStsPolicies.ReadCache(config.DataDirectory);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            // The server replaces an unreadable cache with a fresh one (logged); nothing to list meanwhile.
            stderr.WriteLine($"tern: cannot read the MTA-STS cache: {e.Message}");
            return ExitCodes.Failure;
        }

        if (!config.Delivery.MtaSts)
        {
            stderr.WriteLine("tern: note: MTA-STS is off in the configuration ([delivery] mta_sts = false): these policies are not applied");
        }

        if (json)
        {
            var output = new MtaStsListOutput { File = path, Exists = exists, Enabled = config.Delivery.MtaSts, Entries = [.. entries.Select(e => Json(e, now))] };
            stdout.WriteLine(JsonSerializer.Serialize(output, MtaStsListJsonContext.Default.MtaStsListOutput));
            return ExitCodes.Ok;
        }

        if (entries.Count == 0)
        {
            stdout.WriteLine(exists
                ? $"no policies cached ({path} holds none)"
                : $"no policies cached ({path} does not exist: the server writes it once it has fetched a policy, or failed to)");
            return ExitCodes.Ok;
        }

        ControlCommand.WriteTable(stdout, ["DOMAIN", "MODE", "ID", "MX", "FETCHED", "EXPIRES", "LAST-USED", "LAST-FAILURE"], entries.Select(e => new[]
        {
            e.Domain,
            e.Policy is { } p ? MtaStsPolicy.ModeName(p.Mode) : "-",
            e.Policy?.Id ?? "-",
            e.Policy is { Mx.Count: > 0 } withMx ? string.Join(',', withMx.Mx) : "-",
            e.Fetched is { } fetched ? Time(fetched) : "-",
            e.Expires is { } expires ? Time(expires) + (expires <= now ? " (expired)" : "") : "-",
            Time(e.LastUsed),
            Failure(e, now),
        }));
        var policies = entries.Count(e => e.Policy is not null);
        var expired = entries.Count(e => e.Expires is { } x && x <= now);
        var failures = entries.Count(e => e.Policy is null);
        stdout.WriteLine(
            $"{policies} polic{(policies == 1 ? "y" : "ies")}{(expired > 0 ? $" ({expired} expired)" : "")}"
            + (failures > 0 ? $", {failures} domain{(failures == 1 ? "" : "s")} without a policy after a failed first fetch" : ""));
        return ExitCodes.Ok;
    }

    private static MtaStsListEntry Json(MtaStsCacheEntry e, DateTimeOffset now) => new()
    {
        Domain = e.Domain,
        Mode = e.Policy is { } p ? MtaStsPolicy.ModeName(p.Mode) : null,
        Id = e.Policy?.Id,
        Mx = e.Policy?.Mx,
        MaxAge = e.Policy?.MaxAgeSeconds,
        Fetched = e.Fetched,
        Expires = e.Expires,
        Expired = e.Expires is { } x ? x <= now : null,
        RefreshDue = e.RefreshDue,
        LastUsed = e.LastUsed,
        Failed = e.Failed,
        Error = e.Error,
        BackoffUntil = BackoffUntil(e, now),
    };

    /// <summary>"2026-03-01T12:00:00Z http status 404 (no fetch before 12:05:00Z)", or "-".</summary>
    private static string Failure(MtaStsCacheEntry e, DateTimeOffset now)
    {
        if (e.Failed is not { } failed)
        {
            return "-";
        }

        var text = Time(failed) + (e.Error is { } error ? " " + OneLine(error) : "");
        return BackoffUntil(e, now) is { } until ? $"{text} (no fetch before {Time(until)})" : text;
    }

    private static DateTimeOffset? BackoffUntil(MtaStsCacheEntry e, DateTimeOffset now) =>
        e.Failed is { } failed && failed + MtaStsPolicies.FailureBackoff > now ? failed + MtaStsPolicies.FailureBackoff : null;

    private static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    private static string OneLine(string text) =>
        string.Join(" / ", text.Split('\n').Select(l => l.Trim('\r', ' ', '\t')).Where(l => l.Length > 0));
}
