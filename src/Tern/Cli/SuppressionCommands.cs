using System.CommandLine;
using System.Globalization;
using Tern.Control;
using Tern.Suppression;

namespace Tern.Cli;

/// <summary>
/// <c>tern suppression ...</c>: the running server's suppression list (addresses mail is no longer
/// attempted to), through the control socket as <c>tern queue</c> does. Every change is durable in
/// <c>DATA/suppression.tsv</c> before the command prints its result.
/// </summary>
internal static class SuppressionCommands
{
    public static Command Build(TextWriter stdout, TextWriter stderr, Func<Option<FileInfo>> configOption)
    {
        var cli = new Cli(stdout, stderr, configOption);
        return new Command(
            "suppression",
            "The running server's suppression list: recipients that failed permanently (at once for unknown or refusing mailboxes, "
            + "else after 3 consecutive permanent failures) or that the operator added. Mail to them fails at once with a failure notice.")
        {
            cli.List(),
            cli.Add(),
            cli.Remove(),
        };
    }

    private sealed class Cli(TextWriter stdout, TextWriter stderr, Func<Option<FileInfo>> configOption)
    {
        public Command List()
        {
            var config = configOption();
            var contains = new Option<string>("--contains") { Description = "Only addresses containing this text (ASCII case ignored), e.g. @example.com." };
            var limit = new Option<int?>("--limit") { Description = $"At most this many addresses (1 to {ControlLimits.MaxLimit}; default 100)." };
            limit.Validators.Add(r =>
            {
                if (r.GetValueOrDefault<int?>() is { } n && n is < 1 or > ControlLimits.MaxLimit)
                {
                    r.AddError($"--limit: expected 1 to {ControlLimits.MaxLimit}, got {n}");
                }
            });
            var after = new Option<string>("--after") { Description = "Start after this address (the cursor the previous page printed)." };
            var json = new Option<bool>("--json") { Description = "Print the server's JSON response as it came." };
            var command = new Command("list", "List suppressed addresses in address order, one page at a time: since when, why, and what suppressed them.")
            {
                config, contains, limit, after, json,
            };
            command.SetAction(async (r, cancel) =>
            {
                var request = new ControlRequest
                {
                    Op = ControlOps.SuppressionList,
                    Contains = r.GetValue(contains),
                    Limit = r.GetValue(limit),
                    After = r.GetValue(after),
                };
                return await ControlCommand.CallAsync(stdout, stderr, r, config, request, r.GetValue(json), response =>
                {
                    var entries = response.Suppressions ?? [];
                    if (entries.Count > 0)
                    {
                        ControlCommand.WriteTable(stdout, ["ADDRESS", "SINCE", "SOURCE", "REASON"], entries.Select(e => new[]
                        {
                            e.Address, e.Since.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture), e.Source, OneLine(e.Reason),
                        }));
                    }

                    var total = response.Total ?? entries.Count;
                    stdout.WriteLine($"{entries.Count} of {total} suppressed address{(total == 1 ? "" : "es")}");
                    if (response.Next is { } next)
                    {
                        var again = new List<string> { "tern", "suppression", "list" };
                        again.AddRange(ControlCommand.Tokens(r, config));
                        again.AddRange(ControlCommand.Tokens(r, contains));
                        again.AddRange(ControlCommand.Tokens(r, limit));
                        again.Add("--after");
                        again.Add(next);
                        stdout.WriteLine("next page: " + string.Join(' ', again.Select(ControlCommand.Quote)));
                    }
                }, cancel);
            });
            return command;
        }

        public Command Add()
        {
            var config = configOption();
            var address = AddressArgument("The address to suppress.", allowSpaces: false);
            var reason = new Option<string>("--reason") { Description = "Why; senders read it in the failure notice (default: suppressed by the operator)." };
            var command = new Command("add", "Suppress an address: mail to it fails at once with a failure notice.") { config, address, reason };
            command.SetAction(async (r, cancel) =>
            {
                var request = new ControlRequest { Op = ControlOps.SuppressionAdd, Address = r.GetValue(address), Reason = r.GetValue(reason) };
                return await ControlCommand.CallAsync(stdout, stderr, r, config, request, false, response =>
                    stdout.WriteLine($"{response.Suppression?.Address ?? r.GetValue(address)} suppressed"), cancel);
            });
            return command;
        }

        public Command Remove()
        {
            var config = configOption();
            var address = AddressArgument("The address to take off the list (ASCII case ignored).", allowSpaces: true);
            var command = new Command("remove", "Take an address off the suppression list (and forget its failures): mail to it is attempted again.") { config, address };
            command.SetAction(async (r, cancel) =>
            {
                var request = new ControlRequest { Op = ControlOps.SuppressionRemove, Address = r.GetValue(address) };
                return await ControlCommand.CallAsync(stdout, stderr, r, config, request, false, response =>
                    stdout.WriteLine($"{response.Suppression?.Address ?? r.GetValue(address)} removed from the suppression list"), cancel);
            });
            return command;
        }
    }

    /// <summary>
    /// An address argument, checked before any connection (<see cref="SuppressionList.CheckAddress"/>).
    /// Removing allows white space: the list may hold an address with a quoted local part
    /// ("john doe"@example.com) recorded by a delivery.
    /// </summary>
    private static Argument<string> AddressArgument(string description, bool allowSpaces)
    {
        var argument = new Argument<string>("address") { Description = description };
        argument.Validators.Add(r =>
        {
            foreach (var token in r.Tokens)
            {
                if (SuppressionList.CheckAddress(token.Value, allowSpaces) is { } problem)
                {
                    r.AddError(problem);
                }
            }
        });
        return argument;
    }

    /// <summary>A reason on one table row: the lines of a multi-line reply joined with " / ".</summary>
    private static string OneLine(string text) =>
        string.Join(" / ", text.Split('\n').Select(l => l.Trim('\r', ' ', '\t')).Where(l => l.Length > 0));
}
