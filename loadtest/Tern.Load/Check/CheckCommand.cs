using System.CommandLine;
using System.Text.Json;

namespace Tern.Load.Check;

/// <summary>
/// <c>tern-load check --sent FILE --received FILE</c>: the loss check of a run, sender's
/// acknowledgements against the sink's receipts. Exit 1 when anything acknowledged was lost or
/// arrived with another body digest (and, with <c>--fail-on-duplicates</c>, when anything arrived twice).
/// </summary>
internal static class CheckCommand
{
    public static Command Build(TextWriter stdout, TextWriter stderr)
    {
        var sent = new Option<string>("--sent") { Description = "The sender's ids file (send --ids): id<TAB>reply[<TAB>digest] per acknowledged message.", Required = true };
        var received = new Option<string>("--received") { Description = "The sink's ids file (sink --ids): id[<TAB>digest] per accepted message.", Required = true };
        var json = new Option<string?>("--json") { Description = "Also write the result as JSON to this file." };
        var failOnDuplicates = new Option<bool>("--fail-on-duplicates") { Description = "Exit 1 when a message was received more than once." };
        var command = new Command("check", "Compare the ids a sender had acknowledged with the ids the sink received: lost, corrupted, duplicated, unexpected.")
        {
            sent, received, json, failOnDuplicates,
        };

        command.SetAction(async (result, cancel) =>
        {
            var sentPath = result.GetValue(sent)!;
            var receivedPath = result.GetValue(received)!;
            foreach (var path in new[] { sentPath, receivedPath })
            {
                if (!File.Exists(path))
                {
                    await stderr.WriteLineAsync($"tern-load: no such file: {path}");
                    return 2;
                }
            }

            CheckResult outcome;
            try
            {
                outcome = await Task.Run(() => LossCheck.Run(sentPath, receivedPath), cancel);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                await stderr.WriteLineAsync($"tern-load: cannot read the ids files: {e.Message}");
                return 2;
            }

            await stdout.WriteAsync(Format(outcome));
            var jsonPath = result.GetValue(json);
            if (jsonPath is not null)
            {
                await File.WriteAllTextAsync(jsonPath, JsonSerializer.Serialize(outcome, CheckJsonContext.Default.CheckResult) + "\n", cancel);
            }

            return outcome.Lost > 0 || outcome.Corrupted > 0 || (result.GetValue(failOnDuplicates) && outcome.DuplicatedIds > 0) ? 1 : 0;
        });
        return command;
    }

    /// <summary>The text report: counts, then up to 20 ids of each problem.</summary>
    internal static string Format(CheckResult r)
    {
        var text = new System.Text.StringBuilder();
        text.AppendLine($"sent (acked):  {r.Sent}" + (r.SentDuplicateLines > 0 ? $"  ({r.SentDuplicateLines} repeated lines in the sent file)" : string.Empty));
        text.AppendLine($"received:      {r.Received}" + (r.ReceivedWithoutId > 0 ? $"  ({r.ReceivedWithoutId} without Message-ID, not matched)" : string.Empty));
        text.AppendLine($"lost:          {r.Lost}" + (r.Lost > 0 ? "  (acknowledged, never received)" : string.Empty));
        List(text, r.LostIds, r.Lost);
        text.AppendLine($"corrupted:     {r.Corrupted}" + (r.Corrupted > 0 ? "  (received with another body digest)" : string.Empty)
            + (r.DigestsChecked < r.Sent ? $"  ({r.Sent - r.DigestsChecked} acked without a digest, not checked)" : string.Empty));
        List(text, r.CorruptedIds, r.Corrupted);
        text.AppendLine($"duplicated:    {r.DuplicatedIds}" + (r.DuplicatedIds > 0 ? $"  ({r.DuplicateCopies} extra copies)" : string.Empty));
        List(text, r.Duplicated, r.DuplicatedIds);
        text.AppendLine($"unexpected:    {r.Unexpected}" + (r.Unexpected > 0 ? "  (received, never acknowledged: in flight or faulted after receipt; not an error)" : string.Empty));
        text.AppendLine(r.Lost == 0 && r.Corrupted == 0 ? "result: no loss" : r.Lost == 0 ? "result: CORRUPTION" : r.Corrupted == 0 ? "result: LOSS" : "result: LOSS, CORRUPTION");
        return text.ToString();

        static void List(System.Text.StringBuilder text, IReadOnlyList<string> ids, long total)
        {
            foreach (var id in ids)
            {
                text.AppendLine("  " + id);
            }

            if (total > ids.Count)
            {
                text.AppendLine($"  ... and {total - ids.Count} more");
            }
        }
    }
}
