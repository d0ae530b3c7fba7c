namespace Tern.Spool.Queue;

/// <summary>The queue operations on a spool: selection by filter, then one durable change per message.</summary>
internal sealed class QueueOperations(Spool spool) : IQueueOperations
{
    /// <summary>How much of a body <see cref="ShowAsync"/> searches for the end of the header section.</summary>
    private const int MaxHeaderBytes = 256 * 1024;

    public IReadOnlyList<HoldRule> HoldRules => spool.Rules.Rules;

    public bool Paused => spool.Rules.Paused;

    /// <summary>
    /// Not while the log is failing: the applier then waits for the reopened log, and a listing of what is
    /// indexed is what the operator needs meanwhile (nothing is answered 250 until the log is reopened, and
    /// what the last good commit held but the applier had not taken in yet shows again after the reopen).
    /// </summary>
    public ValueTask CaughtUpAsync(CancellationToken cancel = default) => spool.Failing ? ValueTask.CompletedTask : spool.CaughtUpAsync(cancel);

    public QueuePage List(QueueFilter filter) => Page(filter, MessageState.Queued);

    public QueuePage History(QueueFilter filter) => Page(filter, MessageState.Retired);

    public async Task<QueueMessageDetail?> ShowAsync(MessageId id, CancellationToken cancel = default)
    {
        // The id may be of a message answered 250 a moment ago, not indexed yet.
        await CaughtUpAsync(cancel).ConfigureAwait(false);
        if (spool.ReadEntry(id) is not { } entry)
        {
            return null;
        }

        var headers = string.Empty;
        try
        {
            if (entry.State == MessageState.Queued && await spool.ReadAsync(id, cancel).ConfigureAwait(false) is { } stored)
            {
                headers = HeaderSection(stored.Body);
            }
        }
        catch (Exception e) when (e is IOException or SpoolException or FASTER.core.FasterException)
        {
            headers = $"(the body could not be read: {e.Message})";
        }

        return new QueueMessageDetail(entry, headers);
    }

    public async Task<QueueMessageContent?> ReadMessageAsync(MessageId id, CancellationToken cancel = default)
    {
        await CaughtUpAsync(cancel).ConfigureAwait(false);
        if (spool.ReadEntry(id) is not { } entry)
        {
            return null;
        }

        // A queued message pins the log from its first record; a retired one does not, and the
        // next checkpoint may truncate the log past its body.
        if (Truncated(entry))
        {
            return new QueueMessageContent(entry, null);
        }

        try
        {
            return new QueueMessageContent(entry, (await spool.ReadAsync(id, cancel).ConfigureAwait(false))?.Body);
        }
        catch (SpoolException) when (Truncated(entry))
        {
            // Truncated while it was being read (a body chunk was gone).
            return new QueueMessageContent(entry, null);
        }
        catch (Exception e) when (e is SpoolException or FASTER.core.FasterException)
        {
            throw new IOException($"message {id}: the body could not be read from the spool: {e.Message}", e);
        }

        bool Truncated(QueueEntry e) => e.State == MessageState.Retired && e.FirstAddress < spool.LogBeginAddress;
    }

    public Task<int> HoldAsync(QueueFilter selection, CancellationToken cancel = default) =>
        ChangeAsync(selection, e => e.Held ? null : e with { Held = true, HoldReason = "operator" }, cancel);

    public Task<int> ReleaseAsync(QueueFilter selection, CancellationToken cancel = default) =>
        ChangeAsync(selection, e => e.Held ? e with { Held = false, HoldReason = string.Empty } : null, cancel);

    public Task<int> RetryAsync(QueueFilter selection, TimeSpan? shift = null, CancellationToken cancel = default)
    {
        var now = spool.Clock.GetUtcNow();
        return ChangeAsync(selection, e => e with { NextAttempt = shift is { } by ? e.NextAttempt + by : now }, cancel);
    }

    public Task<int> SetTransportAsync(QueueFilter selection, string transport, CancellationToken cancel = default)
    {
        if (transport.Length > 255 || transport.Any(c => char.IsControl(c) || char.IsWhiteSpace(c)))
        {
            throw new QueueOperationException($"transport name \"{transport}\" is not valid (no spaces or control characters, at most 255)");
        }

        return ChangeAsync(selection, e => e.Transport == transport ? null : e with { Transport = transport }, cancel);
    }

    public Task<int> SetRequireTlsAsync(QueueFilter selection, RequireTlsPolicy policy, CancellationToken cancel = default)
    {
        if (!Enum.IsDefined(policy))
        {
            throw new QueueOperationException($"unknown REQUIRETLS policy {(int)policy}");
        }

        return ChangeAsync(selection, e => e.RequireTlsPolicy == policy ? null : e with { RequireTlsPolicy = policy }, cancel);
    }

    /// <summary>The highest per-message retry limit an operator may set.</summary>
    public const int MaxRetriesLimit = 100;

    public Task<int> SetMaxRetriesAsync(QueueFilter selection, int maxRetries, CancellationToken cancel = default)
    {
        if (maxRetries is < 0 or > MaxRetriesLimit)
        {
            throw new QueueOperationException($"max retries {maxRetries} is out of range (0 to {MaxRetriesLimit}; 0 means the global default)");
        }

        return ChangeAsync(selection, e => e.MaxRetries == maxRetries ? null : e with { MaxRetries = maxRetries }, cancel);
    }

    /// <summary>
    /// Fails the open recipients and queues the failure notice (DSN) to the sender where NOTIFY asks
    /// for one. Messages are done in batches: a batch's bodies are read before they are retired (a
    /// retired body no longer holds the log back), then the notices are committed.
    /// </summary>
    public async Task<int> FailAsync(QueueFilter selection, string reason, CancellationToken cancel = default)
    {
        var text = string.IsNullOrWhiteSpace(reason) ? "failed by the operator" : reason.Trim();
        var now = spool.Clock.GetUtcNow();
        var ids = SelectForChange(selection);
        var total = 0;
        var queuedNotice = false;
        foreach (var batch in ids.Chunk(100))
        {
            var bodies = new Dictionary<MessageId, (QueueEntry Before, byte[] Body)>();
            foreach (var id in batch)
            {
                if (spool.ReadEntry(id) is { State: MessageState.Queued } entry && FailureNotices.Wanted(entry, entry.Recipients.Where(r => r.Status is RecipientStatus.Pending or RecipientStatus.Deferred)))
                {
                    bodies[id] = (entry, await ReadBodyAsync(id, cancel).ConfigureAwait(false));
                }
            }

            var retired = new List<(QueueEntry Before, QueueEntry After)>();
            total += await spool.ChangeAsync(batch, e =>
            {
                if (!Matches(e, selection, now) || Retire(e, RecipientStatus.Failed, text, now) is not { } after)
                {
                    return null;
                }

                retired.Add((e, after));
                return after;
            }, cancel).ConfigureAwait(false);

            foreach (var (before, after) in retired)
            {
                if (bodies.TryGetValue(after.Id, out var original))
                {
                    if (!await FailureNotices.QueueAsync(spool, after, FailureNotices.NewlyFailed(before, after), original.Body, cancel).ConfigureAwait(false))
                    {
                        throw new IOException($"message {after.Id} failed, but its failure notice could not be stored (spool failing)");
                    }

                    queuedNotice = true;
                }
            }
        }

        // A notice is durable once queued and indexed by the applier a moment later; the operator who
        // lists the queue after `queue fail` expects to see it, as with every other queue operation.
        if (queuedNotice)
        {
            await spool.CaughtUpAsync(cancel).ConfigureAwait(false);
        }

        return total;
    }

    public Task<int> DropAsync(QueueFilter selection, CancellationToken cancel = default)
    {
        var now = spool.Clock.GetUtcNow();
        return ChangeAsync(selection, e => Retire(e, RecipientStatus.Dropped, "dropped by the operator", now), cancel);
    }

    public async Task<(HoldRule Rule, int Held)> AddHoldRuleAsync(HoldRule rule, CancellationToken cancel = default)
    {
        CheckDomain(rule.SenderDomain, "sender domain");
        CheckDomain(rule.RecipientDomain, "recipient domain");
        HoldRule added;
        await spool.RulesLock.WaitAsync(cancel).ConfigureAwait(false);
        try
        {
            var current = spool.Rules;
            added = rule with { Id = current.NextId, SenderDomain = rule.SenderDomain.ToLowerInvariant(), RecipientDomain = rule.RecipientDomain.ToLowerInvariant() };
            await spool.SetRulesAsync(new HoldRuleSet(current.Paused, current.NextId + 1, [.. current.Rules, added]), cancel).ConfigureAwait(false);
        }
        finally
        {
            spool.RulesLock.Release();
        }

        // Messages already queued that the rule matches are held as well.
        var ids = Select(new QueueFilter { All = true }, MessageState.Queued).Where(e => !e.Held && HoldRuleSet.Matches(added, e)).Select(e => e.Id).ToList();
        var reason = $"hold rule {added.Id}";
        var held = await spool.ChangeAsync(ids, e => e.Held ? null : e with { Held = true, HoldReason = reason }, cancel).ConfigureAwait(false);
        return (added, held);
    }

    public async Task<bool> RemoveHoldRuleAsync(long id, CancellationToken cancel = default)
    {
        await spool.RulesLock.WaitAsync(cancel).ConfigureAwait(false);
        try
        {
            var current = spool.Rules;
            if (!current.Rules.Any(r => r.Id == id))
            {
                return false;
            }

            await spool.SetRulesAsync(new HoldRuleSet(current.Paused, current.NextId, [.. current.Rules.Where(r => r.Id != id)]), cancel).ConfigureAwait(false);
            return true;
        }
        finally
        {
            spool.RulesLock.Release();
        }
    }

    public async Task SetPausedAsync(bool paused, CancellationToken cancel = default)
    {
        await spool.RulesLock.WaitAsync(cancel).ConfigureAwait(false);
        try
        {
            var current = spool.Rules;
            if (current.Paused != paused)
            {
                await spool.SetRulesAsync(new HoldRuleSet(paused, current.NextId, current.Rules), cancel).ConfigureAwait(false);
            }
        }
        finally
        {
            spool.RulesLock.Release();
        }
    }

    /// <summary>Whether an entry matches every criterion of a filter.</summary>
    internal static bool Matches(QueueEntry e, QueueFilter f, DateTimeOffset now)
    {
        if (f.Sender is { } sender && !SenderMatches(e, sender))
        {
            return false;
        }

        if (f.RecipientDomain is { } domain && !e.Recipients.Any(r => HoldRuleSet.DomainMatches(domain, r.Domain)))
        {
            return false;
        }

        return (f.Account is null || string.Equals(f.Account, e.Envelope.AuthenticatedUser, StringComparison.Ordinal))
            && (f.Held is null || f.Held == e.Held)
            && (f.OlderThan is null || now - e.Received >= f.OlderThan)
            && (f.NewerThan is null || now - e.Received <= f.NewerThan)
            && (f.NextAttemptBefore is null || e.NextAttempt < f.NextAttemptBefore)
            && (f.NextAttemptAfter is null || e.NextAttempt > f.NextAttemptAfter)
            && (f.Transport is null || string.Equals(f.Transport, e.Transport, StringComparison.Ordinal));
    }

    private static bool SenderMatches(QueueEntry e, string sender)
    {
        if (sender is "<>" or "")
        {
            return e.Envelope.Sender.Length == 0;
        }

        return sender.StartsWith('@')
            ? string.Equals(e.SenderDomain, sender[1..], StringComparison.OrdinalIgnoreCase)
            : string.Equals(e.Envelope.Sender, sender, StringComparison.OrdinalIgnoreCase);
    }

    private static QueueEntry? Retire(QueueEntry e, RecipientStatus status, string reason, DateTimeOffset now)
    {
        var recipients = e.Recipients
            .Select(r => r.Status is RecipientStatus.Pending or RecipientStatus.Deferred ? r with { Status = status, LastAttempt = now, LastReply = reason } : r)
            .ToArray();
        return e with { State = MessageState.Retired, Finished = now, Held = false, Recipients = recipients };
    }

    private static void CheckDomain(string domain, string what)
    {
        if (domain.Contains('@') || domain.Any(c => char.IsControl(c) || char.IsWhiteSpace(c)) || domain.Length > 255)
        {
            throw new QueueOperationException($"{what} \"{domain}\" is not a domain (write example.com, or .example.com for its subdomains too)");
        }
    }

    private Task<int> ChangeAsync(QueueFilter selection, Func<QueueEntry, QueueEntry?> change, CancellationToken cancel)
    {
        var now = spool.Clock.GetUtcNow();
        var ids = SelectForChange(selection);

        // The filter is checked again on the fresh entry, under the message's lock.
        return spool.ChangeAsync(ids, e => Matches(e, selection, now) ? change(e) : null, cancel);
    }

    private List<MessageId> SelectForChange(QueueFilter selection)
    {
        if (selection.IsEmpty && !selection.All)
        {
            throw new QueueOperationException("no messages selected: give message ids, a filter, or all");
        }

        return Select(selection, MessageState.Queued).Select(e => e.Id).ToList();
    }

    private QueuePage Page(QueueFilter filter, MessageState state)
    {
        if (filter.Limit <= 0)
        {
            throw new QueueOperationException("the page size must be at least 1");
        }

        var all = Select(filter, state);
        all.Sort((a, b) => a.Id.High != b.Id.High ? a.Id.High.CompareTo(b.Id.High) : a.Id.Low.CompareTo(b.Id.Low));
        var start = 0;
        if (filter.After is { } after)
        {
            while (start < all.Count && !IsAfter(all[start].Id, after))
            {
                start++;
            }
        }

        var page = all.Skip(start).Take(filter.Limit).ToList();
        var more = start + page.Count < all.Count;
        return new QueuePage(page, all.Count, more ? page[^1].Id : null);
    }

    private static bool IsAfter(MessageId a, MessageId b) => a.High > b.High || (a.High == b.High && a.Low > b.Low);

    private List<QueueEntry> Select(QueueFilter filter, MessageState state)
    {
        var now = spool.Clock.GetUtcNow();
        var found = new List<QueueEntry>();
        if (filter.Ids is { } ids)
        {
            foreach (var id in ids.Distinct())
            {
                if (spool.ReadEntry(id) is { } e && e.State == state && Matches(e, filter, now))
                {
                    found.Add(e);
                }
            }

            return found;
        }

        spool.Index.ForEach((id, value) =>
        {
            if (QueueEntryFormat.State(value) == state && QueueEntryFormat.Read(id, value) is var e && Matches(e, filter, now))
            {
                found.Add(e);
            }
        });
        return found;
    }

    /// <summary>The body for a failure notice; a body that cannot be read leaves the notice without it (never the failure undone).</summary>
    private async Task<byte[]> ReadBodyAsync(MessageId id, CancellationToken cancel)
    {
        try
        {
            return (await spool.ReadAsync(id, cancel).ConfigureAwait(false))?.Body ?? [];
        }
        catch (Exception e) when (e is IOException or SpoolException or FASTER.core.FasterException)
        {
            return [];
        }
    }

    private static string HeaderSection(byte[] body)
    {
        var span = body.AsSpan(0, Math.Min(body.Length, MaxHeaderBytes));
        var end = span.IndexOf("\r\n\r\n"u8);
        return System.Text.Encoding.UTF8.GetString(end >= 0 ? span[..(end + 2)] : span);
    }
}
