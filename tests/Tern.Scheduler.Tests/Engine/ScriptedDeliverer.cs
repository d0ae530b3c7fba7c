using System.Collections.Concurrent;
using System.Net;
using Tern.Delivery;
using Tern.Smtp.Client;
using Tern.Smtp.Protocol;

namespace Tern.Scheduler.Tests.Engine;

/// <summary>
/// Stands in for the deliverer (the real one is tested against real servers in Tern.Delivery.Tests and
/// end to end): answers each batch as the test scripts it, records every call, and counts the batches
/// in flight per destination. Destinations: "direct|mx.DOMAIN" unless <see cref="SharedMx"/> maps the
/// domain to another MX (MX rollup).
/// </summary>
internal sealed class ScriptedDeliverer : IBatchDeliverer
{
    private readonly ConcurrentDictionary<string, int> _inFlight = new();
    private readonly ConcurrentDictionary<string, int> _maxInFlight = new();

    public ConcurrentQueue<DeliveryBatch> Calls { get; } = new();

    /// <summary>Batches named as next and then discarded instead of delivered.</summary>
    public ConcurrentQueue<DeliveryBatch> Discarded { get; } = new();

    public Dictionary<string, string> SharedMx { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The answer to a batch; default: every recipient delivered.</summary>
    public Func<DeliveryBatch, Task<BatchResult>> Answer { get; set; } = b => Task.FromResult(All(b, SmtpOutcome.Delivered, 250, "2.0.0", "ok"));

    public int MaxInFlight(string mx) => _maxInFlight.GetValueOrDefault("direct|" + mx);

    public int CallsTo(string domain) => Calls.Count(c => c.RecipientDomain == domain);

    /// <summary>Awaited by each routing the scheduler asks for (with the recipient domain), before the answer: a test holds a preparation there.</summary>
    public Func<string, Task>? BeforeRoute { get; set; }

    public async ValueTask<DeliveryDestination> DestinationAsync(RouteRequest request, CancellationToken cancel = default)
    {
        if (BeforeRoute is { } before)
        {
            await before(request.RecipientDomain).WaitAsync(cancel);
        }

        return Route(request.RecipientDomain);
    }

    private DeliveryDestination Route(string domain)
    {
        var mx = SharedMx.GetValueOrDefault(domain) ?? "mx." + domain;
        return new DeliveryDestination("direct|" + mx, "direct", [mx]);
    }

    public async Task<BatchResult> DeliverAsync(DeliveryBatch batch, CancellationToken cancel = default)
    {
        var key = Route(batch.RecipientDomain).Key;
        var now = _inFlight.AddOrUpdate(key, 1, (_, n) => n + 1);
        _maxInFlight.AddOrUpdate(key, now, (_, n) => Math.Max(n, now));
        Calls.Enqueue(batch);
        try
        {
            return await Answer(batch).WaitAsync(cancel);
        }
        finally
        {
            _inFlight.AddOrUpdate(key, 0, (_, n) => n - 1);
        }
    }

    public ValueTask DiscardAsync(DeliveryBatch batch)
    {
        Discarded.Enqueue(batch);
        return ValueTask.CompletedTask;
    }

    /// <summary>Every recipient of the batch gets the same reply, as from the remote server.</summary>
    public static BatchResult All(DeliveryBatch batch, SmtpOutcome outcome, int code, string enhanced, string text, SmtpFailureKind kind = SmtpFailureKind.Reply, bool dsnOffered = true)
    {
        Assert.True(EnhancedStatusCode.TryParse(enhanced, out var status));
        var reply = SmtpReply.Local(code, status, text);
        var results = batch.Message.Recipients.Select(r => new SmtpRecipientResult(r, outcome, SmtpStage.Rcpt, reply, kind)).ToList();
        var session = new SmtpSessionInfo { Esmtp = true, Extensions = new SmtpExtensions { Dsn = dsnOffered } };
        return new BatchResult(results, "direct", "mx." + batch.RecipientDomain, new IPEndPoint(IPAddress.Loopback, 25), kind == SmtpFailureKind.ConnectionLost ? null : session);
    }
}
