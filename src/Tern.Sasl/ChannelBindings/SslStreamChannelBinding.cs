using System.Net.Security;
using System.Runtime.InteropServices;
using System.Security.Authentication;
using System.Security.Authentication.ExtendedProtection;
using System.Security.Cryptography.X509Certificates;

namespace Tern.Sasl.ChannelBindings;

/// <summary>Reads Tern's channel binding from an authenticated SslStream (see <see cref="ChannelBinding"/> for the choice).</summary>
internal static class SslStreamChannelBinding
{
    // SEC_CHANNEL_BINDINGS: eight native-endian 32-bit fields; the last two give the application data's length and offset.
    private const int SecChannelBindingsSize = 32;
    private const int ApplicationDataLengthOffset = 24;
    private const int ApplicationDataOffsetOffset = 28;

    public static ChannelBinding? Get(SslStream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.IsAuthenticated)
        {
            return null;
        }

        switch (stream.SslProtocol)
        {
            case SslProtocols.Tls12:
                var unique = ReadUnique(stream);
                return unique is null ? null : ChannelBinding.TlsUnique(unique, SslProtocols.Tls12);
            case SslProtocols.Tls13:
                // Both ends hash the same certificate: the server its own, the client the peer's.
                var certificate = stream.IsServer ? stream.LocalCertificate : stream.RemoteCertificate;
                return certificate is X509Certificate2 serverCertificate && ChannelBinding.TryTlsServerEndPoint(serverCertificate, out var endPoint) ? endPoint : null;
            default:
                return null;
        }
    }

    /// <summary>
    /// The tls-unique bytes. .NET hands them over as a native SEC_CHANNEL_BINDINGS block whose
    /// application data is "tls-unique:" followed by the Finished message; anything unexpected
    /// gives null (no -PLUS) rather than a wrong binding.
    /// </summary>
    private static byte[]? ReadUnique(SslStream stream)
    {
        using var binding = stream.TransportContext?.GetChannelBinding(ChannelBindingKind.Unique);
        if (binding is null || binding.IsInvalid || binding.Size <= SecChannelBindingsSize)
        {
            return null;
        }

        var raw = new byte[binding.Size];
        var added = false;
        try
        {
            binding.DangerousAddRef(ref added);
            Marshal.Copy(binding.DangerousGetHandle(), raw, 0, raw.Length);
        }
        finally
        {
            if (added)
            {
                binding.DangerousRelease();
            }
        }

        var length = MemoryMarshal.Read<int>(raw.AsSpan(ApplicationDataLengthOffset));
        var offset = MemoryMarshal.Read<int>(raw.AsSpan(ApplicationDataOffsetOffset));
        if (offset < SecChannelBindingsSize || length <= 0 || offset > raw.Length - length)
        {
            return null;
        }

        ReadOnlySpan<byte> data = raw.AsSpan(offset, length);
        var prefix = "tls-unique:"u8;
        if (data.StartsWith(prefix))
        {
            data = data[prefix.Length..];
        }

        return data.IsEmpty ? null : data.ToArray();
    }
}
