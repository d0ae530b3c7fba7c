using Microsoft.Extensions.Logging;
using Tern.Delivery;
using Tern.Observability.Metrics;
using Tern.Spool.Queue;
using Tern.Suppression;

namespace Tern.Control;

/// <summary>
/// The kinds of failure in <see cref="ControlResponse.Code"/>: stable words for programs (the HTTP
/// admin API maps them to status codes), next to the human <see cref="ControlResponse.Error"/>.
/// </summary>
internal static class ControlErrorCodes
{
    /// <summary>Malformed, misspelt or out of range; the same request will fail again.</summary>
    public const string BadRequest = "bad_request";

    /// <summary>The message, hold rule or suppressed address named does not exist.</summary>
    public const string NotFound = "not_found";

    /// <summary>The operation does not apply in the current state (the address is already suppressed).</summary>
    public const string Conflict = "conflict";

    /// <summary>Not possible now (shutting down, storage failing, no suppression list); may work later.</summary>
    public const string Unavailable = "unavailable";

    /// <summary>A bug, counted as a panic.</summary>
    public const string Internal = "internal_error";
}

/// <summary>An operation this server cannot do at all (it runs without the part it needs).</summary>
internal sealed class ControlUnavailableOperationException(string message) : Exception(message);

/// <summary>
/// Runs control requests against the queue and the suppression list: one code path for the control
/// socket (<c>tern queue</c>, <c>tern suppression</c>) and the HTTP admin API, each of which only
/// translates its transport to a <see cref="ControlRequest"/> and the <see cref="ControlResponse"/> back.
/// Every failure, from a bad argument to a bug, becomes an error response; changes are logged.
/// </summary>
internal sealed partial class ControlDispatcher
{
    private readonly IQueueOperations _queue;
    private readonly SuppressionList? _suppression;
    private readonly DomainTlsHistory? _domainTls;
    private readonly ILogger _log;
    private readonly ICounter _panics;
    private readonly TimeProvider _clock;

    /// <param name="suppression">The suppression list for the suppression-* operations; without one they are refused.</param>
    /// <param name="log">Where refusals and changes are logged (the component of the transport).</param>
    /// <param name="panics">Counts a bug in an operation (the component of the transport).</param>
    /// <param name="domainTls">The domain TLS history for the domains operation; without one it is refused.</param>
    public ControlDispatcher(IQueueOperations queue, SuppressionList? suppression, ILogger log, ICounter panics, TimeProvider? clock = null, DomainTlsHistory? domainTls = null)
    {
        _queue = queue;
        _suppression = suppression;
        _domainTls = domainTls;
        _log = log;
        _panics = panics;
        _clock = clock ?? TimeProvider.System;
    }

    /// <summary>
    /// Runs one request; any failure becomes an error response whose <see cref="ControlResponse.Code"/>
    /// says what kind of failure it was (the HTTP admin API turns it into a status code).
    /// </summary>
    public async Task<ControlResponse> HandleAsync(ControlRequest request, CancellationToken cancel)
    {
        try
        {
            return await DispatchAsync(request, cancel);
        }
        catch (Exception e) when (e is ControlRequestException or QueueOperationException)
        {
            RequestRefused(_log, $"{ControlMapping.Shorten(request.Op)}: {e.Message}");
            return Error(ControlErrorCodes.BadRequest, e.Message);
        }
        catch (ControlUnavailableOperationException e)
        {
            RequestRefused(_log, e.Message);
            return Error(ControlErrorCodes.Unavailable, e.Message);
        }
        catch (SuppressionStoreException e)
        {
            // The change is refused (or not durable) because the file cannot be written.
            SuppressionFailed(_log, ControlMapping.Shorten(request.Op), e.Message);
            return Error(ControlErrorCodes.Unavailable, e.Message);
        }
        catch (IOException e)
        {
            // The spool could not make a change durable (disk full or an I/O error): not a bug, and
            // it comes back by itself once the spool's log can be written again.
            StorageFailed(_log, ControlMapping.Shorten(request.Op), e.Message);
            return Error(ControlErrorCodes.Unavailable, $"{ControlMapping.Shorten(request.Op)}: not done or not durable: {e.Message}");
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            return Error(ControlErrorCodes.Unavailable, "the server is shutting down");
        }
        catch (Exception e)
        {
            // A bug in an operation must not take the server (or its socket or listener) down.
            _panics.Inc();
            OperationFailed(_log, e, ControlMapping.Shorten(request.Op));
            return Error(ControlErrorCodes.Internal, $"internal error in {ControlMapping.Shorten(request.Op)}: {e.Message}");
        }
    }

    private async Task<ControlResponse> DispatchAsync(ControlRequest request, CancellationToken cancel)
    {
        switch (request.Op)
        {
            case ControlOps.List:
            case ControlOps.History:
            {
                var filter = ControlMapping.ToQueueFilter(request.Filter);

                // Read your writes: a message answered 250 (or changed) before this request is listed.
                await _queue.CaughtUpAsync(cancel);
                var page = request.Op == ControlOps.List ? _queue.List(filter) : _queue.History(filter);
                return new ControlResponse
                {
                    Ok = true,
                    Entries = [.. page.Entries.Select(ControlMapping.ToEntry)],
                    Total = page.Total,
                    Next = page.Next?.ToString(),
                };
            }

            case ControlOps.Show:
            {
                if (!ControlMapping.TryParseId(request.Id, out var id))
                {
                    throw new ControlRequestException($"show: not a message id: {ControlMapping.Shorten(request.Id)}");
                }

                var detail = await _queue.ShowAsync(id, cancel);
                return detail is null
                    ? Error(ControlErrorCodes.NotFound, $"no message {id} in the queue or its history")
                    : new ControlResponse { Ok = true, Message = ControlMapping.ToEntry(detail.Entry), Headers = detail.Headers };
            }

            case ControlOps.Cat:
            {
                if (!ControlMapping.TryParseId(request.Id, out var id))
                {
                    throw new ControlRequestException($"cat: not a message id: {ControlMapping.Shorten(request.Id)}");
                }

                QueueMessageContent? content;
                try
                {
                    content = await _queue.ReadMessageAsync(id, cancel);
                }
                catch (IOException e)
                {
                    ReadFailed(_log, id.ToString(), e.Message);
                    return Error(ControlErrorCodes.Unavailable, e.Message);
                }

                return content switch
                {
                    null => Error(ControlErrorCodes.NotFound, $"no message {id} in the queue or its history"),
                    { Message: null } => Error(ControlErrorCodes.NotFound, $"message {id} is retired and its body is no longer in the spool (the log was truncated past it); its entry is still in the history"),
                    { Message: { } message } => new ControlResponse { Ok = true, Size = message.Length, Content = message },
                };
            }

            case ControlOps.Hold:
                return await ChangeAsync(request, (s, c) => _queue.HoldAsync(s, c), cancel);

            case ControlOps.Release:
                return await ChangeAsync(request, (s, c) => _queue.ReleaseAsync(s, c), cancel);

            case ControlOps.Drop:
                return await ChangeAsync(request, (s, c) => _queue.DropAsync(s, c), cancel);

            case ControlOps.Retry:
            {
                var shift = ControlMapping.Duration(request.ShiftSeconds, "shift_seconds", allowNegative: true);
                return await ChangeAsync(request, (s, c) => _queue.RetryAsync(s, shift, c), cancel);
            }

            case ControlOps.Fail:
                // Without a reason the queue supplies its own wording.
                return await ChangeAsync(request, (s, c) => _queue.FailAsync(s, request.Reason ?? string.Empty, c), cancel);

            case ControlOps.SetTransport:
            {
                var transport = request.Transport ?? throw new ControlRequestException("set-transport: transport is missing (\"\" clears it)");
                return await ChangeAsync(request, (s, c) => _queue.SetTransportAsync(s, transport, c), cancel);
            }

            case ControlOps.SetRequireTls:
            {
                if (!ControlMapping.TryParseRequireTls(request.RequireTls, out var policy))
                {
                    throw new ControlRequestException($"set-requiretls: expected yes, no or default, got {ControlMapping.Shorten(request.RequireTls)}");
                }

                return await ChangeAsync(request, (s, c) => _queue.SetRequireTlsAsync(s, policy, c), cancel);
            }

            case ControlOps.SetMaxRetries:
            {
                var max = ControlMapping.MaxRetries(request.MaxRetries);
                return await ChangeAsync(request, (s, c) => _queue.SetMaxRetriesAsync(s, max, c), cancel);
            }

            case ControlOps.HoldRuleList:
                return new ControlResponse { Ok = true, HoldRules = [.. _queue.HoldRules.Select(ControlMapping.ToRule)] };

            case ControlOps.HoldRuleAdd:
            {
                var spec = request.Rule ?? throw new ControlRequestException("holdrule-add: rule is missing");
                var (rule, held) = await _queue.AddHoldRuleAsync(
                    new HoldRule { SenderDomain = spec.SenderDomain.Trim(), RecipientDomain = spec.RecipientDomain.Trim(), Account = spec.Account.Trim() },
                    cancel);
                Changed(_log, request.Op, $"rule={rule.Id} sender_domain={rule.SenderDomain} recipient_domain={rule.RecipientDomain} account={rule.Account}", held);
                return new ControlResponse { Ok = true, HoldRule = ControlMapping.ToRule(rule), Count = held };
            }

            case ControlOps.HoldRuleRemove:
            {
                var id = request.RuleId ?? throw new ControlRequestException("holdrule-remove: rule_id is missing");
                if (!await _queue.RemoveHoldRuleAsync(id, cancel))
                {
                    return Error(ControlErrorCodes.NotFound, $"no hold rule {id}");
                }

                Changed(_log, request.Op, $"rule={id}", 0);
                return new ControlResponse { Ok = true };
            }

            case ControlOps.Pause:
            case ControlOps.Resume:
            {
                var paused = request.Op == ControlOps.Pause;
                await _queue.SetPausedAsync(paused, cancel);
                Changed(_log, request.Op, "", 0);
                return new ControlResponse { Ok = true, Paused = _queue.Paused };
            }

            case ControlOps.Status:
            {
                // Counting by listing one-entry pages: the total comes with every page.
                await _queue.CaughtUpAsync(cancel);
                var now = _clock.GetUtcNow();
                return new ControlResponse
                {
                    Ok = true,
                    Paused = _queue.Paused,
                    Counts = new ControlCounts
                    {
                        Queued = _queue.List(new QueueFilter { Limit = 1 }).Total,
                        Held = _queue.List(new QueueFilter { Held = true, Limit = 1 }).Total,
                        Due = _queue.List(new QueueFilter { Held = false, NextAttemptBefore = now, Limit = 1 }).Total,
                        Retired = _queue.History(new QueueFilter { Limit = 1 }).Total,
                    },
                };
            }

            case ControlOps.SuppressionList:
            {
                var list = Suppression(request.Op);
                var limit = request.Limit ?? 100;
                if (limit is < 1 or > ControlLimits.MaxLimit or > SuppressionList.MaxPageSize)
                {
                    throw new ControlRequestException($"limit: expected 1 to {Math.Min(ControlLimits.MaxLimit, SuppressionList.MaxPageSize)}, got {limit}");
                }

                var page = list.Page(request.Contains is { Length: > 0 } c ? c : null, limit, request.After is { Length: > 0 } a ? a : null);
                return new ControlResponse
                {
                    Ok = true,
                    Suppressions = [.. page.Entries.Select(ControlMapping.ToSuppression)],
                    Total = page.Total,
                    Next = page.Next,
                };
            }

            case ControlOps.SuppressionAdd:
            {
                var list = Suppression(request.Op);
                var address = request.Address ?? throw new ControlRequestException("suppression-add: address is missing");
                if (SuppressionList.CheckAddress(address) is { } problem)
                {
                    throw new ControlRequestException($"suppression-add: {problem}");
                }

                if (!list.Add(address, request.Reason ?? string.Empty))
                {
                    return Error(ControlErrorCodes.Conflict, list.TryGet(address, out var existing)
                        ? $"{existing.Address} is already suppressed (since {existing.Since.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}, {ControlMapping.Name(existing.Source)})"
                        : $"{address} is already suppressed");
                }

                SuppressionChanged(_log, request.Op, address);
                return new ControlResponse
                {
                    Ok = true,
                    Suppression = list.TryGet(address, out var entry) ? ControlMapping.ToSuppression(entry) : null,
                };
            }

            case ControlOps.SuppressionRemove:
            {
                var list = Suppression(request.Op);
                var address = request.Address ?? throw new ControlRequestException("suppression-remove: address is missing");
                if (address.Length == 0)
                {
                    throw new ControlRequestException("suppression-remove: the address is empty");
                }

                list.TryGet(address, out var was);
                if (!list.Remove(address))
                {
                    return Error(ControlErrorCodes.NotFound, $"{ControlMapping.Shorten(address)} is not on the suppression list");
                }

                SuppressionChanged(_log, request.Op, address);
                return new ControlResponse { Ok = true, Suppression = was is null ? null : ControlMapping.ToSuppression(was) };
            }

            case ControlOps.Domains:
            {
                var history = _domainTls ?? throw new ControlUnavailableOperationException($"{request.Op}: this server keeps no domain TLS history");
                var limit = request.Limit ?? 100;
                if (limit is < 1 or > ControlLimits.MaxLimit or > DomainTlsHistory.MaxPageSize)
                {
                    throw new ControlRequestException($"limit: expected 1 to {Math.Min(ControlLimits.MaxLimit, DomainTlsHistory.MaxPageSize)}, got {limit}");
                }

                var page = history.Page(request.Contains, limit, request.After);
                return new ControlResponse
                {
                    Ok = true,
                    Domains = [.. page.Entries.Select(ControlMapping.ToDomain)],
                    Total = page.Total,
                    Next = page.Next,
                };
            }

            default:
                throw new ControlRequestException($"unknown op {ControlMapping.Shorten(request.Op)}; expected one of {string.Join(", ", ControlOps.All)}");
        }
    }

    /// <summary>The suppression list, or a refusal when this server runs without one.</summary>
    private SuppressionList Suppression(string op) =>
        _suppression ?? throw new ControlUnavailableOperationException($"{op}: this server has no suppression list");

    /// <summary>An operation that changes messages: refuses an empty selection without "all", logs what changed.</summary>
    private async Task<ControlResponse> ChangeAsync(ControlRequest request, Func<QueueFilter, CancellationToken, Task<int>> operation, CancellationToken cancel)
    {
        var selection = ControlMapping.ToQueueFilter(request.Filter);
        if (selection.IsEmpty && !selection.All)
        {
            throw new ControlRequestException($"{request.Op}: no ids and no filter; set \"all\" to select every message");
        }

        var count = await operation(selection, cancel);
        Changed(_log, request.Op, Describe(selection), count);
        return new ControlResponse { Ok = true, Count = count };
    }

    /// <summary>The selection for the log line (ids counted, not listed).</summary>
    private static string Describe(QueueFilter f)
    {
        var parts = new List<string>();
        if (f.Ids is { } ids)
        {
            parts.Add(ids.Count == 1 ? $"id={ids[0]}" : $"ids={ids.Count}");
        }

        Add("sender", f.Sender);
        Add("recipient_domain", f.RecipientDomain);
        Add("account", f.Account);
        Add("held", f.Held switch { true => "true", false => "false", null => null });
        Add("older_than", f.OlderThan?.ToString());
        Add("newer_than", f.NewerThan?.ToString());
        Add("due_before", f.NextAttemptBefore?.ToString("O"));
        Add("due_after", f.NextAttemptAfter?.ToString("O"));
        Add("transport", f.Transport);
        if (f.All)
        {
            parts.Add("all");
        }

        return string.Join(' ', parts);

        void Add(string name, string? value)
        {
            if (value is not null)
            {
                parts.Add($"{name}={value}");
            }
        }
    }

    private static ControlResponse Error(string code, string message) => new() { Ok = false, Code = code, Error = message };

    [LoggerMessage(Level = LogLevel.Information, Message = "queue changed {op} {selection} {count}")]
    private static partial void Changed(ILogger log, string op, string selection, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "suppression list changed {op} {address}")]
    private static partial void SuppressionChanged(ILogger log, string op, string address);

    [LoggerMessage(Level = LogLevel.Error, Message = "suppression list not written {op} {error}")]
    private static partial void SuppressionFailed(ILogger log, string op, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "queue change failed in the spool {op} {error}")]
    private static partial void StorageFailed(ILogger log, string op, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "message not read from the spool {id} {error}")]
    private static partial void ReadFailed(ILogger log, string id, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "control request refused {reason}")]
    private static partial void RequestRefused(ILogger log, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "queue operation failed {op}")]
    private static partial void OperationFailed(ILogger log, Exception e, string op);
}
