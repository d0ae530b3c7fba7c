using System.Security.Authentication;
using System.Text;
using Tern.Sasl;
using Tern.Sasl.ChannelBindings;

namespace Tern.Smtp.Tests;

/// <summary>
/// Tern.Sasl's client side against Tern's SMTP server over real TLS 1.2 and 1.3 (the client half of
/// the interop matrix), plus external SASL clients: Cyrus smtptest and Python smtplib.
/// </summary>
public sealed class SaslInteropTests
{
    public static TheoryData<string, SslProtocols> Matrix()
    {
        var data = new TheoryData<string, SslProtocols>();
        foreach (var protocol in new[] { SslProtocols.Tls12, SslProtocols.Tls13 })
        {
            foreach (var mechanism in new[] { "SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN" })
            {
                data.Add(mechanism, protocol);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Matrix))]
    public async Task Tern_client_authenticates_against_tern_server(string mechanism, SslProtocols protocol)
    {
        await using var t = TestServer.Start();
        await using var c = await RawClient.ConnectAsync(t.Submission);
        await c.ReadReplyAsync();
        await c.CommandAsync("EHLO client.example");
        await c.CommandAsync("STARTTLS");
        await c.TlsAsync(protocol);
        Assert.Equal(protocol, c.Ssl!.SslProtocol);
        var offered = AuthLine(await c.CommandAsync("EHLO client.example"));

        var channel = SaslChannel.Tls(ChannelBinding.FromSslStream(c.Ssl));
        Assert.Equal(protocol == SslProtocols.Tls12 ? "tls-unique" : "tls-server-end-point", channel.Binding!.Type);
        var client = SaslClientFactory.Create(mechanism, TestServer.User, TestServer.Password, channel, offered);
        var reply = await SaslExchange.RunAsync(client, c.CommandAsync);
        Assert.Equal("235 2.7.0 Authentication successful", reply);

        // SCRAM: the server must have proven it knows the password too.
        Assert.Equal(SaslStatus.Success, client.Complete().Status);
        Assert.Equal("250 2.1.0 Sender OK", await c.CommandAsync($"MAIL FROM:<{TestServer.User}>"));
    }

    [Fact]
    public async Task Wrong_password_fails_and_tampered_binding_is_refused()
    {
        await using var t = TestServer.Start();
        await using var c = await RawClient.ConnectAsync(t.Submission);
        await c.ReadReplyAsync();
        await c.CommandAsync("EHLO client.example");
        await c.CommandAsync("STARTTLS");
        await c.TlsAsync(SslProtocols.Tls12);
        var offered = AuthLine(await c.CommandAsync("EHLO client.example"));
        var wrong = SaslClientFactory.Create("SCRAM-SHA-256", TestServer.User, "wrong password", SaslChannel.Tls(ChannelBinding.FromSslStream(c.Ssl!)), offered);
        Assert.Equal("535 5.7.8 Authentication credentials invalid", await SaslExchange.RunAsync(wrong, c.CommandAsync));

        // A binding from another TLS session (as a man in the middle would have) does not verify.
        var foreign = ChannelBinding.TlsUnique(new byte[12], SslProtocols.Tls12);
        var tampered = SaslClientFactory.Create("SCRAM-SHA-256-PLUS", TestServer.User, TestServer.Password, SaslChannel.Tls(foreign), offered);
        Assert.Equal("535 5.7.8 Authentication credentials invalid", await SaslExchange.RunAsync(tampered, c.CommandAsync));
    }

    [Fact]
    public async Task Plus_can_be_limited_to_tls12()
    {
        await using var t = TestServer.Start(auth: a => a with { PlusOnTls13 = false });
        foreach (var (protocol, plus) in new[] { (SslProtocols.Tls13, false), (SslProtocols.Tls12, true) })
        {
            await using var c = await RawClient.ConnectAsync(t.Submission);
            await c.ReadReplyAsync();
            await c.CommandAsync("EHLO client.example");
            await c.CommandAsync("STARTTLS");
            await c.TlsAsync(protocol);
            var offered = AuthLine(await c.CommandAsync("EHLO client.example"));
            Assert.Equal(plus, offered.Contains("SCRAM-SHA-256-PLUS"));

            // A client that could bind but sees no -PLUS says "y": that is no downgrade here.
            var client = SaslClientFactory.Create("SCRAM-SHA-256", TestServer.User, TestServer.Password, SaslChannel.Tls(ChannelBinding.FromSslStream(c.Ssl!)), offered);
            Assert.Equal("235 2.7.0 Authentication successful", await SaslExchange.RunAsync(client, c.CommandAsync));
        }
    }

    [Theory]
    [InlineData("SCRAM-SHA-256")]
    [InlineData("SCRAM-SHA-1")]
    [InlineData("PLAIN")]
    [InlineData("LOGIN")]
    public async Task Cyrus_smtptest_authenticates(string mechanism)
    {
        await using var t = TestServer.Start();
        var (code, output) = await ExternalClientTests.Run(
            "sh", "-c",
            $"printf 'QUIT\\r\\n' | /usr/lib/cyrus/bin/smtptest -p {t.Submission.Port} -t '' -m {mechanism} -a {TestServer.User} -u {TestServer.User} -w '{TestServer.Password}' 127.0.0.1");
        Assert.True(code == 0, output);
        Assert.Contains("235 2.7.0 Authentication successful", output, StringComparison.Ordinal);
        Assert.Contains("Authenticated.", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Python_smtplib_logs_in()
    {
        await using var t = TestServer.Start();
        var script = $$"""
            import smtplib, ssl
            ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
            for mech in ["PLAIN", "LOGIN", "CRAM-MD5"]:
                with smtplib.SMTP("127.0.0.1", {{t.Submission.Port}}, timeout=20) as s:
                    s.starttls(context=ctx)
                    s.ehlo()
                    s.user, s.password = "{{TestServer.User}}", "{{TestServer.Password}}"
                    code, resp = s.auth(mech, getattr(s, "auth_" + mech.lower().replace("-", "_")))
                    assert code == 235, (mech, code, resp)
                    s.sendmail("{{TestServer.User}}", ["bob@example.net"], "Subject: smtplib\r\n\r\nhi\r\n")
                    print(mech, code)
            """;
        var path = Path.Combine(Path.GetTempPath(), $"tern-auth-{Guid.NewGuid():N}.py");
        await File.WriteAllTextAsync(path, script);
        try
        {
            var (code, output) = await ExternalClientTests.Run("python3", path);
            Assert.True(code == 0, output);
            Assert.Contains("CRAM-MD5 235", output, StringComparison.Ordinal);
            Assert.Equal(3, t.Store.Messages.Count);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static List<string> AuthLine(string ehlo)
    {
        var line = ehlo.Split('\n').Single(l => l.StartsWith("250-AUTH ", StringComparison.Ordinal) || l.StartsWith("250 AUTH ", StringComparison.Ordinal));
        return [.. line[9..].Split(' ')];
    }
}
