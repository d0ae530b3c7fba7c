using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Tern.Control;

namespace Tern.Cli;

/// <summary>
/// <c>tern queue ...</c>: the running server's queue, through its control socket
/// (<c>DATA/control.sock</c>, found from <c>--config</c> as the account commands find their file).
/// Every change goes through the server, which makes it durable before it answers.
/// </summary>
internal static class QueueCommands
{
    public static Command Build(TextWriter stdout, TextWriter stderr, Func<Option<FileInfo>> configOption, TimeProvider? clock = null)
    {
        var cli = new Cli(stdout, stderr, configOption, clock ?? TimeProvider.System);
        var queue = new Command("queue", "Inspect and operate the running server's queue (through the control socket DATA/control.sock).");
        queue.Subcommands.Add(cli.Listing(ControlOps.List, "list", "List queued messages, oldest first, one page at a time."));
        queue.Subcommands.Add(cli.Listing(ControlOps.History, "history", "List retired messages (delivered, failed, dropped) still kept in the history."));
        queue.Subcommands.Add(cli.Show());
        queue.Subcommands.Add(QueueCatCommand.Build(stdout, stderr, configOption));
        queue.Subcommands.Add(cli.Change(ControlOps.Hold, "hold", "Hold messages: they are not delivered until released.", "held"));
        queue.Subcommands.Add(cli.Change(ControlOps.Release, "release", "Release held messages.", "released"));
        queue.Subcommands.Add(cli.Retry());
        queue.Subcommands.Add(cli.Fail());
        queue.Subcommands.Add(cli.Change(ControlOps.Drop, "drop", "Remove messages without any notice to the sender.", "dropped"));
        queue.Subcommands.Add(new Command("set", "Set a property of queued messages.") { cli.SetTransport(), cli.SetRequireTls(), cli.SetMaxRetries() });
        queue.Subcommands.Add(new Command("holdrule", "Rules that hold matching messages when they arrive.") { cli.HoldRuleList(), cli.HoldRuleAdd(), cli.HoldRuleRemove() });
        queue.Subcommands.Add(cli.Simple(ControlOps.Pause, "pause", "Pause delivery: no delivery starts until resumed (survives restarts)."));
        queue.Subcommands.Add(cli.Simple(ControlOps.Resume, "resume", "Resume delivery after a pause."));
        queue.Subcommands.Add(cli.Status());
        queue.Subcommands.Add(cli.Domains());
        return queue;
    }

    private sealed class Cli(TextWriter stdout, TextWriter stderr, Func<Option<FileInfo>> configOption, TimeProvider clock)
    {
        public Command Listing(string op, string name, string description)
        {
            var config = configOption();
            var filters = new FilterOptions(clock);
            var limit = new Option<int?>("--limit") { Description = $"At most this many messages (1 to {ControlLimits.MaxLimit}; default 100)." };
            var after = IdOption("--after", "Start after this message id (the cursor the previous page printed).");
            var json = JsonOption();
            var command = new Command(name, description) { config, limit, after, json };
            filters.AddTo(command);
            command.SetAction(async (r, cancel) =>
            {
                if (filters.Conflict(r) is { } conflict)
                {
                    return Usage(name, conflict);
                }

                var request = new ControlRequest { Op = op, Filter = filters.Read(r, null, false, r.GetValue(limit), r.GetValue(after)) };
                return await CallAsync(r, config, request, r.GetValue(json), response => PrintListing(r, name, op, config, filters, limit, response), cancel);
            });
            return command;
        }

        /// <summary>A page as a table, the count, and the command that fetches the next page.</summary>
        private void PrintListing(ParseResult r, string name, string op, Option<FileInfo> config, FilterOptions filters, Option<int?> limit, ControlResponse response)
        {
            var now = clock.GetUtcNow();
            var entries = response.Entries ?? [];

            // Nothing matched: only the footer (a header over nothing reads like a broken listing).
            if (entries.Count > 0 && op == ControlOps.List)
            {
                WriteTable(["ID", "AGE", "SIZE", "ATT", "NEXT", "HELD", "SENDER", "RCPT", "RECIPIENTS"], entries.Select(e => new[]
                {
                    e.Id, Durations.Format(now - e.Received), Size(e.Size), e.Attempts.ToString(CultureInfo.InvariantCulture),
                    e.NextAttempt <= now ? "now" : "+" + Durations.Format(e.NextAttempt - now), e.Held ? "held" : "-",
                    Sender(e.Envelope.Sender), e.Recipients.Count.ToString(CultureInfo.InvariantCulture), Recipients(e.Recipients),
                }));
            }
            else if (entries.Count > 0)
            {
                WriteTable(["ID", "AGE", "FINISHED", "SIZE", "ATT", "SENDER", "RCPT", "RECIPIENTS"], entries.Select(e => new[]
                {
                    e.Id, Durations.Format(now - e.Received), e.Finished is { } f ? Durations.Format(now - f) + " ago" : "-", Size(e.Size),
                    e.Attempts.ToString(CultureInfo.InvariantCulture), Sender(e.Envelope.Sender),
                    e.Recipients.Count.ToString(CultureInfo.InvariantCulture), Recipients(e.Recipients),
                }));
            }

            var total = response.Total ?? entries.Count;
            stdout.WriteLine($"{entries.Count} of {total} message{(total == 1 ? "" : "s")}");
            if (response.Next is { } next)
            {
                var again = new List<string> { "tern", "queue", name };
                again.AddRange(Tokens(r, config));
                again.AddRange(filters.Tokens(r));
                again.AddRange(Tokens(r, limit));
                again.Add("--after");
                again.Add(next);
                stdout.WriteLine("next page: " + string.Join(' ', again.Select(Quote)));
            }
        }

        public Command Show()
        {
            var config = configOption();
            var id = new Argument<string>("id") { Description = "The message id (26 characters, as list prints it)." };
            id.Validators.Add(ValidateIds);
            var json = JsonOption();
            var command = new Command("show", "Show one message (queued or retired): envelope, state of every recipient with the full last reply, and its headers.") { config, id, json };
            command.SetAction(async (r, cancel) =>
            {
                var request = new ControlRequest { Op = ControlOps.Show, Id = r.GetValue(id) };
                return await CallAsync(
                    r,
                    config,
                    request,
                    r.GetValue(json),
                    response =>
                    {
                        if (response.Message is { } m)
                        {
                            WriteDetail(m, response.Headers ?? string.Empty);
                        }
                    },
                    cancel);
            });
            return command;
        }

        /// <summary>hold, release, drop: a selection and nothing else.</summary>
        public Command Change(string op, string name, string description, string done)
        {
            var selection = new SelectionOptions(configOption(), clock);
            var command = new Command(name, description + " Select with ids, filters, or --all.");
            selection.AddTo(command);
            command.SetAction(async (r, cancel) =>
                Select(selection, r, name, out var filter) is { } usage
                    ? usage
                    : await ChangeAsync(r, selection.Config, new ControlRequest { Op = op, Filter = filter }, count => $"{Messages(count)} {done}", cancel));
            return command;
        }

        public Command Retry()
        {
            var selection = new SelectionOptions(configOption(), clock);
            var shift = new Option<TimeSpan?>("--shift")
            {
                Description = "Move the next attempt by this much from its current time (30m, 2h, -30m); without it: attempt now.",
                CustomParser = r => ParseDuration(r, "--shift"),
            };
            var command = new Command("retry", "Schedule the next delivery attempt now (or shifted). Select with ids, filters, or --all.") { shift };
            selection.AddTo(command);
            command.SetAction(async (r, cancel) =>
            {
                if (Select(selection, r, "retry", out var filter) is { } usage)
                {
                    return usage;
                }

                var by = r.GetValue(shift);
                var request = new ControlRequest { Op = ControlOps.Retry, Filter = filter, ShiftSeconds = by?.TotalSeconds };
                return await ChangeAsync(r, selection.Config, request, count => by is { } s
                    ? $"{Messages(count)} rescheduled by {Durations.Format(s)}"
                    : $"{Messages(count)} scheduled for an attempt now", cancel);
            });
            return command;
        }

        public Command Fail()
        {
            var selection = new SelectionOptions(configOption(), clock);
            var reason = new Option<string>("--reason") { Description = "The reason the sender reads in the failure notice (default: failed by the operator)." };
            var command = new Command("fail", "Fail the remaining recipients; the sender gets a failure notice (DSN). Select with ids, filters, or --all.") { reason };
            selection.AddTo(command);
            command.SetAction(async (r, cancel) =>
                Select(selection, r, "fail", out var filter) is { } usage
                    ? usage
                    : await ChangeAsync(r, selection.Config, new ControlRequest { Op = ControlOps.Fail, Filter = filter, Reason = r.GetValue(reason) }, count => $"{Messages(count)} failed", cancel));
            return command;
        }

        public Command SetTransport()
        {
            var selection = new SelectionOptions(configOption(), clock);
            var transport = new Argument<string>("name")
            {
                Description = "The transport to use instead of the routes (\"\" clears it; with --clear leave it out).",
                Arity = ArgumentArity.ZeroOrOne,
            };
            var clear = new Option<bool>("--clear") { Description = "Clear the transport: the routes decide again." };
            var command = new Command("transport", "Set the transport of messages (overrides routes). Select with ids, filters, or --all.") { clear };
            command.Arguments.Add(transport);
            selection.AddTo(command);
            command.SetAction(async (r, cancel) =>
            {
                var name = r.GetValue(transport);
                var cleared = r.GetValue(clear);
                var ids = new List<string>();
                if (cleared && name is not null)
                {
                    // With --clear there is no name: the first word is already an id.
                    if (!ControlMapping.TryParseId(name, out _))
                    {
                        return Usage("set transport", $"--clear takes no transport name, and \"{name}\" is not a message id");
                    }

                    ids.Add(name);
                    name = string.Empty;
                }

                if (!cleared && name is { Length: > 0 } && ControlMapping.TryParseId(name, out _))
                {
                    return Usage("set transport", $"\"{name}\" is a message id, but the transport name comes first: tern queue set transport NAME ID...");
                }

                if (name is null)
                {
                    if (!cleared)
                    {
                        return Usage("set transport", "give a transport name, \"\" or --clear");
                    }

                    name = string.Empty;
                }

                if (Select(selection, r, "set transport", out var filter, ids) is { } usage)
                {
                    return usage;
                }

                var request = new ControlRequest { Op = ControlOps.SetTransport, Filter = filter, Transport = name };
                return await ChangeAsync(r, selection.Config, request, count => name.Length == 0
                    ? $"transport cleared on {Messages(count)}"
                    : $"transport {name} set on {Messages(count)}", cancel);
            });
            return command;
        }

        public Command SetRequireTls()
        {
            var policy = new Argument<string>("policy") { Description = "yes: require verified TLS on every hop; no: do not; default: as the client asked (MAIL FROM ... REQUIRETLS)." };
            policy.AcceptOnlyFromAmong("yes", "no", "default");
            return SetValue(
                "requiretls",
                "Override the REQUIRETLS policy of messages (RFC 8689).",
                policy,
                (filter, value) => new ControlRequest { Op = ControlOps.SetRequireTls, Filter = filter, RequireTls = value },
                (value, count) => $"REQUIRETLS policy {value} set on {Messages(count)}");
        }

        public Command SetMaxRetries()
        {
            var retries = new Argument<int>("n")
            {
                Description = $"Retries before the open recipients fail (0 to {ControlLimits.MaxRetries}); 0: the configured delivery.max_retries again.",
                CustomParser = ParseMaxRetries,
            };
            return SetValue(
                "max-retries",
                "Set how many retries messages get before their open recipients fail (instead of delivery.max_retries).",
                retries,
                (filter, n) => new ControlRequest { Op = ControlOps.SetMaxRetries, Filter = filter, MaxRetries = n },
                (n, count) => n == 0
                    ? $"max retries cleared on {Messages(count)} (delivery.max_retries applies)"
                    : $"max retries {n} set on {Messages(count)}");
        }

        /// <summary><c>set NAME VALUE</c> and a selection: the value comes first, then ids, filters or --all.</summary>
        private Command SetValue<T>(string name, string description, Argument<T> value, Func<ControlFilter, T, ControlRequest> request, Func<T, int, string> describe)
        {
            var selection = new SelectionOptions(configOption(), clock);
            var command = new Command(name, description + " Select with ids, filters, or --all.");
            command.Arguments.Add(value);
            selection.AddTo(command);
            command.SetAction(async (r, cancel) =>
            {
                if (Select(selection, r, "set " + name, out var filter) is { } usage)
                {
                    return usage;
                }

                var v = r.GetValue(value)!;
                return await ChangeAsync(r, selection.Config, request(filter, v), count => describe(v, count), cancel);
            });
            return command;
        }

        public Command HoldRuleList()
        {
            var config = configOption();
            var json = JsonOption();
            var command = new Command("list", "List the hold rules.") { config, json };
            command.SetAction(async (r, cancel) => await CallAsync(r, config, new ControlRequest { Op = ControlOps.HoldRuleList }, r.GetValue(json), response =>
            {
                var rules = response.HoldRules ?? [];
                if (rules.Count == 0)
                {
                    stdout.WriteLine("no hold rules");
                    return;
                }

                WriteTable(["ID", "SENDER-DOMAIN", "RECIPIENT-DOMAIN", "ACCOUNT"], rules.Select(h => new[]
                {
                    h.Id.ToString(CultureInfo.InvariantCulture), Any(h.SenderDomain), Any(h.RecipientDomain), Any(h.Account),
                }));
            }, cancel));
            return command;
        }

        public Command HoldRuleAdd()
        {
            var config = configOption();
            var sender = new Option<string>("--sender-domain") { Description = "Mail from this domain (.example.org also matches subdomains)." };
            var recipient = new Option<string>("--recipient-domain") { Description = "Mail to a recipient in this domain (.example.org also matches subdomains)." };
            var account = new Option<string>("--account") { Description = "Mail submitted by this account." };
            var all = new Option<bool>("--all") { Description = "A rule without criteria: hold every new message (tern queue pause may be what you want)." };
            var command = new Command("add", "Add a hold rule; it also holds the queued messages it matches. Every given criterion must match.") { config, sender, recipient, account, all };
            command.SetAction(async (r, cancel) =>
            {
                var spec = new ControlRuleSpec
                {
                    SenderDomain = r.GetValue(sender)?.Trim() ?? string.Empty,
                    RecipientDomain = r.GetValue(recipient)?.Trim() ?? string.Empty,
                    Account = r.GetValue(account)?.Trim() ?? string.Empty,
                };
                if (spec.SenderDomain.Length == 0 && spec.RecipientDomain.Length == 0 && spec.Account.Length == 0 && !r.GetValue(all))
                {
                    return Usage("holdrule add", "give --sender-domain, --recipient-domain or --account (or --all for a rule that holds everything)");
                }

                return await CallAsync(r, config, new ControlRequest { Op = ControlOps.HoldRuleAdd, Rule = spec }, false, response =>
                    stdout.WriteLine($"hold rule {response.HoldRule?.Id} added; {Messages(response.Count ?? 0)} held"), cancel);
            });
            return command;
        }

        public Command HoldRuleRemove()
        {
            var config = configOption();
            var id = new Argument<long>("id") { Description = "The rule's id (as holdrule list prints it)." };
            var command = new Command("remove", "Remove a hold rule (messages it held stay held until released).") { config, id };
            command.SetAction(async (r, cancel) =>
                await CallAsync(r, config, new ControlRequest { Op = ControlOps.HoldRuleRemove, RuleId = r.GetValue(id) }, false, _ =>
                    stdout.WriteLine($"hold rule {r.GetValue(id)} removed"), cancel));
            return command;
        }

        /// <summary>pause, resume.</summary>
        public Command Simple(string op, string name, string description)
        {
            var config = configOption();
            var command = new Command(name, description) { config };
            command.SetAction(async (r, cancel) => await CallAsync(r, config, new ControlRequest { Op = op }, false, response =>
                stdout.WriteLine(response.Paused == true ? "delivery paused" : "delivery running"), cancel));
            return command;
        }

        public Command Status()
        {
            var config = configOption();
            var json = JsonOption();
            var command = new Command("status", "Whether delivery is paused, and how many messages are queued, held, due and retired.") { config, json };
            command.SetAction(async (r, cancel) => await CallAsync(r, config, new ControlRequest { Op = ControlOps.Status }, r.GetValue(json), response =>
            {
                var c = response.Counts ?? new ControlCounts();
                stdout.WriteLine($"delivery: {(response.Paused == true ? "paused" : "running")}");
                stdout.WriteLine($"queued:   {c.Queued} ({c.Held} held, {c.Due} due now)");
                stdout.WriteLine($"history:  {c.Retired} retired");
            }, cancel));
            return command;
        }

        /// <summary>The domain TLS history: what each recipient domain's server offered on the last delivery.</summary>
        public Command Domains()
        {
            var config = configOption();
            var contains = new Option<string>("--contains") { Description = "Only domains containing this text (ASCII case ignored), e.g. example.org." };
            var limit = new Option<int?>("--limit") { Description = $"At most this many domains (1 to {ControlLimits.MaxLimit}; default 100)." };
            limit.Validators.Add(v =>
            {
                if (v.GetValueOrDefault<int?>() is { } n && n is < 1 or > ControlLimits.MaxLimit)
                {
                    v.AddError($"--limit: expected 1 to {ControlLimits.MaxLimit}, got {n}");
                }
            });
            var after = new Option<string>("--after") { Description = "Start after this domain (the cursor the previous page printed)." };
            var json = JsonOption();
            var command = new Command(
                "domains",
                "List recipient domains in name order with what their server offered on the last delivery: STARTTLS, verified TLS (DANE, or PKIX under an enforced MTA-STS policy), "
                + "REQUIRETLS. AUTO: submissions to the domain get REQUIRETLS on listeners with requiretls = \"auto\".")
            {
                config, contains, limit, after, json,
            };
            command.SetAction(async (r, cancel) =>
            {
                var request = new ControlRequest { Op = ControlOps.Domains, Contains = r.GetValue(contains), Limit = r.GetValue(limit), After = r.GetValue(after) };
                return await CallAsync(r, config, request, r.GetValue(json), response =>
                {
                    var now = clock.GetUtcNow();
                    var domains = response.Domains ?? [];
                    if (domains.Count > 0)
                    {
                        WriteTable(["DOMAIN", "LAST-DELIVERY", "AGO", "STARTTLS", "VERIFIED", "REQUIRETLS", "AUTO"], domains.Select(d => new[]
                        {
                            d.Domain, Time(d.LastDelivery), Durations.Format(now > d.LastDelivery ? now - d.LastDelivery : TimeSpan.Zero),
                            YesNo(d.StartTls), YesNo(d.Verified), YesNo(d.RequireTls), YesNo(d.AutoRequireTls),
                        }));
                    }

                    var total = response.Total ?? domains.Count;
                    stdout.WriteLine($"{domains.Count} of {total} domain{(total == 1 ? "" : "s")}");
                    if (response.Next is { } next)
                    {
                        var again = new List<string> { "tern", "queue", "domains" };
                        again.AddRange(Tokens(r, config));
                        again.AddRange(Tokens(r, contains));
                        again.AddRange(Tokens(r, limit));
                        again.Add("--after");
                        again.Add(next);
                        stdout.WriteLine("next page: " + string.Join(' ', again.Select(Quote)));
                    }
                }, cancel);
            });
            return command;
        }

        private Task<int> ChangeAsync(ParseResult r, Option<FileInfo> config, ControlRequest request, Func<int, string> describe, CancellationToken cancel) =>
            CallAsync(r, config, request, false, response => stdout.WriteLine(describe(response.Count ?? 0)), cancel);

        /// <summary>Sends one request; prints its result (or the raw JSON) and maps failures to exit codes.</summary>
        private Task<int> CallAsync(ParseResult r, Option<FileInfo> configOption, ControlRequest request, bool json, Action<ControlResponse> print, CancellationToken cancel) =>
            ControlCommand.CallAsync(stdout, stderr, r, configOption, request, json, print, cancel);

        /// <summary>The selection, or the exit code of a usage error (reported).</summary>
        private int? Select(SelectionOptions selection, ParseResult r, string command, out ControlFilter filter, IReadOnlyList<string>? extraIds = null) =>
            selection.Read(r, out filter, extraIds) is { } problem ? Usage(command, problem) : null;

        private int Usage(string command, string message)
        {
            stderr.WriteLine($"tern queue {command}: {message}");
            stderr.WriteLine($"Run 'tern queue {command} --help' for usage.");
            return ExitCodes.Usage;
        }

        private void WriteDetail(ControlEntry m, string headers)
        {
            var now = clock.GetUtcNow();
            var e = m.Envelope;
            var lines = new List<(string, string)>
            {
                ("id", m.Id),
                ("state", m.State),
                ("received", When(m.Received, now)),
                ("size", $"{m.Size} bytes"),
                ("attempts", m.Attempts.ToString(CultureInfo.InvariantCulture)),
            };
            if (m.MaxRetries is { } maxRetries)
            {
                lines.Add(("max retries", $"{maxRetries} (set for this message, instead of delivery.max_retries)"));
            }

            if (m.Finished is { } finished)
            {
                lines.Add(("finished", When(finished, now)));
            }
            else
            {
                lines.Add(("next attempt", m.NextAttempt <= now ? $"{Time(m.NextAttempt)} (due now)" : When(m.NextAttempt, now)));
            }

            lines.Add(("held", m.Held ? $"yes ({(m.HoldReason.Length == 0 ? "no reason recorded" : m.HoldReason)})" : "no"));
            lines.Add(("transport", m.Transport.Length == 0 ? "(routes decide)" : m.Transport));
            // REQUIRETLS on the envelope: the client's MAIL FROM parameter, or a submission listener's "auto" choice.
            lines.Add(("requiretls", $"{(m.RequiresTls ? "required" : "not required")} (policy {m.RequireTlsPolicy}; {(e.RequireTls ? "REQUIRETLS on the envelope" : "no REQUIRETLS on the envelope")})"));
            lines.Add(("sender", Sender(e.Sender)));
            if (e.EnvelopeId.Length > 0)
            {
                lines.Add(("envelope id", e.EnvelopeId));
            }

            if (e.Account is { } account)
            {
                lines.Add(("account", account));
            }

            lines.Add(("client", $"{Dash(e.Client)} on listener {Dash(e.Listener)}{(e.Tls ? ", TLS" : ", no TLS")}"));
            var flags = new List<string>();
            if (e.SmtpUtf8)
            {
                flags.Add("SMTPUTF8");
            }

            if (e.EightBit)
            {
                flags.Add("8bit");
            }

            if (e.Body.Length > 0)
            {
                flags.Add("BODY=" + e.Body);
            }

            if (e.Ret.Length > 0)
            {
                flags.Add("RET=" + e.Ret);
            }

            if (e.RequireTls)
            {
                flags.Add("REQUIRETLS");
            }

            lines.Add(("flags", flags.Count == 0 ? "-" : string.Join(' ', flags)));

            var width = lines.Max(l => l.Item1.Length) + 2;
            foreach (var (key, value) in lines)
            {
                stdout.WriteLine((key + ":").PadRight(width) + value);
            }

            stdout.WriteLine($"recipients ({m.Recipients.Count}):");
            foreach (var rcpt in m.Recipients)
            {
                stdout.WriteLine($"  {rcpt.Address}  {rcpt.Status}{(rcpt.LastAttempt is { } at ? $"  last attempt {When(at, now)}" : "")}");
                var extras = new List<string>();
                if (rcpt.Notify.Length > 0)
                {
                    extras.Add("notify " + rcpt.Notify);
                }

                if (rcpt.OriginalRecipient.Length > 0)
                {
                    extras.Add("orcpt " + rcpt.OriginalRecipient);
                }

                if (extras.Count > 0)
                {
                    stdout.WriteLine("    " + string.Join(", ", extras));
                }

                foreach (var line in SplitLines(rcpt.LastReply))
                {
                    stdout.WriteLine("    | " + line);
                }
            }

            stdout.WriteLine();
            if (headers.Length == 0)
            {
                // The spool keeps only a summary of retired messages.
                stdout.WriteLine(m.State == "queued" ? "headers: (none)" : "headers: (not kept once a message is retired)");
                return;
            }

            stdout.WriteLine("headers:");
            foreach (var line in SplitLines(headers))
            {
                stdout.WriteLine(line);
            }
        }

        private void WriteTable(string[] header, IEnumerable<string[]> rows) => ControlCommand.WriteTable(stdout, header, rows);

        private static string When(DateTimeOffset t, DateTimeOffset now) =>
            t <= now ? $"{Time(t)} ({Durations.Format(now - t)} ago)" : $"{Time(t)} (in {Durations.Format(t - now)})";
    }

    /// <summary>The filter options, shared by listings and operations (each command gets its own instances).</summary>
    private sealed class FilterOptions(TimeProvider clock)
    {
        private readonly Option<string> _sender = new("--sender") { Description = "The sender: an address, @domain (any sender there), or '<>' (the null sender of bounces)." };
        private readonly Option<string> _recipientDomain = new("--recipient-domain") { Description = "Any recipient in this domain (.example.org also matches subdomains)." };
        private readonly Option<string> _account = new("--account") { Description = "Submitted by this account." };
        private readonly Option<bool> _held = new("--held") { Description = "Only held messages." };
        private readonly Option<bool> _notHeld = new("--not-held") { Description = "Only messages that are not held." };
        private readonly Option<TimeSpan?> _olderThan = DurationOption("--older-than", "Received at least this long ago (90s, 30m, 2h, 1d, 1h30m).");
        private readonly Option<TimeSpan?> _newerThan = DurationOption("--newer-than", "Received at most this long ago.");
        private readonly Option<DateTimeOffset?> _dueBefore = TimeOption("--due-before", "Next attempt due before: an ISO 8601 time (2026-11-28T19:00Z) or a duration from now (2h, -30m).", clock);
        private readonly Option<DateTimeOffset?> _dueAfter = TimeOption("--due-after", "Next attempt due after: an ISO 8601 time or a duration from now.", clock);
        private readonly Option<string> _transport = new("--transport") { Description = "The transport set with 'tern queue set transport' ('' for messages without one)." };

        private Option[] All => [_sender, _recipientDomain, _account, _held, _notHeld, _olderThan, _newerThan, _dueBefore, _dueAfter, _transport];

        public void AddTo(Command command)
        {
            foreach (var o in All)
            {
                command.Options.Add(o);
            }
        }

        /// <summary>Whether any criterion was given.</summary>
        public bool Any(ParseResult r) => All.Any(o => r.GetResult(o) is { Implicit: false });

        /// <summary>Options that exclude each other; null when fine.</summary>
        public string? Conflict(ParseResult r) =>
            r.GetValue(_held) && r.GetValue(_notHeld) ? "--held and --not-held exclude each other" : null;

        public ControlFilter Read(ParseResult r, IReadOnlyList<string>? ids, bool all, int? limit, string? after) => new()
        {
            Ids = ids,
            Sender = r.GetValue(_sender),
            RecipientDomain = r.GetValue(_recipientDomain),
            Account = r.GetValue(_account),
            Held = r.GetValue(_held) ? true : r.GetValue(_notHeld) ? false : null,
            OlderThanSeconds = r.GetValue(_olderThan)?.TotalSeconds,
            NewerThanSeconds = r.GetValue(_newerThan)?.TotalSeconds,
            DueBefore = r.GetValue(_dueBefore),
            DueAfter = r.GetValue(_dueAfter),
            Transport = r.GetValue(_transport),
            All = all,
            Limit = limit,
            After = after,
        };

        /// <summary>The given filter options as typed, to repeat them in the next-page command.</summary>
        public IEnumerable<string> Tokens(ParseResult r) => All.SelectMany(o => QueueCommands.Tokens(r, o));
    }

    /// <summary>What selects messages for an operation: ids, filters, --all.</summary>
    private sealed class SelectionOptions
    {
        private readonly Argument<string[]> _ids = new("ids") { Description = "Message ids (as list prints them).", Arity = ArgumentArity.ZeroOrMore };
        private readonly Option<bool> _all = new("--all") { Description = "Select every message (required when no ids and no filter are given)." };
        private readonly FilterOptions _filters;

        public SelectionOptions(Option<FileInfo> config, TimeProvider clock)
        {
            Config = config;
            _filters = new FilterOptions(clock);
            _ids.Validators.Add(ValidateIds);
        }

        public Option<FileInfo> Config { get; }

        public void AddTo(Command command)
        {
            command.Options.Add(Config);
            command.Arguments.Add(_ids);
            command.Options.Add(_all);
            _filters.AddTo(command);
        }

        /// <summary>The selection; null, or what is wrong with it.</summary>
        public string? Read(ParseResult r, out ControlFilter filter, IReadOnlyList<string>? extraIds = null)
        {
            var ids = (extraIds ?? []).Concat(r.GetValue(_ids) ?? []).ToList();
            var all = r.GetValue(_all);
            filter = _filters.Read(r, ids.Count > 0 ? ids : null, all, null, null);
            if (_filters.Conflict(r) is { } conflict)
            {
                return conflict;
            }

            // Never every message by accident: an empty selection must be asked for.
            return ids.Count == 0 && !all && !_filters.Any(r) ? "give message ids, a filter (see --help) or --all" : null;
        }
    }

    private static Option<bool> JsonOption() => new("--json") { Description = "Print the server's JSON response as it came." };

    private static Option<string> IdOption(string name, string description)
    {
        var option = new Option<string>(name) { Description = description };
        option.Validators.Add(r =>
        {
            foreach (var token in r.Tokens)
            {
                if (!ControlMapping.TryParseId(token.Value, out _))
                {
                    r.AddError($"{name}: not a message id: {ControlMapping.Shorten(token.Value)}");
                }
            }
        });
        return option;
    }

    internal static void ValidateIds(ArgumentResult r)
    {
        foreach (var token in r.Tokens)
        {
            if (!ControlMapping.TryParseId(token.Value, out _))
            {
                r.AddError($"not a message id: {ControlMapping.Shorten(token.Value)} (ids are 26 characters, as 'tern queue list' prints them)");
            }
        }
    }

    private static Option<TimeSpan?> DurationOption(string name, string description) => new(name)
    {
        Description = description,
        CustomParser = r => ParseDuration(r, name),
    };

    private static TimeSpan? ParseDuration(ArgumentResult r, string name)
    {
        var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : string.Empty;
        if (Durations.TryParse(text, out var value, out var error))
        {
            return value;
        }

        r.AddError($"{name}: {error}");
        return null;
    }

    /// <summary>The retry limit of <c>set max-retries</c>: a whole number from 0 to 100.</summary>
    private static int ParseMaxRetries(ArgumentResult r)
    {
        var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : string.Empty;
        if (int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) && n is >= 0 and <= ControlLimits.MaxRetries)
        {
            return n;
        }

        r.AddError(ControlMapping.TryParseId(text, out _)
            ? $"\"{text}\" is a message id, but the number of retries comes first: tern queue set max-retries N ID..."
            : $"max-retries: expected a whole number from 0 to {ControlLimits.MaxRetries} (0: the configured delivery.max_retries), got \"{ControlMapping.Shorten(text)}\"");
        return 0;
    }

    /// <summary>A point in time: ISO 8601 (UTC unless it says otherwise) or a signed duration from now.</summary>
    private static Option<DateTimeOffset?> TimeOption(string name, string description, TimeProvider clock) => new(name)
    {
        Description = description,
        CustomParser = r =>
        {
            var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : string.Empty;
            if (Durations.TryParseTime(text, clock.GetUtcNow(), out var time))
            {
                return time;
            }

            r.AddError($"{name}: expected an ISO 8601 time (2026-11-28T19:00:00Z) or a duration from now (2h, -30m), got \"{ControlMapping.Shorten(text)}\"");
            return null;
        },
    };

    private static IEnumerable<string> Tokens(ParseResult r, Option option) => ControlCommand.Tokens(r, option);

    private static string Quote(string word) => ControlCommand.Quote(word);

    private static string Messages(int n) => n == 1 ? "1 message" : $"{n} messages";

    private static string Sender(string sender) => sender.Length == 0 ? "<>" : sender;

    private static string Any(string value) => value.Length == 0 ? "*" : value;

    private static string Dash(string value) => value.Length == 0 ? "-" : value;

    private static string YesNo(bool value) => value ? "yes" : "no";

    private static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    /// <summary>The first recipient with its status, then how the others stand: "bob@example.net pending, +2: 1 deferred, 1 delivered".</summary>
    private static string Recipients(IReadOnlyList<ControlRecipient> recipients)
    {
        if (recipients.Count == 0)
        {
            return "-";
        }

        var first = $"{recipients[0].Address} {recipients[0].Status}";
        if (recipients.Count == 1)
        {
            return first;
        }

        var others = recipients.Skip(1).GroupBy(x => x.Status, StringComparer.Ordinal).Select(g => $"{g.Count()} {g.Key}");
        return $"{first}, +{recipients.Count - 1}: {string.Join(", ", others)}";
    }

    private static string Size(long bytes) => bytes switch
    {
        < 1024 => $"{bytes}B",
        < 10 * 1024 => (bytes / 1024.0).ToString("0.0", CultureInfo.InvariantCulture) + "K",
        < 1024 * 1024 => $"{bytes / 1024}K",
        < 10 * 1024 * 1024 => (bytes / (1024.0 * 1024)).ToString("0.0", CultureInfo.InvariantCulture) + "M",
        _ => $"{bytes / (1024 * 1024)}M",
    };

    private static IEnumerable<string> SplitLines(string text) =>
        text.Length == 0 ? [] : text.TrimEnd('\r', '\n').Split('\n').Select(l => l.TrimEnd('\r'));
}
