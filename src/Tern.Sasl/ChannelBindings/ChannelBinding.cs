using System.Diagnostics.CodeAnalysis;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Tern.Sasl.ChannelBindings;

/// <summary>
/// Channel binding data of a TLS connection: a type name and its bytes (RFC 5056), bound into a
/// SCRAM -PLUS exchange so that a man in the middle terminating TLS cannot relay it.
/// </summary>
/// <remarks>
/// Which type, when (the server supports exactly the one type of its connection; a client asking
/// for another gets <see cref="SaslFailure.ChannelBindingUnsupported"/>):
/// <list type="bullet">
/// <item>TLS 1.2: <c>tls-unique</c> (RFC 5929 section 3), the first Finished message. It is the
/// RFC 5802 default; OpenSSL 3 negotiates extended master secret, which closes the triple
/// handshake attack on it (RFC 7627).</item>
/// <item>TLS 1.3: <c>tls-exporter</c> (RFC 9266) when the TLS stack exports keying material.
/// .NET's SslStream does not (dotnet/runtime#112529), so Tern uses <c>tls-server-end-point</c>
/// (RFC 5929 section 4, a hash of the server certificate) there. tls-unique is undefined for
/// TLS 1.3 (RFC 9266 section 3) and is refused.</item>
/// </list>
/// The data is not secret (the certificate is public; the Finished message is sent encrypted but
/// reveals nothing about keys), so it may appear in traces.
/// </remarks>
public sealed class ChannelBinding
{
    public const string TlsUniqueType = "tls-unique";
    public const string TlsServerEndPointType = "tls-server-end-point";
    public const string TlsExporterType = "tls-exporter";

    /// <summary>RFC 9266 section 2: 32 bytes exported with label "EXPORTER-Channel-Binding", no context.</summary>
    public const int TlsExporterLength = 32;

    private readonly byte[] _data;

    private ChannelBinding(string type, byte[] data)
    {
        Type = type;
        _data = data;
    }

    /// <summary>The RFC 5929 / RFC 9266 name, sent as the SCRAM cb-name.</summary>
    public string Type { get; }

    public ReadOnlyMemory<byte> Data => _data;

    /// <summary><c>tls-unique</c>: the first Finished message of the handshake (RFC 5929 section 3.1).</summary>
    /// <exception cref="ArgumentException">The TLS version is not 1.2 (undefined for 1.3) or the data is empty.</exception>
    public static ChannelBinding TlsUnique(ReadOnlySpan<byte> finishedMessage, SslProtocols protocol)
    {
        if (protocol != SslProtocols.Tls12)
        {
            throw new ArgumentException($"tls-unique is only defined up to TLS 1.2, not {protocol} (RFC 9266 section 3)", nameof(protocol));
        }

        if (finishedMessage.IsEmpty)
        {
            throw new ArgumentException("tls-unique data is empty", nameof(finishedMessage));
        }

        return new ChannelBinding(TlsUniqueType, finishedMessage.ToArray());
    }

    /// <summary><c>tls-exporter</c> (RFC 9266): for when a TLS stack gives exported keying material.</summary>
    /// <exception cref="ArgumentException">The TLS version is not 1.3 or the data is not 32 bytes.</exception>
    /// <remarks>RFC 9266 allows TLS 1.2 only with extended master secret, which callers cannot
    /// check through SslStream, so only TLS 1.3 is accepted.</remarks>
    public static ChannelBinding TlsExporter(ReadOnlySpan<byte> exportedKeyingMaterial, SslProtocols protocol)
    {
        if (protocol != SslProtocols.Tls13)
        {
            throw new ArgumentException($"tls-exporter is used with TLS 1.3 only, not {protocol}", nameof(protocol));
        }

        if (exportedKeyingMaterial.Length != TlsExporterLength)
        {
            throw new ArgumentException($"tls-exporter data must be {TlsExporterLength} bytes (RFC 9266 section 2)", nameof(exportedKeyingMaterial));
        }

        return new ChannelBinding(TlsExporterType, exportedKeyingMaterial.ToArray());
    }

    /// <summary>
    /// <c>tls-server-end-point</c> (RFC 5929 section 4.1): the hash of the server certificate,
    /// usable with any TLS version. False when RFC 5929 leaves it undefined for the certificate's
    /// signature algorithm (e.g. Ed25519: no single hash); then do not offer -PLUS.
    /// </summary>
    public static bool TryTlsServerEndPoint(X509Certificate2 serverCertificate, [NotNullWhen(true)] out ChannelBinding? binding)
    {
        ArgumentNullException.ThrowIfNull(serverCertificate);
        if (ServerEndPointHash.TryCompute(serverCertificate, out var hash))
        {
            binding = new ChannelBinding(TlsServerEndPointType, hash);
            return true;
        }

        binding = null;
        return false;
    }

    /// <summary>
    /// The binding Tern uses on an authenticated SslStream, from either end (the server and the
    /// client compute the same bytes): tls-unique on TLS 1.2, tls-server-end-point on TLS 1.3.
    /// Null when there is none (older TLS, no server certificate, or an undefined end-point hash).
    /// </summary>
    public static ChannelBinding? FromSslStream(System.Net.Security.SslStream stream) => SslStreamChannelBinding.Get(stream);

    /// <summary>True when both are the same type and bytes (constant time on the bytes).</summary>
    internal bool Matches(string type, ReadOnlySpan<byte> data) =>
        string.Equals(Type, type, StringComparison.Ordinal) && System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(_data, data);

    public override string ToString() => $"{Type} ({_data.Length} bytes)";
}
