using System.Diagnostics.CodeAnalysis;
using Tern.Sasl.CramMd5;
using Tern.Sasl.Credentials;
using Tern.Sasl.Login;
using Tern.Sasl.Plain;
using Tern.Sasl.Scram;

namespace Tern.Sasl;

/// <summary>
/// Creates server mechanisms for a connection and says which to advertise (SMTP: the EHLO AUTH
/// keyword). Thread-safe; one per listener configuration.
/// </summary>
public sealed class SaslServerFactory
{
    private readonly AccountStore _accounts;
    private readonly SaslServerOptions _options;
    private readonly string[] _enabled;

    /// <exception cref="ArgumentException">An unknown mechanism name in the options.</exception>
    public SaslServerFactory(AccountStore accounts, SaslServerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(accounts);
        _accounts = accounts;
        _options = options ?? new SaslServerOptions();
        var enabled = new List<string>();
        foreach (var name in _options.Mechanisms)
        {
            var canonical = SaslMechanisms.Canonical(name) ?? throw new ArgumentException($"unknown SASL mechanism \"{name}\"", nameof(options));
            if (!enabled.Contains(canonical))
            {
                enabled.Add(canonical);
            }
        }

        _enabled = [.. enabled];
    }

    /// <summary>The mechanisms to advertise on this connection, in the configured order.</summary>
    public IReadOnlyList<string> Advertised(SaslChannel channel)
    {
        ArgumentNullException.ThrowIfNull(channel);
        return [.. _enabled.Where(name => Refusal(name, channel) is null)];
    }

    /// <summary>
    /// A new attempt with <paramref name="mechanism"/> (case-insensitive). False when the
    /// mechanism is unknown or not enabled (SMTP: 504 5.5.4). A mechanism that is enabled but
    /// unusable on this connection (-PLUS or PLAIN without TLS, -PLUS without a channel binding)
    /// is created and fails on its first step with <see cref="SaslFailure.EncryptionRequired"/>
    /// or <see cref="SaslFailure.ChannelBindingUnsupported"/>, so the caller has one path for replies.
    /// </summary>
    public bool TryCreate(string mechanism, SaslChannel channel, [NotNullWhen(true)] out SaslServer? server)
    {
        ArgumentNullException.ThrowIfNull(mechanism);
        ArgumentNullException.ThrowIfNull(channel);
        var name = SaslMechanisms.Canonical(mechanism);
        if (name is null || Array.IndexOf(_enabled, name) < 0)
        {
            server = null;
            return false;
        }

        if (Refusal(name, channel) is { } reason)
        {
            server = new RefusedServer(name, reason);
            return true;
        }

        var offersPlus = OffersPlus(channel);
        server = name switch
        {
            SaslMechanisms.Plain => new PlainServer(_accounts),
            SaslMechanisms.Login => new LoginServer(_accounts),
            SaslMechanisms.CramMd5 => new CramMd5Server(_accounts, _options.Hostname),
            SaslMechanisms.ScramSha1 => new ScramServer(ScramAlgorithm.Sha1, _accounts, binding: null, offersPlus),
            SaslMechanisms.ScramSha256 => new ScramServer(ScramAlgorithm.Sha256, _accounts, binding: null, offersPlus),
            SaslMechanisms.ScramSha1Plus => new ScramServer(ScramAlgorithm.Sha1, _accounts, channel.Binding, offersPlus),
            SaslMechanisms.ScramSha256Plus => new ScramServer(ScramAlgorithm.Sha256, _accounts, channel.Binding, offersPlus),
            _ => throw new InvalidOperationException($"no server for {name}"),
        };
        return true;
    }

    /// <summary>
    /// Whether this connection advertises a -PLUS mechanism: then a SCRAM client sending "y"
    /// ("I could bind but you don't offer it") is a downgrade (RFC 5802 section 6).
    /// </summary>
    private bool OffersPlus(SaslChannel channel) =>
        channel.Binding is not null && Array.Exists(_enabled, SaslMechanisms.IsPlus);

    private SaslFailure? Refusal(string name, SaslChannel channel)
    {
        if (SaslMechanisms.IsPlus(name))
        {
            if (!channel.IsTls)
            {
                return SaslFailure.EncryptionRequired;
            }

            if (channel.Binding is null)
            {
                return SaslFailure.ChannelBindingUnsupported;
            }
        }

        if (SaslMechanisms.SendsPassword(name) && !channel.IsTls && !_options.AllowPasswordMechanismsWithoutTls)
        {
            return SaslFailure.EncryptionRequired;
        }

        return null;
    }
}
