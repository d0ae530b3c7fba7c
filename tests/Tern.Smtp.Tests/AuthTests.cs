using System.Text;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Tern.Smtp.Tests;

/// <summary>SMTP AUTH over real TLS: MailKit, raw exchanges, failures, throttling, sender rules.</summary>
public sealed class AuthTests
{
    private static string B64(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s));

    private static async Task<RawClient> TlsSession(TestServer t)
    {
        var c = await RawClient.ConnectAsync(t.Submission);
        await c.ReadReplyAsync();
        await c.CommandAsync("EHLO client.example");
        Assert.Equal("220 2.0.0 Ready to start TLS", await c.CommandAsync("STARTTLS"));
        await c.TlsAsync();
        return c;
    }

    private static MimeMessage Message(string from)
    {
        var m = new MimeMessage();
        m.From.Add(MailboxAddress.Parse(from));
        m.To.Add(MailboxAddress.Parse("bob@example.net"));
        m.Subject = "submitted";
        m.Body = new TextPart("plain") { Text = "authenticated submission" };
        return m;
    }

    [Fact]
    public async Task Auth_is_offered_only_after_tls()
    {
        await using var t = TestServer.Start();
        await using var c = await RawClient.ConnectAsync(t.Submission);
        await c.ReadReplyAsync();
        Assert.DoesNotContain("AUTH", await c.CommandAsync("EHLO client.example"), StringComparison.Ordinal);
        Assert.Equal("538 5.7.11 Encryption required for requested authentication mechanism", await c.CommandAsync("AUTH PLAIN " + B64($"\0{TestServer.User}\0{TestServer.Password}")));
        await c.CommandAsync("STARTTLS");
        await c.TlsAsync();
        var ehlo = await c.CommandAsync("EHLO client.example");
        Assert.Contains("250-AUTH SCRAM-SHA-256-PLUS SCRAM-SHA-256 SCRAM-SHA-1-PLUS SCRAM-SHA-1 PLAIN LOGIN CRAM-MD5", ehlo, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("SCRAM-SHA-256-PLUS")]
    [InlineData("SCRAM-SHA-256")]
    [InlineData("SCRAM-SHA-1")]
    [InlineData("PLAIN")]
    [InlineData("LOGIN")]
    [InlineData("CRAM-MD5")]
    public async Task Mailkit_authenticates_with_each_mechanism_and_submits(string mechanism)
    {
        await using var t = TestServer.Start();
        using var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true, Timeout = 10000 };
        await client.ConnectAsync(t.Submission.Address.ToString(), t.Submission.Port, SecureSocketOptions.StartTls);
        Assert.Contains(mechanism, client.AuthenticationMechanisms);
        foreach (var other in client.AuthenticationMechanisms.ToList())
        {
            if (other != mechanism)
            {
                client.AuthenticationMechanisms.Remove(other);
            }
        }

        await client.AuthenticateAsync(TestServer.User, TestServer.Password);
        await client.SendAsync(Message(TestServer.User));
        await client.DisconnectAsync(true);

        var m = Assert.Single(t.Store.Messages);
        Assert.Equal(TestServer.User, m.User);
        Assert.Contains("with ESMTPSA id", m.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Mail_before_auth_on_submission_is_refused()
    {
        await using var t = TestServer.Start();
        await using var c = await TlsSession(t);
        await c.CommandAsync("EHLO client.example");
        Assert.Equal("530 5.7.0 Authentication required", await c.CommandAsync("MAIL FROM:<alice@example.org>"));
    }

    [Fact]
    public async Task Plain_with_initial_response_then_sender_rules()
    {
        await using var t = TestServer.Start();
        await using var c = await TlsSession(t);
        await c.CommandAsync("EHLO client.example");
        Assert.Equal("235 2.7.0 Authentication successful", await c.CommandAsync("AUTH PLAIN " + B64($"\0{TestServer.User}\0{TestServer.Password}")));
        Assert.Equal("503 5.5.1 Already authenticated", await c.CommandAsync("AUTH PLAIN " + B64($"\0{TestServer.User}\0{TestServer.Password}")));
        Assert.Equal("553 5.7.1 Sender address not allowed for this account", await c.CommandAsync("MAIL FROM:<mallory@example.org>"));
        Assert.Equal("553 5.7.1 Sender address not allowed for this account", await c.CommandAsync("MAIL FROM:<>"));
        Assert.Equal("250 2.1.0 Sender OK", await c.CommandAsync("MAIL FROM:<ALICE@example.org>"));

        // An authenticated client may relay anywhere.
        Assert.Equal("250 2.1.5 Recipient OK", await c.CommandAsync("RCPT TO:<anyone@anywhere.example>"));
    }

    [Fact]
    public async Task Plain_with_empty_initial_response_and_a_challenge()
    {
        await using var t = TestServer.Start();
        await using var c = await TlsSession(t);
        await c.CommandAsync("EHLO client.example");
        Assert.Equal("334 ", await c.CommandAsync("AUTH PLAIN"));
        Assert.Equal("235 2.7.0 Authentication successful", await c.CommandAsync(B64($"\0{TestServer.User}\0{TestServer.Password}")));
    }

    [Fact]
    public async Task Login_exchange_cancel_and_bad_base64()
    {
        await using var t = TestServer.Start();
        await using var c = await TlsSession(t);
        await c.CommandAsync("EHLO client.example");
        Assert.StartsWith("334 ", await c.CommandAsync("AUTH LOGIN"), StringComparison.Ordinal);
        Assert.Equal("501 5.7.0 Authentication cancelled", await c.CommandAsync("*"));
        Assert.StartsWith("334 ", await c.CommandAsync("AUTH LOGIN"), StringComparison.Ordinal);
        Assert.Equal("501 5.5.2 Cannot decode the response", await c.CommandAsync("not base64 !"));
        Assert.Equal("504 5.5.4 Unrecognized authentication type", await c.CommandAsync("AUTH XOAUTH9"));
        Assert.StartsWith("334 ", await c.CommandAsync("AUTH LOGIN"), StringComparison.Ordinal);
        Assert.StartsWith("334 ", await c.CommandAsync(B64(TestServer.User)), StringComparison.Ordinal);
        Assert.Equal("235 2.7.0 Authentication successful", await c.CommandAsync(B64(TestServer.Password)));
    }

    [Fact]
    public async Task Wrong_passwords_are_slowed_down_then_refused_per_address()
    {
        await using var t = TestServer.Start(auth: a => a with { MaxFailuresPerIp = 3 });
        await using (var c = await TlsSession(t))
        {
            await c.CommandAsync("EHLO client.example");
            Assert.Equal("535 5.7.8 Authentication credentials invalid", await c.CommandAsync("AUTH PLAIN " + B64($"\0{TestServer.User}\0wrong")));
            Assert.Equal("535 5.7.8 Authentication credentials invalid", await c.CommandAsync("AUTH PLAIN " + B64("\0nobody@example.org\0wrong")));
            Assert.Equal("535 5.7.8 Authentication credentials invalid", await c.CommandAsync("AUTH PLAIN " + B64($"\0{TestServer.User}\0wrong")));
            Assert.Equal("421 4.7.0 mx.tern.test Too many authentication failures, try again later", await c.ReadReplyAsync());
            Assert.True(await c.IsClosedAsync());
        }

        // A new connection from the same address is refused at AUTH, even with the right password.
        await using var again = await TlsSession(t);
        await again.CommandAsync("EHLO client.example");
        Assert.Equal("421 4.7.0 mx.tern.test Too many authentication failures, try again later", await again.CommandAsync("AUTH PLAIN " + B64($"\0{TestServer.User}\0{TestServer.Password}")));
    }

    [Fact]
    public async Task Starttls_forgets_an_authentication_made_before_it()
    {
        await using var t = TestServer.StartWith(allowAuthWithoutTls: true);
        await using var c = await RawClient.ConnectAsync(t.Submission);
        await c.ReadReplyAsync();
        var ehlo = await c.CommandAsync("EHLO client.example");
        Assert.Contains("250-AUTH SCRAM-SHA-256 SCRAM-SHA-1", ehlo, StringComparison.Ordinal);
        Assert.DoesNotContain("PLAIN", ehlo, StringComparison.Ordinal);
        var client = Tern.Sasl.SaslClientFactory.Create("SCRAM-SHA-256", TestServer.User, TestServer.Password, Tern.Sasl.SaslChannel.Plaintext, ["SCRAM-SHA-256"]);
        Assert.Equal("235 2.7.0 Authentication successful", await SaslExchange.RunAsync(client, c.CommandAsync));
        await c.CommandAsync("STARTTLS");
        await c.TlsAsync();
        await c.CommandAsync("EHLO client.example");

        // RFC 3207 4.2: what was learned before TLS, the authentication included, is discarded.
        Assert.Equal("530 5.7.0 Authentication required", await c.CommandAsync($"MAIL FROM:<{TestServer.User}>"));
    }

    [Fact]
    public async Task Account_changes_are_picked_up_without_restart()
    {
        await using var t = TestServer.Start();

        // Another process (tern account add) writes the same file.
        var other = Tern.Sasl.Credentials.AccountStore.Open(t.Accounts!.FilePath);
        other.Add("carol@example.org", "new password here");
        await using var c = await TlsSession(t);
        await c.CommandAsync("EHLO client.example");
        Assert.Equal("235 2.7.0 Authentication successful", await c.CommandAsync("AUTH PLAIN " + B64("\0carol@example.org\0new password here")));
    }

    [Fact]
    public async Task Swaks_authenticates_with_plain_and_login()
    {
        await using var t = TestServer.Start();
        foreach (var mech in new[] { "PLAIN", "LOGIN", "CRAM-MD5" })
        {
            var (code, output) = await ExternalClientTests.Run(
                "swaks", "--server", t.Submission.Address.ToString(), "--port", t.Submission.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--from", TestServer.User, "--to", "bob@example.net", "--tls", "--auth", mech,
                "--auth-user", TestServer.User, "--auth-password", TestServer.Password, "--timeout", "20");
            Assert.True(code == 0, output);
            Assert.Contains("235 2.7.0 Authentication successful", output, StringComparison.Ordinal);
        }

        Assert.Equal(3, t.Store.Messages.Count);
    }
}
