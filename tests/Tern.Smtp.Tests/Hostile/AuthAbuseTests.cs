using System.Diagnostics;
using System.Security.Authentication;
using System.Text;
using Tern.Sasl;
using Tern.Sasl.ChannelBindings;

namespace Tern.Smtp.Tests.Hostile;

/// <summary>
/// Password guessing spread over connections is throttled per address, and a blocked address cannot
/// log in even with the right password, by any mechanism; SCRAM -PLUS with a channel binding that does
/// not match this TLS connection (RFC 5802 6, RFC 5929, RFC 9266) is refused over real TLS 1.2 and 1.3.
/// </summary>
public sealed class AuthAbuseTests
{
    private const string Blocked = "421 4.7.0 mx.tern.test Too many authentication failures, try again later";

    private static string B64(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s));

    [Fact]
    public async Task Failures_spread_over_connections_add_up_and_block_every_mechanism()
    {
        await using var t = TestServer.Start(auth: a => a with { MaxFailuresPerIp = 4, FailureDelay = TimeSpan.FromMilliseconds(100) });
        var delays = new List<TimeSpan>();

        // One wrong guess per connection, as a careful attacker would: the count is per address.
        for (var i = 0; i < 3; i++)
        {
            await using var c = await LineClient.ConnectAsync(t.Submission, 30);
            await c.StartTlsAsync();
            var sw = Stopwatch.StartNew();
            Assert.Equal("535 5.7.8 Authentication credentials invalid", await c.CommandAsync("AUTH PLAIN " + B64($"\0{TestServer.User}\0guess{i}")));
            delays.Add(sw.Elapsed);
        }

        // The reply to each failure waits at least failure_delay times the address's failures so far
        // (100, 200, 300 ms), though each came on a new connection.
        for (var i = 0; i < delays.Count; i++)
        {
            Assert.True(delays[i] >= TimeSpan.FromMilliseconds((100 * (i + 1)) - 5), string.Join(", ", delays));
        }

        await using (var c = await LineClient.ConnectAsync(t.Submission, 30))
        {
            await c.StartTlsAsync();
            Assert.Equal("334 ", (await c.CommandAsync("AUTH LOGIN"))[..4]);
            await c.CommandAsync(B64(TestServer.User));
            Assert.Equal("535 5.7.8 Authentication credentials invalid", await c.CommandAsync(B64("guess3")));
            Assert.Equal(Blocked, await c.ReadReplyAsync());
        }

        // Blocked: the right password fails too, with PLAIN, LOGIN and SCRAM, on every listener.
        foreach (var mechanism in new[] { "PLAIN", "LOGIN", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS" })
        {
            await using var c = await LineClient.ConnectAsync(t.Submission, 30);
            var ehlo = await c.StartTlsAsync();
            Assert.Equal(Blocked, await c.CommandAsync(mechanism == "PLAIN" ? "AUTH PLAIN " + B64($"\0{TestServer.User}\0{TestServer.Password}") : "AUTH " + mechanism));
            Assert.Contains(mechanism.Split('-')[0], ehlo, StringComparison.Ordinal);
            Assert.Equal("<closed>", await c.ReadReplyAsync());
        }

        await using (var c = await LineClient.ConnectAsync(t.Relay, 30))
        {
            await c.StartTlsAsync();
            Assert.Equal(Blocked, await c.CommandAsync("AUTH PLAIN " + B64($"\0{TestServer.User}\0{TestServer.Password}")));
        }

        // Another address is not affected.
        await using (var other = await LineClient.ConnectAsync(t.Submission, 31))
        {
            await other.StartTlsAsync();
            Assert.Equal("235 2.7.0 Authentication successful", await other.CommandAsync("AUTH PLAIN " + B64($"\0{TestServer.User}\0{TestServer.Password}")));
        }
    }

    [Fact]
    public async Task Parallel_guessing_from_one_address_is_capped()
    {
        await using var t = TestServer.Start(auth: a => a with { MaxFailuresPerIp = 5, FailureDelay = TimeSpan.Zero });
        var tasks = Enumerable.Range(0, 12).Select(async i =>
        {
            await using var c = await LineClient.ConnectAsync(t.Submission, 32);
            await c.StartTlsAsync();
            return await c.CommandAsync("AUTH PLAIN " + B64($"\0{TestServer.User}\0parallel{i}"));
        });
        var replies = await Task.WhenAll(tasks);

        // Each connection got one answer: a failure or, once the count was reached, the block.
        Assert.All(replies, r => Assert.True(r.StartsWith("535 ", StringComparison.Ordinal) || r.StartsWith("421 ", StringComparison.Ordinal), r));
        await using var late = await LineClient.ConnectAsync(t.Submission, 32);
        await late.StartTlsAsync();
        Assert.Equal(Blocked, await late.CommandAsync("AUTH PLAIN " + B64($"\0{TestServer.User}\0{TestServer.Password}")));
    }

    public static TheoryData<string, SslProtocols> PlusMechanisms() => new()
    {
        { "SCRAM-SHA-256-PLUS", SslProtocols.Tls12 },
        { "SCRAM-SHA-256-PLUS", SslProtocols.Tls13 },
        { "SCRAM-SHA-1-PLUS", SslProtocols.Tls12 },
        { "SCRAM-SHA-1-PLUS", SslProtocols.Tls13 },
    };

    [Theory]
    [MemberData(nameof(PlusMechanisms))]
    public async Task Plus_with_a_binding_of_another_connection_or_type_is_refused(string mechanism, SslProtocols protocol)
    {
        await using var t = TestServer.Start();
        await using var c = await LineClient.ConnectAsync(t.Submission, 40);
        var offered = AuthMechanisms(await c.StartTlsAsync(protocol));
        Assert.Contains(mechanism, offered);
        var real = ChannelBinding.FromSslStream(c.Ssl!)!;

        // Same type, data of another connection (a man in the middle terminating TLS sees a different one).
        var dir = Directory.CreateTempSubdirectory("tern-cb-").FullName;
        try
        {
            var (otherCert, _) = TestServer.CreateCertificate(dir, "mitm.example");
            var der = Convert.FromBase64String(string.Concat(File.ReadAllLines(otherCert).Where(l => !l.StartsWith("-----", StringComparison.Ordinal))));
            using var mitm = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(der);
            var foreign = protocol == SslProtocols.Tls12
                ? ChannelBinding.TlsUnique(RandomBytes(real.Data.Length), protocol)
                : ChannelBinding.TryTlsServerEndPoint(mitm, out var ep) ? ep : throw new InvalidOperationException("no binding");
            Assert.Equal(real.Type, foreign.Type);
            Assert.NotEqual(real.Data.ToArray(), foreign.Data.ToArray());
            await ExpectRefused(c, mechanism, foreign, offered);

            // Another type: tls-exporter (RFC 9266), which this server does not use.
            var exporter = ChannelBinding.TlsExporter(RandomBytes(ChannelBinding.TlsExporterLength), SslProtocols.Tls13);
            await ExpectRefused(c, mechanism, exporter, offered);
        }
        finally
        {
            Directory.Delete(dir, true);
        }

        // The genuine binding works on the same connection.
        var good = SaslClientFactory.Create(mechanism, TestServer.User, TestServer.Password, SaslChannel.Tls(real), offered);
        Assert.Equal("235 2.7.0 Authentication successful", await SaslExchange.RunAsync(good, c.CommandAsync));
    }

    private static async Task ExpectRefused(LineClient c, string mechanism, ChannelBinding binding, string[] offered)
    {
        var client = SaslClientFactory.Create(mechanism, TestServer.User, TestServer.Password, SaslChannel.Tls(binding), offered);
        var reply = await SaslExchange.RunAsync(client, c.CommandAsync);
        Assert.True(reply.StartsWith("535 ", StringComparison.Ordinal) || reply.StartsWith("504 ", StringComparison.Ordinal) || reply.StartsWith("501 ", StringComparison.Ordinal), reply);
        Assert.Equal("530 5.7.0 Authentication required", await c.CommandAsync($"MAIL FROM:<{TestServer.User}>"));
    }

    private static byte[] RandomBytes(int n) => System.Security.Cryptography.RandomNumberGenerator.GetBytes(n);

    private static string[] AuthMechanisms(string ehlo) =>
        ehlo.Split('\n').First(l => l.StartsWith("250-AUTH ", StringComparison.Ordinal) || l.StartsWith("250 AUTH ", StringComparison.Ordinal))[9..].Split(' ');
}
