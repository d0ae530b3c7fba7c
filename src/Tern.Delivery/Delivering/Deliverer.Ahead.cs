using System.Collections.Concurrent;
using System.Net;
using Tern.Smtp.Client;

namespace Tern.Delivery;

/// <summary>
/// Sending the next batch's envelope ahead (RFC 2920 section 3.1): when the caller names the batch it will
/// deliver next (<see cref="DeliveryBatch.Next"/>) and that batch would take the same way, its MAIL, RCPT and
/// DATA go in the same write as this batch's end of data, and the connection is kept for it instead of
/// going back to the pool. One round trip per message instead of two, and half the writes and reads on
/// both sides.
/// </summary>
public sealed partial class Deliverer
{
    /// <summary>
    /// Connections that carry a batch's envelope already, by that batch's message (the instance, not its value:
    /// a copy of the batch made with <c>with</c> shares it, and it is what the connection's session checks).
    /// </summary>
    private readonly ConcurrentDictionary<SmtpMessage, Reserved> _reserved = new(ReferenceEqualityComparer.Instance);

    private int _disposed;

    private sealed record Reserved(string Key, SmtpClientSession Session, IPEndPoint? Remote);

    /// <summary>
    /// The message of the batch that may go ahead with <paramref name="batch"/>'s end of data on a connection of
    /// <paramref name="key"/>, or null. Only a batch that would be routed the same way (so that its delivery asks
    /// for a connection of the same key), to a connection that is kept between batches.
    /// </summary>
    private SmtpMessage? AheadCandidate(DeliveryBatch batch)
    {
        if (batch.Next is not { } next || ReferenceEquals(next.Message, batch.Message) || (batch.Limits?.IdleReuse ?? _options.IdleReuse) <= TimeSpan.Zero)
        {
            return null;
        }

        return SameWay(batch, next) ? next.Message : null;
    }

    /// <summary>
    /// Everything that decides the route, the hosts, the TLS requirements and the connection limits is the same.
    /// (The scheduler pairs batches of one destination, so this is the rule, not the exception.)
    /// </summary>
    private static bool SameWay(DeliveryBatch a, DeliveryBatch b) =>
        string.Equals(a.RecipientDomain, b.RecipientDomain, StringComparison.OrdinalIgnoreCase)
        && a.Account == b.Account
        && a.TransportOverride == b.TransportOverride
        && a.Attempts == b.Attempts
        && a.Limits == b.Limits
        && a.Message.RequireTls == b.Message.RequireTls
        && DomainOf(a.Message.Sender).Equals(DomainOf(b.Message.Sender), StringComparison.OrdinalIgnoreCase)
        && a.TlsRequiredSaysNo == b.TlsRequiredSaysNo;

    private static ReadOnlySpan<char> DomainOf(string address) => address.LastIndexOf('@') is var at and >= 0 ? address.AsSpan(at + 1) : [];

    /// <summary>After a send that put <paramref name="next"/>'s envelope on <paramref name="session"/>: kept for it.</summary>
    private async ValueTask ReserveAsync(DeliveryBatch next, string key, SmtpClientSession session, IPEndPoint? remote)
    {
        var added = new Reserved(key, session, remote);
        Reserved? replaced = null;
        _reserved.AddOrUpdate(next.Message, added, (_, old) =>
        {
            // The caller named the same batch as next twice: the earlier connection cannot carry it any more.
            replaced = old;
            return added;
        });
        if (replaced is not null && !ReferenceEquals(replaced.Session, session))
        {
            await SessionPool.CloseAsync(replaced.Session).ConfigureAwait(false);
        }

        if (Volatile.Read(ref _disposed) != 0)
        {
            // Disposed meanwhile: nobody will take or close it later.
            await ReleaseReservedAsync(next).ConfigureAwait(false);
        }
    }

    public ValueTask DiscardAsync(DeliveryBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        return ReleaseReservedAsync(batch);
    }

    /// <summary>
    /// The connection that carries <paramref name="batch"/>'s envelope, when it is of <paramref name="key"/> and the
    /// whole batch is still to be sent (a later host after some recipients were decided needs a new envelope).
    /// A reservation of another key stays for a later host of this batch; see <see cref="ReleaseReservedAsync"/>.
    /// </summary>
    private bool TryTakeReserved(DeliveryBatch batch, string key, int open, out SmtpClientSession session, out IPEndPoint? remote)
    {
        if (_reserved.TryGetValue(batch.Message, out var r) && r.Key == key && open == batch.Message.Recipients.Count && _reserved.TryRemove(batch.Message, out r))
        {
            session = r.Session;
            remote = r.Remote;
            return true;
        }

        session = null!;
        remote = null;
        return false;
    }

    /// <summary>At the end of a batch's delivery: a reservation it did not use is closed (the server is mid-transaction on it).</summary>
    private async ValueTask ReleaseReservedAsync(DeliveryBatch batch)
    {
        // TryRemove takes no lock when the dictionary is empty, the usual case (IsEmpty would take them all).
        if (_reserved.TryRemove(batch.Message, out var r))
        {
            await SessionPool.CloseAsync(r.Session).ConfigureAwait(false);
        }
    }

    private async ValueTask CloseReservedAsync()
    {
        Volatile.Write(ref _disposed, 1);
        foreach (var message in _reserved.Keys)
        {
            if (_reserved.TryRemove(message, out var r))
            {
                await SessionPool.CloseAsync(r.Session).ConfigureAwait(false);
            }
        }
    }
}
