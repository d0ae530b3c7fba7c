using Tern.Sasl.ChannelBindings;

namespace Tern.Sasl;

/// <summary>
/// What the connection under the exchange offers: TLS or not, and the channel binding the SCRAM
/// -PLUS mechanisms bind to. Filled by the protocol layer after STARTTLS (or at accept for
/// implicit TLS); see <see cref="ChannelBinding.FromSslStream"/>.
/// </summary>
public sealed class SaslChannel
{
    private SaslChannel(bool isTls, ChannelBinding? binding)
    {
        IsTls = isTls;
        Binding = binding;
    }

    /// <summary>A connection without TLS: no -PLUS mechanisms, no PLAIN/LOGIN unless explicitly allowed.</summary>
    public static SaslChannel Plaintext { get; } = new(false, null);

    public bool IsTls { get; }

    /// <summary>The connection's channel binding, or null when TLS gives none usable (then -PLUS is not offered).</summary>
    public ChannelBinding? Binding { get; }

    public static SaslChannel Tls(ChannelBinding? binding) => new(true, binding);

    public override string ToString() => IsTls ? $"tls binding={Binding?.Type ?? "none"}" : "plaintext";
}
