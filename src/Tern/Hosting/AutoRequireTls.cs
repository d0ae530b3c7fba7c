using Tern.Config;
using Tern.Delivery;
using Tern.Smtp.Server;

namespace Tern.Hosting;

/// <summary>
/// The "auto" REQUIRETLS choice of submission listeners (<c>requiretls = "auto"</c>), as mox makes it
/// for its submissions: a message submitted over TLS by an authenticated client that did not ask for
/// REQUIRETLS itself (RFC 8689 section 4.1) is queued with it when every recipient domain's last
/// delivery had verified TLS to a server that announced REQUIRETLS (<see cref="DomainTlsHistory"/>),
/// i.e. when the REQUIRETLS delivery would go through as the last one did. A TLS-Required header
/// field (RFC 8689 section 5) is the sender's own word and keeps the message as it is
/// (<see cref="TlsRequiredHeaderScanner"/>).
/// </summary>
internal sealed class AutoRequireTls
{
    private readonly HashSet<string> _listeners;
    private readonly DomainTlsHistory _history;

    public AutoRequireTls(IEnumerable<string> listeners, DomainTlsHistory history)
    {
        _listeners = new HashSet<string>(listeners, StringComparer.Ordinal);
        _history = history;
    }

    /// <summary>The choice for the configured listeners; null when no listener is "auto".</summary>
    public static AutoRequireTls? For(IEnumerable<ListenerConfig> listeners, DomainTlsHistory history)
    {
        var auto = listeners.Where(l => l.RequireTls == ListenerRequireTls.Auto).Select(l => l.Name).ToList();
        return auto.Count == 0 ? null : new AutoRequireTls(auto, history);
    }

    /// <summary>
    /// Whether the transaction qualifies, before its content is seen: an "auto" listener, TLS, an
    /// authenticated client without REQUIRETLS, and every recipient domain known to take REQUIRETLS.
    /// </summary>
    public bool Applies(SmtpEnvelope envelope)
    {
        if (envelope.RequireTls || !envelope.Tls || envelope.AuthenticatedUser is null || envelope.RecipientCount == 0 || !_listeners.Contains(envelope.Listener))
        {
            return false;
        }

        for (var i = 0; i < envelope.RecipientCount; i++)
        {
            var address = envelope.Recipient(i);
            var at = address.LastIndexOf((byte)'@');
            if (at < 0 || !_history.TryGet(address[(at + 1)..], out var known) || !known.TakesRequireTls)
            {
                return false;
            }
        }

        return true;
    }
}
