using Tern.Spool;
using Tern.Spool.Queue;
using Tern.Suppression;

namespace Tern.Control;

/// <summary>A request the server refuses (malformed, or an argument out of range); the message says why.</summary>
internal sealed class ControlRequestException(string message) : Exception(message);

/// <summary>Conversions between the queue model and the wire types of the control protocol.</summary>
internal static class ControlMapping
{
    /// <summary>Durations beyond this are typing mistakes, and would overflow date arithmetic.</summary>
    private static readonly TimeSpan MaxDuration = TimeSpan.FromDays(36_500);

    /// <summary>
    /// Parses a message id in its canonical 26-character form (either case). Stricter than
    /// <see cref="MessageId.TryParse"/>: a first digit above 7 would overflow 128 bits and name
    /// another message, so the text must survive the round trip.
    /// </summary>
    public static bool TryParseId(string? text, out MessageId id)
    {
        id = default;
        return text is not null
            && MessageId.TryParse(text, out id)
            && string.Equals(id.ToString(), text, StringComparison.OrdinalIgnoreCase);
    }

    /// <exception cref="ControlRequestException">A field is malformed or out of range.</exception>
    public static QueueFilter ToQueueFilter(ControlFilter? filter)
    {
        filter ??= new ControlFilter();
        List<MessageId>? ids = null;
        if (filter.Ids is { } texts)
        {
            ids = new List<MessageId>(texts.Count);
            foreach (var text in texts)
            {
                ids.Add(TryParseId(text, out var id) ? id : throw new ControlRequestException($"not a message id: {Shorten(text)}"));
            }
        }

        MessageId? after = null;
        if (filter.After is { } afterText)
        {
            after = TryParseId(afterText, out var a) ? a : throw new ControlRequestException($"after: not a message id: {Shorten(afterText)}");
        }

        var limit = filter.Limit ?? 100;
        if (limit is < 1 or > ControlLimits.MaxLimit)
        {
            throw new ControlRequestException($"limit: expected 1 to {ControlLimits.MaxLimit}, got {limit}");
        }

        return new QueueFilter
        {
            Ids = ids,
            Sender = NotEmpty(filter.Sender, "sender", "use <> for the null sender"),
            RecipientDomain = NotEmpty(filter.RecipientDomain, "recipient_domain", null),
            Account = NotEmpty(filter.Account, "account", null),
            Held = filter.Held,
            OlderThan = Duration(filter.OlderThanSeconds, "older_than_seconds", allowNegative: false),
            NewerThan = Duration(filter.NewerThanSeconds, "newer_than_seconds", allowNegative: false),
            NextAttemptBefore = filter.DueBefore,
            NextAttemptAfter = filter.DueAfter,
            Transport = filter.Transport,
            All = filter.All,
            Limit = limit,
            After = after,
        };
    }

    /// <summary>Seconds to a duration; null stays null.</summary>
    /// <exception cref="ControlRequestException">Not finite, negative where that makes no sense, or absurdly long.</exception>
    public static TimeSpan? Duration(double? seconds, string field, bool allowNegative)
    {
        if (seconds is not { } s)
        {
            return null;
        }

        if (!double.IsFinite(s) || Math.Abs(s) > MaxDuration.TotalSeconds)
        {
            throw new ControlRequestException($"{field}: expected a number of seconds up to {MaxDuration.TotalSeconds:0}, got {s}");
        }

        if (s < 0 && !allowNegative)
        {
            throw new ControlRequestException($"{field}: must not be negative, got {s}");
        }

        return TimeSpan.FromSeconds(s);
    }

    /// <summary>A message's retry limit as requested; 0 restores the configured limit.</summary>
    /// <exception cref="ControlRequestException">Missing or out of range.</exception>
    public static int MaxRetries(int? value) => value switch
    {
        null => throw new ControlRequestException($"{ControlOps.SetMaxRetries}: max_retries is missing (0 to {ControlLimits.MaxRetries}; 0 restores the configured limit)"),
        < 0 or > ControlLimits.MaxRetries => throw new ControlRequestException($"max_retries: expected 0 to {ControlLimits.MaxRetries} (0 restores the configured limit), got {value}"),
        { } n => n,
    };

    public static bool TryParseRequireTls(string? text, out RequireTlsPolicy policy)
    {
        (var ok, policy) = text switch
        {
            "yes" => (true, RequireTlsPolicy.Yes),
            "no" => (true, RequireTlsPolicy.No),
            "default" => (true, RequireTlsPolicy.Default),
            _ => (false, RequireTlsPolicy.Default),
        };
        return ok;
    }

    public static string Name(RequireTlsPolicy policy) => policy switch
    {
        RequireTlsPolicy.Yes => "yes",
        RequireTlsPolicy.No => "no",
        RequireTlsPolicy.Default => "default",
        _ => ((byte)policy).ToString(),
    };

    public static string Name(MessageState state) => state switch
    {
        MessageState.Queued => "queued",
        MessageState.Retired => "retired",
        _ => ((byte)state).ToString(),
    };

    public static string Name(RecipientStatus status) => status switch
    {
        RecipientStatus.Pending => "pending",
        RecipientStatus.Deferred => "deferred",
        RecipientStatus.Delivered => "delivered",
        RecipientStatus.Failed => "failed",
        RecipientStatus.Dropped => "dropped",
        _ => ((byte)status).ToString(),
    };

    /// <summary>NOTIFY as in the RCPT parameter (RFC 3461): "NEVER", or a list of SUCCESS, FAILURE, DELAY.</summary>
    public static string Name(StoredNotify notify)
    {
        if (notify.HasFlag(StoredNotify.Never))
        {
            return "NEVER";
        }

        var parts = new List<string>(3);
        if (notify.HasFlag(StoredNotify.Success))
        {
            parts.Add("SUCCESS");
        }

        if (notify.HasFlag(StoredNotify.Failure))
        {
            parts.Add("FAILURE");
        }

        if (notify.HasFlag(StoredNotify.Delay))
        {
            parts.Add("DELAY");
        }

        return string.Join(',', parts);
    }

    public static ControlEntry ToEntry(QueueEntry e) => new()
    {
        Id = e.Id.ToString(),
        State = Name(e.State),
        Held = e.Held,
        HoldReason = e.HoldReason,
        Received = e.Received.ToUniversalTime(),
        Size = e.BodyLength,
        LogAddress = e.Address,
        Attempts = e.Attempts,
        NextAttempt = e.NextAttempt.ToUniversalTime(),
        Finished = e.Finished?.ToUniversalTime(),
        Transport = e.Transport,
        RequireTlsPolicy = Name(e.RequireTlsPolicy),
        RequiresTls = e.RequiresTls,
        MaxRetries = e.MaxRetries == 0 ? null : e.MaxRetries,
        Envelope = new ControlEnvelope
        {
            Sender = e.Envelope.Sender,
            EnvelopeId = e.Envelope.EnvelopeId,
            Account = e.Envelope.AuthenticatedUser,
            Client = e.Envelope.Client,
            Listener = e.Envelope.Listener,
            SmtpUtf8 = e.Envelope.SmtpUtf8,
            RequireTls = e.Envelope.RequireTls,
            EightBit = e.Envelope.EightBit,
            Tls = e.Envelope.Tls,
            Body = e.Envelope.BodyType switch
            {
                0 => string.Empty,
                1 => "7BIT",
                2 => "8BITMIME",
                3 => "BINARYMIME",
                var other => other.ToString(),
            },
            Ret = e.Envelope.Ret switch
            {
                0 => string.Empty,
                1 => "FULL",
                2 => "HDRS",
                var other => other.ToString(),
            },
        },
        Recipients = [.. e.Recipients.Select(r => new ControlRecipient
        {
            Address = r.Address,
            Notify = Name(r.Notify),
            OriginalRecipient = r.OriginalRecipient,
            Status = Name(r.Status),
            LastAttempt = r.LastAttempt?.ToUniversalTime(),
            LastReply = r.LastReply,
        })],
    };

    public static string Name(SuppressionSource source) => source switch
    {
        SuppressionSource.Bounce => "bounce",
        SuppressionSource.RepeatedFailures => "repeated-failures",
        SuppressionSource.Operator => "operator",
        _ => ((byte)source).ToString(),
    };

    public static ControlSuppression ToSuppression(SuppressionEntry entry) => new()
    {
        Address = entry.Address,
        Reason = entry.Reason,
        Since = entry.Since.ToUniversalTime(),
        Source = Name(entry.Source),
    };

    public static ControlDomainTls ToDomain(Tern.Delivery.DomainTlsRecord record) => new()
    {
        Domain = record.Domain,
        LastDelivery = record.LastDelivery.ToUniversalTime(),
        StartTls = record.StartTls,
        Verified = record.Verified,
        RequireTls = record.RequireTls,
        AutoRequireTls = record.TakesRequireTls,
    };

    public static ControlHoldRule ToRule(HoldRule rule) => new()
    {
        Id = rule.Id,
        SenderDomain = rule.SenderDomain,
        RecipientDomain = rule.RecipientDomain,
        Account = rule.Account,
    };

    /// <summary>For messages: a value echoed back is cut short, so a megabyte of garbage does not come back whole.</summary>
    public static string Shorten(string? text) => text is null ? "(null)" : text.Length <= 64 ? text : string.Concat(text.AsSpan(0, 64), "...");

    private static string? NotEmpty(string? value, string field, string? hint)
    {
        if (value is { Length: 0 })
        {
            throw new ControlRequestException($"{field}: must not be empty{(hint is null ? "" : "; " + hint)}");
        }

        return value;
    }
}
