using System.Collections.Concurrent;
using System.Net;
using Tern.Smtp.Client;

namespace Tern.Delivery;

/// <summary>
/// Open SMTP sessions waiting for the next batch to the same host through the same transport
/// (connection reuse; the client sends RSET between transactions). Each waits at most
/// <see cref="DelivererOptions.IdleReuse"/>, then gets QUIT.
/// </summary>
internal sealed class SessionPool : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, ConcurrentQueue<Idle>> _idle = new(StringComparer.Ordinal);
    private readonly TimeSpan _keep;
    private readonly int _max;
    private readonly TimeProvider _clock;
    private readonly ITimer _sweep;
    private int _disposed;

    public SessionPool(TimeSpan keep, int maxPerKey, TimeProvider clock)
    {
        _keep = keep;
        _max = maxPerKey;
        _clock = clock;
        // Destinations may keep connections when the default does not: the sweep always runs.
        var period = keep > TimeSpan.Zero ? TimeSpan.FromMilliseconds(Math.Max(100, keep.TotalMilliseconds / 2)) : TimeSpan.FromSeconds(1);
        _sweep = clock.CreateTimer(_ => _ = SweepAsync(), null, period, period);
    }

    /// <summary>
    /// A pooled session is found by transport, host and TLS setup: a session opened for other TLS needs is
    /// not reused. <paramref name="check"/> names the certificate check that admitted it ("dane", "pkix",
    /// "none"): a session PKIX-checked for one domain's MTA-STS policy never carries mail for a domain that
    /// asks for DANE at the same host, nor the reverse. The mode goes in as its number: an enum's name is
    /// looked up through reflection metadata at each format, once per delivered batch here.
    /// </summary>
    public static string Key(string transport, string host, int port, SmtpTlsMode mode, string check) => $"{transport}\n{host}\n{port}\n{(byte)mode}\n{check}";

    public bool TryTake(string key, out SmtpClientSession session, out IPEndPoint? remote)
    {
        if (_idle.TryGetValue(key, out var queue))
        {
            while (queue.TryDequeue(out var idle))
            {
                if (idle.Until > _clock.GetUtcNow() && idle.Session.CanSend)
                {
                    session = idle.Session;
                    remote = idle.Remote;
                    return true;
                }

                _ = CloseAsync(idle.Session).AsTask();
            }
        }

        session = null!;
        remote = null;
        return false;
    }

    /// <summary>
    /// Keeps the session for the next batch, or closes it (QUIT) when it cannot send, has carried
    /// <paramref name="maxMessages"/> transactions, or the host has enough idle ones.
    /// </summary>
    public ValueTask ReturnAsync(string key, SmtpClientSession session, IPEndPoint? remote, ConnectionLimits? limits = null)
    {
        var keep = limits?.IdleReuse ?? _keep;
        if (keep <= TimeSpan.Zero || !session.CanSend || Volatile.Read(ref _disposed) != 0
            || (limits is { MaxMessagesPerConnection: > 0 } l && session.Transactions >= l.MaxMessagesPerConnection))
        {
            return CloseAsync(session);
        }

        var queue = _idle.GetOrAdd(key, _ => new ConcurrentQueue<Idle>());
        if (queue.Count >= _max)
        {
            return CloseAsync(session);
        }

        queue.Enqueue(new Idle(session, remote, _clock.GetUtcNow() + keep));
        return ValueTask.CompletedTask;
    }

    private async Task SweepAsync()
    {
        var now = _clock.GetUtcNow();
        foreach (var queue in _idle.Values)
        {
            var count = queue.Count;
            for (var i = 0; i < count && queue.TryDequeue(out var idle); i++)
            {
                if (idle.Until > now && Volatile.Read(ref _disposed) == 0)
                {
                    queue.Enqueue(idle);
                }
                else
                {
                    await CloseAsync(idle.Session).ConfigureAwait(false);
                }
            }
        }
    }

    public static async ValueTask CloseAsync(SmtpClientSession session)
    {
        try
        {
            // Also after a refused greeting or EHLO: a server that greets with 554 waits for QUIT
            // (RFC 5321 section 3.1); QuitAsync only closes a session that is broken.
            using var quit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await session.QuitAsync(quit.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // QUIT is a courtesy (RFC 5321 4.1.1.10); a server that does not answer is closed anyway.
        }
        finally
        {
            await session.DisposeAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Interlocked.Exchange(ref _disposed, 1);
        await _sweep.DisposeAsync().ConfigureAwait(false);
        foreach (var queue in _idle.Values)
        {
            while (queue.TryDequeue(out var idle))
            {
                await CloseAsync(idle.Session).ConfigureAwait(false);
            }
        }
    }

    private sealed record Idle(SmtpClientSession Session, IPEndPoint? Remote, DateTimeOffset Until);
}
