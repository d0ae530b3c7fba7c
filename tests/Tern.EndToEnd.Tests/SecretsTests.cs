using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Tern.EndToEnd.Tests;

/// <summary>
/// No secret reaches the log at trace (the most verbose level below traceauth) or /metrics: the
/// account password (plain and in every base64 alignment, as AUTH PLAIN and LOGIN carry it), the
/// injection API token, the admin token, the TLS private key, and the SCRAM salted password and keys
/// (RFC 5802 3) derived from the password. Real clients: swaks (PLAIN, LOGIN), Cyrus smtptest (SCRAM), HTTP.
/// </summary>
public sealed class SecretsTests
{
    private const string User = "alice@example.org";

    [Fact]
    public async Task No_secret_in_trace_logs_or_metrics()
    {
        using var dir = new TempDir();
        var password = "Pw-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(12));
        var adminToken = "adm-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        var (certPath, keyPath, keyPem) = SelfSignedCertificate.Write(dir.Path);
        var http = TestPorts.Free();
        var config = dir.File("tern.toml", $"""
            hostname = "mx.tern.test"
            data_dir = "data"
            [log]
            level = "trace"
            [http]
            listen = "127.0.0.1:{http}"
            admin_token = "{adminToken}"
            [delivery]
            enabled = false
            [relay]
            networks = []
            domains = ["ours.example"]
            [auth]
            mechanisms = ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "LOGIN"]
            failure_delay = "0s"
            [listeners.submission]
            kind = "submission"
            address = "127.0.0.1:0"
            tls_cert = "{certPath}"
            tls_key = "{keyPath}"
            """);

        var added = await TernProcess.RunProgramAsync("sh", dir.Path, TimeSpan.FromSeconds(30), "-c", $"printf '%s\\n' '{password}' | '{TernProcess.Binary}' account add {User} --password-stdin -c tern.toml");
        Assert.True(added.Code == 0, added.Stderr);
        var issued = await TernProcess.RunAsync(dir.Path, "account", "token", User, "-c", config);
        Assert.True(issued.Code == 0, issued.Stderr);
        var token = Regex.Match(issued.Stdout, $"^token for {Regex.Escape(User)}: (\\S+)$", RegexOptions.Multiline).Groups[1].Value;
        Assert.NotEmpty(token);

        string metrics;
        string log;
        await using (var tern = TernProcess.Start(dir.Path, "serve", "-c", config))
        {
            var submission = await tern.ListenerAsync("submission");
            await tern.WaitForLogAsync(new Regex($"m=listening c=http address=127.0.0.1:{http}"));

            // AUTH PLAIN and LOGIN over STARTTLS (swaks), right and wrong password, then a message.
            foreach (var (mech, pass) in new[] { ("PLAIN", password), ("LOGIN", password), ("PLAIN", password + "x"), ("LOGIN", password + "y") })
            {
                var (code, stdout, stderr) = await TernProcess.RunProgramAsync("swaks", dir.Path, TimeSpan.FromSeconds(30), "--server", "127.0.0.1", "--port", submission.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--tls", "--auth", mech, "--auth-user", User, "--auth-password", pass, "--from", User, "--to", "bob@ours.example", "--ehlo", "client.example", "--body", "secret test");
                Assert.True((code == 0) == (pass == password), stdout + stderr);
            }

            // SCRAM with Cyrus smtptest (STARTTLS first: -t '').
            foreach (var mech in new[] { "SCRAM-SHA-256", "SCRAM-SHA-1" })
            {
                var (code, output, _) = await TernProcess.RunProgramAsync("sh", dir.Path, TimeSpan.FromSeconds(30), "-c", $"printf 'QUIT\\r\\n' | /usr/lib/cyrus/bin/smtptest -p {submission.Port} -t '' -m {mech} -a {User} -u {User} -w '{password}' 127.0.0.1 2>&1");
                Assert.True(code == 0 && output.Contains("235 ", StringComparison.Ordinal), output);
            }

            // The injection API with the account token, and the admin API with its token; wrong ones too.
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{http}") };
            using (var post = new HttpRequestMessage(HttpMethod.Post, "/api/v1/messages"))
            {
                post.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                post.Content = new StringContent("""{"message": {"from": "alice@example.org", "to": ["bob@ours.example"], "subject": "s", "text": "t"}}""", Encoding.UTF8, "application/json");
                var r = await client.SendAsync(post);
                Assert.True(r.StatusCode == HttpStatusCode.Accepted, await r.Content.ReadAsStringAsync());
            }

            foreach (var (path, bearer, expected) in new[] { ("/api/v1/queue", adminToken, HttpStatusCode.OK), ("/api/v1/queue", adminToken + "z", HttpStatusCode.Unauthorized), ("/api/v1/messages", token + "z", HttpStatusCode.Unauthorized) })
            {
                using var req = new HttpRequestMessage(path.EndsWith("messages", StringComparison.Ordinal) ? HttpMethod.Post : HttpMethod.Get, path);
                req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
                if (req.Method == HttpMethod.Post)
                {
                    req.Content = new StringContent("{}", Encoding.UTF8, "application/json");
                }

                Assert.Equal(expected, (await client.SendAsync(req)).StatusCode);
            }

            metrics = await client.GetStringAsync("/metrics");
            tern.Signal(TernProcess.SIGTERM);
            Assert.Equal(0, await tern.WaitForExitAsync(TimeSpan.FromSeconds(15)));
            log = tern.Stderr + tern.StdoutText;
        }

        // The log really is at trace, with the AUTH exchanges in it (masked).
        Assert.Contains("l=trace", log, StringComparison.Ordinal);
        Assert.Contains("***", log, StringComparison.Ordinal);
        Assert.Contains("message accepted", log, StringComparison.Ordinal);

        var secrets = new List<(string Name, string Value)>
        {
            ("password", password),
            ("api token", token),
            ("admin token", adminToken),
        };
        foreach (var (name, value) in secrets.ToList())
        {
            foreach (var b in Base64Forms(Encoding.UTF8.GetBytes(value)))
            {
                secrets.Add((name + " (base64)", b));
            }
        }

        secrets.Add(("AUTH PLAIN response", Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{User}\0{password}"))));
        secrets.Add(("AUTH PLAIN response with authzid", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{User}\0{User}\0{password}"))));

        // TLS key: any 32-character run of the PEM body.
        var keyBody = string.Concat(keyPem.Split('\n').Where(l => !l.StartsWith("-----", StringComparison.Ordinal)).Select(l => l.Trim()));
        for (var i = 0; i + 32 <= keyBody.Length; i += 16)
        {
            secrets.Add(("TLS key", keyBody.Substring(i, 32)));
        }

        // SCRAM: what the account file keeps (stored key, server key, server secret) and what the
        // password derives to (salted password, client key), base64 and hex.
        var accounts = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(dir.Path, "data", "accounts.json"))).RootElement;
        secrets.Add(("account file secret", accounts.GetProperty("secret").GetString()!));
        var account = accounts.GetProperty("accounts")[0];
        foreach (var (prop, hash) in new[] { ("scram_sha256", HashAlgorithmName.SHA256), ("scram_sha1", HashAlgorithmName.SHA1) })
        {
            var scram = account.GetProperty(prop);
            var salt = Convert.FromBase64String(scram.GetProperty("salt").GetString()!);
            var salted = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, scram.GetProperty("iterations").GetInt32(), hash, hash == HashAlgorithmName.SHA256 ? 32 : 20);
#pragma warning disable CA5350 // SCRAM-SHA-1 is defined with HMAC-SHA-1 (RFC 5802): computed to look for it, not to protect anything.
            var clientKey = hash == HashAlgorithmName.SHA256 ? HMACSHA256.HashData(salted, "Client Key"u8) : HMACSHA1.HashData(salted, "Client Key"u8);
#pragma warning restore CA5350
            foreach (var (name, bytes) in new[]
            {
                ("salted password", salted),
                ("client key", clientKey),
                ("stored key", Convert.FromBase64String(scram.GetProperty("stored_key").GetString()!)),
                ("server key", Convert.FromBase64String(scram.GetProperty("server_key").GetString()!)),
            })
            {
                secrets.Add(($"{prop} {name} (base64)", Convert.ToBase64String(bytes)));
                secrets.Add(($"{prop} {name} (hex)", Convert.ToHexString(bytes)));
            }
        }

        foreach (var (name, value) in secrets)
        {
            Assert.False(log.Contains(value, StringComparison.OrdinalIgnoreCase), $"{name} found in the log");
            Assert.False(metrics.Contains(value, StringComparison.OrdinalIgnoreCase), $"{name} found in /metrics");
        }
    }

    /// <summary>The secret's bytes as they appear inside any base64 text, whatever their offset in it (three alignments).</summary>
    private static IEnumerable<string> Base64Forms(byte[] secret)
    {
        for (var offset = 0; offset < 3; offset++)
        {
            var padded = new byte[offset + secret.Length];
            secret.CopyTo(padded, offset);
            var text = Convert.ToBase64String(padded).TrimEnd('=');

            // Drop the characters that depend on the unknown neighbouring bytes.
            var start = (offset * 4 + 2) / 3;
            var end = text.Length - 2;
            if (end - start >= 8)
            {
                yield return text[start..end];
            }
        }
    }
}
