using System.Diagnostics;

namespace Tern.Smtp.Tests;

/// <summary>Real third-party clients against the server: swaks, Python's smtplib, Postfix's smtp-source.</summary>
public sealed class ExternalClientTests : IAsyncLifetime
{
    private TestServer _t = null!;

    public Task InitializeAsync()
    {
        _t = TestServer.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _t.DisposeAsync();

    internal static async Task<(int Code, string Output)> Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + file);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await p.WaitForExitAsync(cts.Token);
        return (p.ExitCode, await stdout + await stderr);
    }

    [Fact]
    public async Task Swaks_with_starttls_and_pipelining()
    {
        var (code, output) = await Run(
            "swaks", "--server", _t.Relay.Address.ToString(), "--port", _t.Relay.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--from", "alice@example.org", "--to", "bob@example.net,carol@example.net", "--tls", "--pipeline",
            "--header", "Subject: swaks test", "--body", "sent by swaks", "--timeout", "20");
        Assert.True(code == 0, output);
        Assert.Contains("250 2.0.0 OK id=", output, StringComparison.Ordinal);
        var m = Assert.Single(_t.Store.Messages);
        Assert.Equal(["bob@example.net", "carol@example.net"], m.Recipients);
        Assert.True(m.Tls);
        Assert.Contains("sent by swaks", m.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Swaks_bdat()
    {
        var (code, output) = await Run(
            "swaks", "--server", _t.Relay.Address.ToString(), "--port", _t.Relay.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--from", "alice@example.org", "--to", "bob@example.net", "--header", "Subject: chunked", "--body", "chunked body", "--timeout", "20");
        Assert.True(code == 0, output);
        Assert.Contains("chunked body", Assert.Single(_t.Store.Messages).Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Python_smtplib_with_starttls_and_smtputf8()
    {
        var script = """
            import smtplib, ssl, sys
            from email.message import EmailMessage
            ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
            with smtplib.SMTP(sys.argv[1], int(sys.argv[2]), timeout=20) as s:
                s.ehlo("python.example")
                s.starttls(context=ctx)
                s.ehlo("python.example")
                assert s.has_extn("smtputf8") and s.has_extn("requiretls")
                m = EmailMessage()
                m["From"] = "j\u00f6rg@b\u00fccher.example"; m["To"] = "bob@example.net"; m["Subject"] = "gr\u00fc\u00dfe"
                m.set_content("hallo welt")
                refused = s.send_message(m)  # adds SMTPUTF8 and BODY=8BITMIME itself
                assert not refused, refused
                try:
                    s.sendmail("a@example.org", ["bad address"], "Subject: x\r\n\r\nx\r\n")
                    raise SystemExit("bad recipient accepted")
                except smtplib.SMTPRecipientsRefused as e:
                    print("refused", e.recipients["bad address"][0])
            print("ok")
            """;
        var path = Path.Combine(Path.GetTempPath(), $"tern-smtplib-{Guid.NewGuid():N}.py");
        await File.WriteAllTextAsync(path, script);
        try
        {
            var (code, output) = await Run("python3", path, _t.Relay.Address.ToString(), _t.Relay.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.True(code == 0, output);
            Assert.Contains("refused 501", output, StringComparison.Ordinal);
            var m = Assert.Single(_t.Store.Messages);
            Assert.True(m.SmtpUtf8);
            Assert.Equal("j\u00f6rg@b\u00fccher.example", m.Sender);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Postfix_smtp_source_pushes_10000_messages_without_error()
    {
        var (code, output) = await Run(
            "/usr/sbin/smtp-source", "-d", "-s", "20", "-m", "10000", "-l", "1024",
            "-f", "a@example.test", "-t", "b@example.org", $"{_t.Relay.Address}:{_t.Relay.Port}");
        Assert.True(code == 0, output);
        Assert.Equal(10000, _t.Store.Messages.Count);
        Assert.All(_t.Store.Messages.Take(10), m => Assert.True(m.Body.Length > 1024));
    }
}
