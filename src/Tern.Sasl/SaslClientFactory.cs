using Tern.Sasl.CramMd5;
using Tern.Sasl.Login;
using Tern.Sasl.Plain;
using Tern.Sasl.Scram;

namespace Tern.Sasl;

/// <summary>Picks and creates client mechanisms (Tern authenticating to a smarthost).</summary>
public static class SaslClientFactory
{
    /// <summary>The default preference when the configuration names none: never a password in clear.</summary>
    private static readonly string[] DefaultOrder =
    [
        SaslMechanisms.ScramSha256Plus, SaslMechanisms.ScramSha256, SaslMechanisms.ScramSha1Plus, SaslMechanisms.ScramSha1, SaslMechanisms.CramMd5,
    ];

    /// <summary>
    /// The mechanism to use with a server that offers <paramref name="serverMechanisms"/> (from
    /// the EHLO AUTH keyword), or null when none fits. With <paramref name="configured"/>: the
    /// first of those the server offers. Otherwise SCRAM-SHA-256-PLUS, SCRAM-SHA-256,
    /// SCRAM-SHA-1-PLUS, SCRAM-SHA-1, CRAM-MD5; then PLAIN, LOGIN only when nothing else is
    /// offered and the TLS connection's certificate was verified (<paramref name="tlsVerified"/>:
    /// PKIX or DANE), so that a password is never sent to a server that may be an impostor.
    /// -PLUS only when the connection has a channel binding.
    /// </summary>
    public static string? Choose(IEnumerable<string> serverMechanisms, SaslChannel channel, IReadOnlyList<string>? configured = null, bool tlsVerified = false)
    {
        ArgumentNullException.ThrowIfNull(serverMechanisms);
        ArgumentNullException.ThrowIfNull(channel);
        var offered = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in serverMechanisms)
        {
            if (SaslMechanisms.Canonical(name) is { } canonical)
            {
                offered.Add(canonical);
            }
        }

        bool Usable(string name) => offered.Contains(name) && (!SaslMechanisms.IsPlus(name) || channel.Binding is not null);

        if (configured is not null)
        {
            foreach (var name in configured)
            {
                if (SaslMechanisms.Canonical(name) is { } canonical && Usable(canonical))
                {
                    return canonical;
                }
            }

            return null;
        }

        foreach (var name in DefaultOrder)
        {
            if (Usable(name))
            {
                return name;
            }
        }

        if (channel.IsTls && tlsVerified)
        {
            foreach (var name in (ReadOnlySpan<string>)[SaslMechanisms.Plain, SaslMechanisms.Login])
            {
                if (Usable(name))
                {
                    return name;
                }
            }
        }

        return null;
    }

    /// <summary>
    /// A client for <paramref name="mechanism"/>. <paramref name="serverMechanisms"/> is what the
    /// server advertised: a SCRAM client that could bind but sees no -PLUS offered says so ("y"),
    /// letting a server that did offer -PLUS detect the downgrade (RFC 5802 section 6).
    /// </summary>
    /// <exception cref="ArgumentException">Unknown mechanism, or -PLUS on a channel without a binding.</exception>
    public static SaslClient Create(string mechanism, string username, string password, SaslChannel channel, IEnumerable<string> serverMechanisms, string? authorizationIdentity = null)
    {
        ArgumentNullException.ThrowIfNull(mechanism);
        ArgumentNullException.ThrowIfNull(username);
        ArgumentNullException.ThrowIfNull(password);
        ArgumentNullException.ThrowIfNull(channel);
        ArgumentNullException.ThrowIfNull(serverMechanisms);
        var name = SaslMechanisms.Canonical(mechanism) ?? throw new ArgumentException($"unknown SASL mechanism \"{mechanism}\"", nameof(mechanism));
        var serverOffersPlus = serverMechanisms.Any(SaslMechanisms.IsPlus);
        return name switch
        {
            SaslMechanisms.Plain => new PlainClient(username, password, authorizationIdentity),
            SaslMechanisms.Login => new LoginClient(username, password),
            SaslMechanisms.CramMd5 => new CramMd5Client(username, password),
            SaslMechanisms.ScramSha1 => new ScramClient(ScramAlgorithm.Sha1, plus: false, username, password, authorizationIdentity, channel.Binding, serverOffersPlus),
            SaslMechanisms.ScramSha256 => new ScramClient(ScramAlgorithm.Sha256, plus: false, username, password, authorizationIdentity, channel.Binding, serverOffersPlus),
            SaslMechanisms.ScramSha1Plus => new ScramClient(ScramAlgorithm.Sha1, plus: true, username, password, authorizationIdentity, channel.Binding, serverOffersPlus),
            SaslMechanisms.ScramSha256Plus => new ScramClient(ScramAlgorithm.Sha256, plus: true, username, password, authorizationIdentity, channel.Binding, serverOffersPlus),
            _ => throw new ArgumentException($"no client for \"{mechanism}\"", nameof(mechanism)),
        };
    }
}
