using System.Diagnostics;
using Tern.Cli;
using Tern.Hosting;

namespace Tern.Tests.Cli;

/// <summary>
/// <c>tern dane tlsa</c> in-process. Certificates are made with openssl, and the expected record data is
/// computed by openssl too (public key in DER, SHA-256), not by the code under test.
/// </summary>
public sealed class DaneCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tern-dane-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public async Task Tlsa_prints_the_3_1_1_record_of_the_configured_certificate_for_the_hostname()
    {
        var (cert, key) = await OpensslCertificateAsync("mx");

        // A chain file: the leaf first, then an issuer; the record is of the leaf's key.
        var (issuer, _) = await OpensslCertificateAsync("issuer");
        var chain = Path.Combine(_dir, "chain.pem");
        await File.WriteAllTextAsync(chain, await File.ReadAllTextAsync(cert) + await File.ReadAllTextAsync(issuer));
        var config = Config($"""
            hostname = "mx.example.test"
            data_dir = "data"
            [listeners.mx]
            kind = "relay"
            address = "127.0.0.1:2525"
            tls_cert = "{chain}"
            tls_key = "{key}"
            """);

        var (code, output, err) = await InProcessTern.RunAsync("dane", "tlsa", "-c", config);

        Assert.Equal(ExitCodes.Ok, code);
        Assert.Equal(string.Empty, err);
        var expected = await OpensslSpkiSha256Async(cert);
        Assert.Equal([$"_25._tcp.mx.example.test. IN TLSA 3 1 1 {expected}"], Records(output));
        Assert.Contains("pins the public key", output, StringComparison.Ordinal);
        Assert.Contains("same key keeps it valid", output, StringComparison.Ordinal);
        Assert.Contains($"; {chain}: CN=mx.example.test", output, StringComparison.Ordinal);
        Assert.DoesNotContain(await OpensslSpkiSha256Async(issuer), output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("mail.example.org", "mail.example.org")]
    [InlineData("MAIL.Example.ORG.", "mail.example.org")]
    public async Task Tlsa_takes_the_host_from_the_argument(string argument, string owner)
    {
        var (cert, key) = await OpensslCertificateAsync("mx");
        var config = Config(Listener("mx", "relay", 2525, cert, key));

        var (code, output, _) = await InProcessTern.RunAsync("dane", "tlsa", argument, "--config", config);

        Assert.Equal(ExitCodes.Ok, code);
        Assert.Equal([$"_25._tcp.{owner}. IN TLSA 3 1 1 {await OpensslSpkiSha256Async(cert)}"], Records(output));
    }

    [Fact]
    public async Task Tlsa_refuses_a_host_that_is_not_a_host_name()
    {
        var (cert, key) = await OpensslCertificateAsync("mx");
        var config = Config(Listener("mx", "relay", 2525, cert, key));

        var (code, output, err) = await InProcessTern.RunAsync("dane", "tlsa", "mx_1.example.org", "-c", config);

        Assert.Equal(ExitCodes.Usage, code);
        Assert.Equal(string.Empty, output);
        Assert.Contains("\"mx_1.example.org\" is not a host name", err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tlsa_prints_one_record_per_certificate_and_comments_out_those_no_relay_listener_presents()
    {
        var (a, aKey) = await OpensslCertificateAsync("a");
        var (b, bKey) = await OpensslCertificateAsync("b");
        var (c, cKey) = await OpensslCertificateAsync("c");
        var config = Config(
            Listener("mx1", "relay", 2525, a, aKey)
            + Listener("mx2", "relay", 2526, b, bKey)
            + Listener("again", "relay", 2527, a, aKey)
            + Listener("submission", "submission", 5587, c, cKey));

        var (code, output, _) = await InProcessTern.RunAsync("dane", "tlsa", "-c", config);

        Assert.Equal(ExitCodes.Ok, code);
        Assert.Equal(
            [
                $"_25._tcp.mx.example.test. IN TLSA 3 1 1 {await OpensslSpkiSha256Async(a)}",
                $"_25._tcp.mx.example.test. IN TLSA 3 1 1 {await OpensslSpkiSha256Async(b)}",
            ],
            Records(output));
        Assert.Contains($"; _25._tcp.mx.example.test. IN TLSA 3 1 1 {await OpensslSpkiSha256Async(c)}", output, StringComparison.Ordinal);
        Assert.Contains("listeners mx1 (relay 127.0.0.1:2525), again (relay 127.0.0.1:2527)", output, StringComparison.Ordinal);
        Assert.Contains("not presented by a relay listener", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tlsa_notes_an_unreadable_certificate_of_a_submission_listener_and_prints_the_relay_record()
    {
        // The submission listener falls back on the self-signed certificate, not made yet.
        var (cert, key) = await OpensslCertificateAsync("mx");
        var config = Config(Listener("mx", "relay", 2525, cert, key) + """

            [listeners.submission]
            kind = "submission"
            address = "127.0.0.1:5587"
            """);

        var (code, output, err) = await InProcessTern.RunAsync("dane", "tlsa", "-c", config);

        Assert.Equal(ExitCodes.Ok, code);
        Assert.Equal(string.Empty, err);
        Assert.Equal([$"_25._tcp.mx.example.test. IN TLSA 3 1 1 {await OpensslSpkiSha256Async(cert)}"], Records(output));
        Assert.Contains("; cannot read the certificate of listener submission (submission 127.0.0.1:5587)", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tlsa_of_the_self_signed_certificate_stays_the_same_when_it_is_renewed()
    {
        var config = Config("""
            hostname = "mx.example.test"
            data_dir = "data"
            """);

        // Before the first start there is no certificate yet: say so, and how it comes.
        var before = await InProcessTern.RunAsync("dane", "tlsa", "-c", config);
        Assert.Equal(ExitCodes.Failure, before.Code);
        Assert.Contains("selfsigned.crt", before.Err, StringComparison.Ordinal);
        Assert.Contains("generates this self-signed certificate on its first start", before.Err, StringComparison.Ordinal);

        var tls = Path.Combine(_dir, "data", "tls");
        var (cert, _, created) = SelfSignedCertificate.Ensure(tls, "mx.example.test");
        Assert.True(created);
        var first = await InProcessTern.RunAsync("dane", "tlsa", "-c", config);
        Assert.Equal(ExitCodes.Ok, first.Code);
        var record = $"_25._tcp.mx.example.test. IN TLSA 3 1 1 {await OpensslSpkiSha256Async(cert)}";
        Assert.Equal([record], Records(first.Out));

        // Due for renewal (a clock near the end of its 10 years): a new certificate for the same key.
        var pem = await File.ReadAllTextAsync(cert);
        var renewed = SelfSignedCertificate.Ensure(tls, "mx.example.test", new FixedClock(DateTimeOffset.UtcNow.AddYears(10).AddDays(-10)));
        Assert.True(renewed.Created);
        Assert.NotEqual(pem, await File.ReadAllTextAsync(cert));
        var second = await InProcessTern.RunAsync("dane", "tlsa", "-c", config);
        Assert.Equal([record], Records(second.Out));
        Assert.Equal(record, $"_25._tcp.mx.example.test. IN TLSA 3 1 1 {await OpensslSpkiSha256Async(cert)}");
    }

    [Fact]
    public async Task Tlsa_reports_a_certificate_file_that_holds_no_certificate()
    {
        var (_, key) = await OpensslCertificateAsync("mx");
        var garbage = Path.Combine(_dir, "garbage.pem");
        await File.WriteAllTextAsync(garbage, "not a certificate\n");
        var config = Config(Listener("mx", "relay", 2525, garbage, key));

        var (code, output, err) = await InProcessTern.RunAsync("dane", "tlsa", "-c", config);

        Assert.Equal(ExitCodes.Failure, code);
        Assert.Equal(string.Empty, output);
        Assert.Contains("cannot read the certificate of listener mx", err, StringComparison.Ordinal);
        Assert.Contains("garbage.pem holds no PEM certificate", err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tlsa_with_a_bad_configuration_exits_with_the_config_code()
    {
        var config = Config("hostname = 7\n");

        var (code, _, err) = await InProcessTern.RunAsync("dane", "tlsa", "-c", config);

        Assert.Equal(ExitCodes.Config, code);
        Assert.Contains("hostname", err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dane_tlsa_has_help()
    {
        var (code, output, _) = await InProcessTern.RunAsync("dane", "tlsa", "--help");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("Usage:", output, StringComparison.Ordinal);
        Assert.Contains("--config", output, StringComparison.Ordinal);
    }

    private static string[] Records(string output) =>
        [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith(';'))];

    private static string Listener(string name, string kind, int port, string cert, string key) => $"""

        [listeners.{name}]
        kind = "{kind}"
        address = "127.0.0.1:{port}"
        tls_cert = "{cert}"
        tls_key = "{key}"

        """;

    private string Config(string body)
    {
        var path = Path.Combine(_dir, $"tern-{Guid.NewGuid():N}.toml");
        var text = body.Contains("hostname", StringComparison.Ordinal) ? body : "hostname = \"mx.example.test\"\ndata_dir = \"data\"\n" + body;
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>A self-signed P-256 certificate and its key, made by openssl.</summary>
    private async Task<(string Cert, string Key)> OpensslCertificateAsync(string name)
    {
        var cert = Path.Combine(_dir, name + ".crt");
        var key = Path.Combine(_dir, name + ".key");
        await ShAsync($"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout '{key}' -out '{cert}' -subj '/CN={name}.example.test' -days 30 2>/dev/null");
        return (cert, key);
    }

    /// <summary>SHA-256 of the certificate's SubjectPublicKeyInfo (DER), as RFC 6698 "1 1" selects and matches it.</summary>
    private static async Task<string> OpensslSpkiSha256Async(string cert) =>
        (await ShAsync($"openssl x509 -in '{cert}' -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum")).Split(' ')[0];

    private static async Task<string> ShAsync(string command)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-o");
        psi.ArgumentList.Add("pipefail");
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(command);
        using var process = Process.Start(psi)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(timeout.Token);
        Assert.True(process.ExitCode == 0, $"{command}: exit {process.ExitCode}: {await error}");
        return (await output).Trim();
    }

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
