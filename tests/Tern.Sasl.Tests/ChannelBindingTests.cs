using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Tern.Sasl.ChannelBindings;

namespace Tern.Sasl.Tests;

public sealed class ChannelBindingTests
{
    private static X509Certificate2 SelfSigned(AsymmetricAlgorithm key, HashAlgorithmName hash, RSASignaturePadding? padding = null)
    {
        var now = DateTimeOffset.UtcNow;
        var request = key switch
        {
            ECDsa ec => new CertificateRequest("CN=localhost", ec, hash),
            RSA rsa => new CertificateRequest("CN=localhost", rsa, hash, padding ?? RSASignaturePadding.Pkcs1),
            _ => throw new ArgumentException("unsupported key type", nameof(key)),
        };
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        return request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));
    }

    [Fact]
    public void Server_end_point_of_an_ecdsa_sha256_certificate_is_its_sha256()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var certificate = SelfSigned(key, HashAlgorithmName.SHA256);
        Assert.Equal("1.2.840.10045.4.3.2", certificate.SignatureAlgorithm.Value);

        Assert.True(ChannelBinding.TryTlsServerEndPoint(certificate, out var binding));

        Assert.Equal(ChannelBinding.TlsServerEndPointType, binding.Type);
        Assert.Equal(SHA256.HashData(certificate.RawData), binding.Data.ToArray());
    }

    /// <summary>CertificateRequest refuses SHA-1 signatures, so the old kind of certificate is signed by hand.</summary>
    private static X509Certificate2 SelfSignedRsaSha1(RSA key)
    {
        var now = DateTimeOffset.UtcNow;
        var generator = new RsaSha1SignatureGenerator(key);
        var request = new CertificateRequest(new X500DistinguishedName("CN=legacy"), generator.PublicKey, HashAlgorithmName.SHA256);
        return request.Create(request.SubjectName, generator, now.AddMinutes(-5), now.AddDays(1), [1, 2, 3, 4]);
    }

    [Fact]
    public void Server_end_point_of_an_rsa_sha1_certificate_uses_sha256_instead()
    {
        using var key = RSA.Create(2048);
        using var certificate = SelfSignedRsaSha1(key);
        Assert.Equal("1.2.840.113549.1.1.5", certificate.SignatureAlgorithm.Value);

        Assert.True(ChannelBinding.TryTlsServerEndPoint(certificate, out var binding));

        // RFC 5929 section 4.1: MD5 and SHA-1 are replaced by SHA-256.
        Assert.Equal(SHA256.HashData(certificate.RawData), binding.Data.ToArray());
    }

    [Fact]
    public void Server_end_point_follows_stronger_signature_hashes()
    {
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        using var ecdsa384 = SelfSigned(ec, HashAlgorithmName.SHA384);
        Assert.True(ChannelBinding.TryTlsServerEndPoint(ecdsa384, out var a));
        Assert.Equal(SHA384.HashData(ecdsa384.RawData), a.Data.ToArray());

        using var rsa = RSA.Create(2048);
        using var rsa512 = SelfSigned(rsa, HashAlgorithmName.SHA512);
        Assert.True(ChannelBinding.TryTlsServerEndPoint(rsa512, out var b));
        Assert.Equal(SHA512.HashData(rsa512.RawData), b.Data.ToArray());

        // RSASSA-PSS: the hash is in the signature algorithm's parameters.
        using var pss = SelfSigned(rsa, HashAlgorithmName.SHA384, RSASignaturePadding.Pss);
        Assert.Equal("1.2.840.113549.1.1.10", pss.SignatureAlgorithm.Value);
        Assert.True(ChannelBinding.TryTlsServerEndPoint(pss, out var c));
        Assert.Equal(SHA384.HashData(pss.RawData), c.Data.ToArray());
    }

    [Fact]
    public void Binding_types_are_refused_on_tls_versions_they_do_not_fit()
    {
        var twelve = new byte[12];
        Assert.Equal(ChannelBinding.TlsUniqueType, ChannelBinding.TlsUnique(twelve, SslProtocols.Tls12).Type);
        Assert.Throws<ArgumentException>(() => ChannelBinding.TlsUnique(twelve, SslProtocols.Tls13));
        Assert.Throws<ArgumentException>(() => ChannelBinding.TlsUnique([], SslProtocols.Tls12));

        var exported = new byte[32];
        Assert.Equal(ChannelBinding.TlsExporterType, ChannelBinding.TlsExporter(exported, SslProtocols.Tls13).Type);
        Assert.Throws<ArgumentException>(() => ChannelBinding.TlsExporter(exported, SslProtocols.Tls12));
        Assert.Throws<ArgumentException>(() => ChannelBinding.TlsExporter(new byte[16], SslProtocols.Tls13));
    }

    [Fact]
    public void Tls_exporter_binding_is_accepted_when_provided()
    {
        using var temp = new TempStore();
        temp.Store.Add(Sasl.User, Sasl.Password);
        var channel = SaslChannel.Tls(ChannelBinding.TlsExporter(RandomNumberGenerator.GetBytes(32), SslProtocols.Tls13));

        var (server, client) = Sasl.Authenticate(temp.Store, SaslMechanisms.ScramSha256Plus, channel, channel, Sasl.User, Sasl.Password);

        Assert.Equal(SaslStatus.Success, server.Status);
        Assert.Equal(SaslStatus.Success, client?.Status);
    }

    [Theory]
    [InlineData(SslProtocols.Tls12, ChannelBinding.TlsUniqueType)]
    [InlineData(SslProtocols.Tls13, ChannelBinding.TlsServerEndPointType)]
    public async Task Both_ends_of_a_real_tls_connection_derive_the_same_binding(SslProtocols protocol, string expectedType)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var certificate = SelfSigned(key, HashAlgorithmName.SHA256);
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var clientSocket = new TcpClient();
        var accept = listener.AcceptTcpClientAsync();
        await clientSocket.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
        using var serverSocket = await accept;
        await using var serverTls = new SslStream(serverSocket.GetStream());
        await using var clientTls = new SslStream(clientSocket.GetStream());

        await Task.WhenAll(
            serverTls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = certificate, EnabledSslProtocols = protocol }),
            clientTls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                EnabledSslProtocols = protocol,
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
            }));
        Assert.Equal(protocol, serverTls.SslProtocol);

        var serverBinding = ChannelBinding.FromSslStream(serverTls);
        var clientBinding = ChannelBinding.FromSslStream(clientTls);

        Assert.NotNull(serverBinding);
        Assert.NotNull(clientBinding);
        Assert.Equal(expectedType, serverBinding.Type);
        Assert.Equal(expectedType, clientBinding.Type);
        Assert.Equal(serverBinding.Data.ToArray(), clientBinding.Data.ToArray());
        if (protocol == SslProtocols.Tls12)
        {
            Assert.Equal(12, serverBinding.Data.Length); // TLS 1.2 Finished verify_data
        }
        else
        {
            Assert.Equal(SHA256.HashData(certificate.RawData), serverBinding.Data.ToArray());
        }

        using var temp = new TempStore();
        temp.Store.Add(Sasl.User, Sasl.Password);
        var (result, client) = Sasl.Authenticate(temp.Store, SaslMechanisms.ScramSha256Plus, SaslChannel.Tls(serverBinding), SaslChannel.Tls(clientBinding), Sasl.User, Sasl.Password);
        Assert.Equal(SaslStatus.Success, result.Status);
        Assert.Equal(SaslStatus.Success, client?.Status);
    }

    [Fact]
    public void Binding_data_is_not_printed_as_bytes()
    {
        Assert.Equal("tls-unique (12 bytes)", Sasl.UniqueBinding().ToString());
    }

    private sealed class RsaSha1SignatureGenerator(RSA key) : X509SignatureGenerator
    {
        // AlgorithmIdentifier { sha1WithRSAEncryption, NULL }
        private static readonly byte[] Sha1WithRsa = Convert.FromHexString("300D06092A864886F70D0101050500");

        public override byte[] GetSignatureAlgorithmIdentifier(HashAlgorithmName hashAlgorithm) => Sha1WithRsa;

        public override byte[] SignData(byte[] data, HashAlgorithmName hashAlgorithm) => key.SignData(data, HashAlgorithmName.SHA1, RSASignaturePadding.Pkcs1);

        protected override PublicKey BuildPublicKey() => CreateForRSA(key, RSASignaturePadding.Pkcs1).PublicKey;
    }
}
