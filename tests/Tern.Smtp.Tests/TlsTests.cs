using System.Security.Authentication;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Tern.Smtp.Tests;

/// <summary>STARTTLS and implicit TLS with real TLS and MailKit as the client.</summary>
public sealed class TlsTests : IAsyncLifetime
{
    private TestServer _t = null!;

    public Task InitializeAsync()
    {
        _t = TestServer.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _t.DisposeAsync();

    private static MimeMessage Message(string subject = "tls test", string body = "Hello over TLS.")
    {
        var m = new MimeMessage();
        m.From.Add(MailboxAddress.Parse("alice@example.org"));
        m.To.Add(MailboxAddress.Parse("bob@example.net"));
        m.Subject = subject;
        m.Body = new TextPart("plain") { Text = body };
        return m;
    }

    private static SmtpClient Client()
    {
        var c = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true, Timeout = 10000 };
        return c;
    }

    [Fact]
    public async Task Mailkit_sends_over_starttls()
    {
        using var client = Client();
        await client.ConnectAsync(_t.Relay.Address.ToString(), _t.Relay.Port, SecureSocketOptions.StartTls);
        Assert.True(client.IsSecure);
        Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.Pipelining));
        Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.Chunking));
        Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.RequireTLS));
        await client.SendAsync(Message());
        await client.DisconnectAsync(true);

        var m = Assert.Single(_t.Store.Messages);
        Assert.True(m.Tls);
        Assert.Contains("with ESMTPS id", m.Text, StringComparison.Ordinal);
        Assert.Matches(@"\(using TLSv1\.[23] with cipher TLS_\w+\)", m.Text);
        Assert.Contains("Hello over TLS.", m.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Mailkit_sends_large_and_8bit_messages()
    {
        using var client = Client();
        await client.ConnectAsync(_t.Relay.Address.ToString(), _t.Relay.Port, SecureSocketOptions.StartTls);
        var body = string.Join("\r\n", Enumerable.Range(0, 20000).Select(i => $"Line {i} gr\u00fc\u00dfe .{i}"));
        var msg = Message("big", body);
        msg.Body = new TextPart("plain") { Text = body, ContentTransferEncoding = ContentEncoding.EightBit };
        await client.SendAsync(msg);
        await client.DisconnectAsync(true);
        var m = Assert.Single(_t.Store.Messages);
        Assert.True(m.EightBit);
        Assert.Contains("Line 19999 gr\u00fc\u00dfe .19999", m.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Requiretls_is_accepted_over_tls_and_marked()
    {
        await using var c = await RawClient.ConnectAsync(_t.Relay);
        await c.ReadReplyAsync();
        await c.CommandAsync("EHLO c.example");
        Assert.Equal("220 2.0.0 Ready to start TLS", await c.CommandAsync("STARTTLS"));
        await c.TlsAsync();
        var ehlo = await c.CommandAsync("EHLO c.example");
        Assert.Contains("250-REQUIRETLS", ehlo, StringComparison.Ordinal);
        Assert.DoesNotContain("STARTTLS", ehlo, StringComparison.Ordinal);
        Assert.Equal("503 5.5.1 TLS already active", await c.CommandAsync("STARTTLS"));
        Assert.Equal("250 2.1.0 Sender OK", await c.CommandAsync("MAIL FROM:<a@b.example> REQUIRETLS"));
        await c.CommandAsync("RCPT TO:<c@d.example>");
        await c.CommandAsync("DATA");
        Assert.StartsWith("250 2.0.0 OK", await c.CommandAsync("x\r\n."), StringComparison.Ordinal);
        var m = Assert.Single(_t.Store.Messages);
        Assert.True(m.RequireTls);
        Assert.Contains("with ESMTPS (requiretls) id", m.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Session_state_is_reset_by_starttls()
    {
        await using var c = await RawClient.ConnectAsync(_t.Relay);
        await c.ReadReplyAsync();
        await c.CommandAsync("EHLO c.example");
        await c.CommandAsync("STARTTLS");
        await c.TlsAsync();

        // RFC 3207 4.2: the client must EHLO again.
        Assert.Equal("503 5.5.1 Send EHLO or HELO first", await c.CommandAsync("MAIL FROM:<a@b.example>"));
    }

    [Fact]
    public async Task Commands_pipelined_after_starttls_are_discarded()
    {
        await using var c = await RawClient.ConnectAsync(_t.Relay);
        await c.ReadReplyAsync();
        await c.CommandAsync("EHLO c.example");

        // CVE-2011-0411: "MAIL FROM" injected in the plaintext after STARTTLS must not run inside TLS.
        await c.SendAsync("STARTTLS\r\nMAIL FROM:<injected@evil.example>\r\n");
        Assert.Equal("220 2.0.0 Ready to start TLS", await c.ReadReplyAsync());
        await c.TlsAsync();
        Assert.StartsWith("250-", await c.CommandAsync("EHLO c.example"), StringComparison.Ordinal);
        Assert.Equal("250 2.1.0 Sender OK", await c.CommandAsync("MAIL FROM:<a@b.example>"));
    }

    [Fact]
    public async Task Starttls_in_a_transaction_is_refused()
    {
        await using var c = await RawClient.ConnectAsync(_t.Relay);
        await c.ReadReplyAsync();
        await c.CommandAsync("EHLO c.example");
        await c.CommandAsync("MAIL FROM:<a@b.example>");
        Assert.Equal("503 5.5.1 Command not allowed during a mail transaction", await c.CommandAsync("STARTTLS"));
    }

    [Fact]
    public async Task Implicit_tls_greets_inside_tls_and_requires_auth()
    {
        await using var c = await RawClient.ConnectAsync(_t.Submissions, implicitTls: true);
        Assert.StartsWith("220 mx.tern.test", await c.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.True(c.Ssl!.SslProtocol is SslProtocols.Tls12 or SslProtocols.Tls13);
        var ehlo = await c.CommandAsync("EHLO c.example");
        Assert.DoesNotContain("STARTTLS", ehlo, StringComparison.Ordinal);
        Assert.Equal("530 5.7.0 Authentication required", await c.CommandAsync("MAIL FROM:<a@b.example>"));
    }

    [Fact]
    public async Task Submission_without_tls_asks_for_starttls_first()
    {
        await using var c = await RawClient.ConnectAsync(_t.Submission);
        await c.ReadReplyAsync();
        await c.CommandAsync("EHLO c.example");
        Assert.Equal("530 5.7.0 Must issue a STARTTLS command first", await c.CommandAsync("MAIL FROM:<a@b.example>"));
    }

    [Fact]
    public async Task Certificate_is_reloaded_when_its_files_change()
    {
        var before = _t.Certificate.Leaf.Thumbprint;
        var dir = Path.GetDirectoryName(_t.Certificate.CertificatePath)!;
        var (cert, key) = TestServer.CreateCertificate(dir, "renewed.tern.test");
        File.Copy(cert, _t.Certificate.CertificatePath, overwrite: true);
        File.Copy(key, _t.Certificate.KeyPath, overwrite: true);
        Assert.True(_t.Certificate.Reload(out var error), error);
        Assert.NotEqual(before, _t.Certificate.Leaf.Thumbprint);

        await using var c = await RawClient.ConnectAsync(_t.Relay);
        await c.ReadReplyAsync();
        await c.CommandAsync("EHLO c.example");
        await c.CommandAsync("STARTTLS");
        await c.TlsAsync();
        Assert.Equal("CN=renewed.tern.test", c.Ssl!.RemoteCertificate!.Subject);

        // A broken file keeps the old certificate in service.
        await File.WriteAllTextAsync(_t.Certificate.KeyPath, "garbage");
        Assert.False(_t.Certificate.Reload(out error));
        Assert.NotNull(error);
        Assert.Equal("CN=renewed.tern.test", _t.Certificate.Leaf.Subject);
    }
}
