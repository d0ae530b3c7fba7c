namespace Tern.Delivery;

/// <summary>
/// Told what a recipient domain's server offered, once per SMTP session the <see cref="Deliverer"/>
/// opened for that domain (direct or through SOCKS; never for a smarthost, whose TLS says nothing
/// about the domain). <see cref="DomainTlsHistory"/> keeps the last observation per domain: RFC 8689
/// REQUIRETLS is chosen for a submission only when every recipient domain took it last time.
/// </summary>
/// <remarks>Called on the delivery path: implementations must not block (no I/O, no waiting).</remarks>
public interface IDomainTlsObserver
{
    /// <param name="recipientDomain">The batch's recipient domain (as <see cref="DeliveryBatch.RecipientDomain"/>).</param>
    /// <param name="startTls">The server offered STARTTLS (or the session used implicit TLS).</param>
    /// <param name="verified">TLS was established and its certificate verified (DANE, or PKIX as MTA-STS requires).</param>
    /// <param name="requireTls">The server announced REQUIRETLS (RFC 8689 section 3: only ever after TLS).</param>
    /// <param name="when">When the session was opened.</param>
    void Observed(string recipientDomain, bool startTls, bool verified, bool requireTls, DateTimeOffset when);
}
