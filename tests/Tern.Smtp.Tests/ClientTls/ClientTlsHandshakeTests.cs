using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Tern.Smtp.Client;
using Tern.Smtp.Client.Tls;

namespace Tern.Smtp.Tests.ClientTls;

/// <summary>Real TLS on 127.0.0.1: SslStream server sending leaf + intermediate, SslStream client calling <see cref="TlsVerifier"/>.</summary>
public sealed class ClientTlsHandshakeTests(TestPki pki) : IClassFixture<TestPki>
{
    private sealed class Seen
    {
        public TlsVerification? Result;
        public List<string> ExtraStore = [];
        public List<string> Elements = [];
    }

    private async Task<Seen> HandshakeAsync(string leaf, ClientTlsOptions options, TrustStore store)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var context = SslStreamCertificateContext.Create(pki[leaf], pki.Collection("intermediate"), offline: true);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));

        var server = Task.Run(async () =>
        {
            using var socket = await listener.AcceptTcpClientAsync(cts.Token);
            await using var ssl = new SslStream(socket.GetStream());
            try
            {
                await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificateContext = context }, cts.Token);
                await ssl.WriteAsync("220 ok\r\n"u8.ToArray(), cts.Token);
                await ssl.FlushAsync(cts.Token);
            }
            catch (Exception e) when (e is AuthenticationException or IOException)
            {
                // the client refused the certificate
            }
        });

        var seen = new Seen();
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port, cts.Token);
        await using (var ssl = new SslStream(client.GetStream()))
        {
            try
            {
                await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                {
                    TargetHost = options.ServerName,
                    RemoteCertificateValidationCallback = (_, cert, chain, _) =>
                    {
                        if (chain is not null)
                        {
                            foreach (var c in chain.ChainPolicy.ExtraStore)
                                seen.ExtraStore.Add(c.Subject);
                            foreach (var e in chain.ChainElements)
                                seen.Elements.Add(e.Certificate.Subject);
                        }
                        seen.Result = TlsVerifier.Verify((X509Certificate2)cert!, chain, options, store);
                        return seen.Result.Accepted;
                    },
                }, cts.Token);
                var buf = new byte[8];
                int n = await ssl.ReadAsync(buf, cts.Token);
                Assert.Equal("220 ok\r\n", System.Text.Encoding.ASCII.GetString(buf, 0, n));
            }
            catch (AuthenticationException) when (seen.Result is { Accepted: false })
            {
                // refused by our callback, as the test expects to check
            }
        }
        await server;
        return seen;
    }

    [Fact]
    public async Task Handshake_presents_intermediate_and_both_verifications_pass()
    {
        using var store = new TrustStore();
        var options = new ClientTlsOptions
        {
            ServerName = TestPki.Host,
            VerifyPkix = true,
            VerifyDane = true,
            CaBundlePath = pki.BundlePath,
            Tlsa = pki.Tlsa("2 1 1 intermediate"),
        };
        var seen = await HandshakeAsync("leaf", options, store);
        Assert.Contains(pki["intermediate"].Subject, seen.ExtraStore); // what the server sent reaches the callback
        Assert.NotNull(seen.Result);
        Assert.True(seen.Result.PkixValid, seen.Result.PkixError);
        Assert.True(seen.Result.DaneValid, seen.Result.DaneError);
        Assert.True(seen.Result.Accepted);
    }

    [Fact]
    public async Task Handshake_is_refused_on_dane_mismatch_but_pkix_outcome_still_reported()
    {
        using var store = new TrustStore();
        var options = new ClientTlsOptions
        {
            ServerName = TestPki.Host,
            VerifyDane = true,
            CaBundlePath = pki.BundlePath,
            Tlsa = pki.Tlsa("3 1 1 wrongname"),
        };
        var seen = await HandshakeAsync("leaf", options, store);
        Assert.NotNull(seen.Result);
        Assert.False(seen.Result.Accepted);
        Assert.False(seen.Result.DaneValid);
        Assert.True(seen.Result.PkixValid, seen.Result.PkixError);
    }
}
